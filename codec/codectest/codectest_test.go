package codectest_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/codectest"
)

// Broken codecs: each check must catch its defect.

// naiveLength trusts its 8-byte length: it allocates what is announced.
type naiveLength struct{}

func (naiveLength) NewDecoder() codec.Decoder { return &naiveDec{} }
func (naiveLength) AppendFrame(dst, p []byte) ([]byte, error) {
	return append(binary.BigEndian.AppendUint64(dst, uint64(len(p))), p...), nil
}

type naiveDec struct {
	frame []byte
}

func (d *naiveDec) Reset() {}
func (d *naiveDec) Decode(buf []byte) (int, []byte, error) {
	if len(buf) < 8 {
		return 0, nil, nil
	}
	n := binary.BigEndian.Uint64(buf)
	if d.frame == nil {
		d.frame = make([]byte, 0, n) // allocates what the peer announced
		if n > 1<<20 {               // and checks the limit too late
			d.frame = nil
			return 0, nil, codec.ErrFrameTooLarge
		}
	}
	if uint64(len(buf)-8) < n {
		return 0, nil, nil
	}
	d.frame = nil
	return 8 + int(n), buf[8 : 8+n], nil
}

// rescanLine searches the whole buffer on every call: quadratic.
type rescanLine struct{ codec.Line }

func (rescanLine) NewDecoder() codec.Decoder { return &rescanDec{} }

type rescanDec struct{ scanned int64 }

func (d *rescanDec) Reset()              {}
func (d *rescanDec) BytesScanned() int64 { return d.scanned }
func (d *rescanDec) Decode(buf []byte) (int, []byte, error) {
	d.scanned += int64(len(buf))
	i := bytes.Index(buf, []byte("\r\n"))
	if i < 0 {
		return 0, nil, nil
	}
	return i + 2, buf[:i], nil
}

// sloppyLine accepts newlines in its payloads and drops the last byte of a
// frame when it is read in pieces.
type sloppyLine struct{}

func (sloppyLine) NewDecoder() codec.Decoder { return &sloppyDec{} }
func (sloppyLine) AppendFrame(dst, p []byte) ([]byte, error) {
	return append(append(dst, p...), '\n'), nil
}

type sloppyDec struct{ calls int }

func (d *sloppyDec) Reset() {}
func (d *sloppyDec) Decode(buf []byte) (int, []byte, error) {
	d.calls++
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		return 0, nil, nil
	}
	if d.calls > 1 && i > 0 {
		d.calls = 0
		return i + 1, buf[:i-1], nil
	}
	d.calls = 0
	return i + 1, buf[:i], nil
}

func TestChecksCatchDefects(t *testing.T) {
	big := make([]byte, 1<<16)
	tests := []struct {
		name  string
		check func(codec.Codec, codectest.Samples) error
		c     codec.Codec
		s     codectest.Samples
		want  string
	}{
		{"allocating length", codectest.CheckInvalid, naiveLength{}, codectest.Samples{
			Invalid: []codectest.Invalid{{Name: "60 MB announced", Wire: binary.BigEndian.AppendUint64(nil, 60<<20), Err: codec.ErrFrameTooLarge}},
		}, "allocated"},
		{"quadratic scan", codectest.CheckLinearCost, rescanLine{}, codectest.Samples{
			Frames: [][]byte{[]byte(strings.Repeat("x", 4096))},
		}, "not linear"},
		{"chunking", codectest.CheckChunking, sloppyLine{}, codectest.Samples{
			Frames: [][]byte{[]byte("hello"), []byte("world")},
		}, "1-byte reads"},
		{"encoder accepts the delimiter", codectest.CheckRefused, sloppyLine{}, codectest.Samples{
			Refused: []codectest.Refusal{{Name: "newline", Payload: []byte("a\nb"), Err: codec.ErrDelimiter}},
		}, "AppendFrame error <nil>"},
		{"round trip", codectest.CheckRoundTrip, sloppyLine{}, codectest.Samples{
			Frames: [][]byte{[]byte("a\nb")},
		}, "round trip gave 2 frames"},
		{"wrong error", codectest.CheckInvalid, codec.Netstring{}, codectest.Samples{
			Invalid: []codectest.Invalid{{Name: "leading zero", Wire: []byte("01:a,"), Err: codec.ErrFrameTooLarge}},
		}, "want codec: frame too large"},
		{"no counter", codectest.CheckLinearCost, sloppyLine{}, codectest.Samples{Frames: [][]byte{big[:10]}}, "ScanCounter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.c, tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check returned %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := codectest.CheckLinearCost(sloppyLine{}, codectest.Samples{Frames: [][]byte{big[:10]}}); !errors.Is(err, codectest.ErrNotCounted) {
		t.Fatalf("CheckLinearCost on an uncounted decoder: %v", err)
	}
}

func TestChunks(t *testing.T) {
	stream := []byte("0123456789")
	if got := codectest.Chunks(stream, 3, nil); !slices.EqualFunc(got, [][]byte{[]byte("012"), []byte("345"), []byte("678"), []byte("9")}, bytes.Equal) {
		t.Fatalf("Chunks(3) = %q", got)
	}
	// Random sizes: non-empty pieces that put the stream back together,
	// and more than one piece (else no split is ever tested).
	long := bytes.Repeat(stream, 50)
	for seed := range uint64(20) {
		got := codectest.Chunks(long, 0, rand.New(rand.NewPCG(seed, 1)))
		if len(got) < 2 || !bytes.Equal(bytes.Join(got, nil), long) || slices.ContainsFunc(got, func(c []byte) bool { return len(c) == 0 }) {
			t.Fatalf("seed %d: Chunks(0) gave %d pieces %q", seed, len(got), got)
		}
	}
	if got := codectest.Chunks(nil, 0, nil); len(got) != 0 {
		t.Fatalf("Chunks of an empty stream = %q", got)
	}
}
