package gen

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestFramerRoundTripAndEveryByteChecked(t *testing.T) {
	for _, tc := range []struct {
		codec Codec
		size  int
		wire  int
	}{
		{Line, 16, 18},
		{Line, 64, 66},
		{Netstring, 64, 68},
		{Netstring, 4096, 4102},
		{Int32, 64, 68},
		{Int32, 1000, 1004},
	} {
		f, err := NewFramer(tc.codec, tc.size)
		if err != nil {
			t.Fatalf("%s/%d: %v", tc.codec, tc.size, err)
		}
		if f.WireSize() != tc.wire {
			t.Errorf("%s/%d: WireSize %d, want %d", tc.codec, tc.size, f.WireSize(), tc.wire)
		}
		for _, seq := range []uint64{0, 1, 25, 26, 1<<40 + 7} {
			w := f.Append(nil, 3, seq)
			if len(w) != tc.wire || !f.Verify(w, 3, seq) {
				t.Fatalf("%s/%d seq %d: frame %q does not verify", tc.codec, tc.size, seq, w)
			}
			if f.Verify(w, 3, seq+1) || f.Verify(w, 4, seq) && tc.size > MinPayload {
				t.Errorf("%s/%d seq %d: verifies as another frame", tc.codec, tc.size, seq)
			}
			for i := range w { // any altered byte is caught
				bad := slices.Clone(w)
				bad[i] ^= 0x20
				if f.Verify(bad, 3, seq) {
					t.Fatalf("%s/%d seq %d: byte %d altered, still verifies", tc.codec, tc.size, seq, i)
				}
			}
			if tc.codec == Line {
				if i := slices.Index(w[:len(w)-2], '\n'); i >= 0 {
					t.Fatalf("line payload holds a newline at %d", i)
				}
			}
		}
	}
}

func TestFramerRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		codec Codec
		size  int
	}{{Line, 15}, {Line, 0}, {"json", 64}, {Int32, 32 << 20}} {
		if _, err := NewFramer(tc.codec, tc.size); !errors.Is(err, ErrBadConfig) {
			t.Errorf("NewFramer(%q, %d) = %v, want ErrBadConfig", tc.codec, tc.size, err)
		}
	}
}

func TestParseHexInvertsAppendHex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		v := r.Uint64()
		got, ok := parseHex(appendHex(nil, v))
		if !ok || got != v {
			t.Fatalf("parseHex(appendHex(%d)) = %d, %v", v, got, ok)
		}
	}
	if _, ok := parseHex([]byte("000000000000000g")); ok {
		t.Error("parseHex accepted a non-hex digit")
	}
}

// Property: every quantile is within the histogram's resolution (1/32) of the
// exact order statistic.
func TestHistQuantilesWithinResolution(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 20 {
		var h Hist
		v := make([]int64, 1+r.IntN(5000))
		for i := range v {
			v[i] = int64(r.ExpFloat64() * float64(time.Millisecond) * float64(trial+1))
			h.Record(v[i])
		}
		slices.Sort(v)
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
			rank := max(int(math.Ceil(q*float64(len(v))-1e-9)), 1) // nearest rank
			exact := float64(v[rank-1])
			got := float64(h.Quantile(q))
			if exact >= 64 && (got < exact*(1-1.0/32) || got > exact*(1+1.0/32)) {
				t.Fatalf("trial %d q %.3f: %v, exact %v", trial, q, got, exact)
			}
		}
	}
	var empty Hist
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram quantile not 0")
	}
}

func TestHistRecordDoesNotAllocate(t *testing.T) {
	var h Hist
	if n := testing.AllocsPerRun(100, func() { h.Record(12345) }); n != 0 {
		t.Errorf("Record allocates %v times", n)
	}
	f, _ := NewFramer(Netstring, 256)
	buf := make([]byte, 0, f.WireSize())
	if n := testing.AllocsPerRun(100, func() { buf = f.Append(buf[:0], 1, 99); f.Verify(buf, 1, 99) }); n != 0 {
		t.Errorf("Append+Verify allocate %v times", n)
	}
}

// BenchmarkAppendVerify measures the generator's per-frame work: build the
// next frame and check an echoed one.
func BenchmarkAppendVerify(b *testing.B) {
	for _, tc := range []struct {
		codec Codec
		size  int
	}{{Line, 64}, {Netstring, 4096}, {Int32, 64}} {
		b.Run(string(tc.codec)+"/"+strconv.Itoa(tc.size), func(b *testing.B) {
			f, _ := NewFramer(tc.codec, tc.size)
			buf := make([]byte, 0, f.WireSize())
			b.SetBytes(int64(f.WireSize()))
			b.ReportAllocs()
			for i := range b.N {
				buf = f.Append(buf[:0], 1, uint64(i))
				if !f.Verify(buf, 1, uint64(i)) {
					b.Fatal("frame does not verify")
				}
			}
		})
	}
}
