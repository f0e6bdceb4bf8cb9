package codec_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/weftkit/weft/codec"
)

// TestPropertyParkedDecoderSameResult: an adapter parks its decoder when a
// read leaves nothing pending and resumes another at the next read, at the
// same stream offset. Whatever the reads, it must deliver the frames a
// decoder given the whole stream at once finds, and end with the same
// error, whose stream offset counts from the connection's first byte. Each
// stream is valid frames then, sometimes, a bad one (too long, malformed);
// reads are cut at frame boundaries (where the decoder is parked) more
// often than elsewhere; in some runs the parked decoders are collected
// between reads.
func TestPropertyParkedDecoderSameResult(t *testing.T) {
	codecs := []codec.Codec{
		codec.Line{MaxLength: 8},
		codec.Line{Delimiter: []byte("\r\n"), MaxLength: 8},
		codec.LengthPrefix{Size: 2, MaxLength: 8},
		codec.LengthPrefix{Size: 4, LittleEndian: true, MaxLength: 8},
		codec.Netstring{MaxLength: 8},
		&codec.Netstring{MaxLength: 8},
		codec.Raw{},
	}
	bad := map[string][]string{ // bad endings by codec kind
		"line":      {"123456789012\n", "abcdefghijkl"},
		"length":    {"\xff\xff\xff\xff\xff\xff"},
		"netstring": {"9999:", "x:", "2:ab;", "01:a,"},
	}
	kind := func(c codec.Codec) string {
		switch c.(type) {
		case codec.Line:
			return "line"
		case codec.LengthPrefix:
			return "length"
		case codec.Netstring, *codec.Netstring:
			return "netstring"
		}
		return "raw"
	}
	rng := rand.New(rand.NewPCG(35, 8))
	for run := range 3000 {
		c := codecs[run%len(codecs)]
		var stream []byte
		var bounds []int
		for range rng.IntN(12) {
			payload := make([]byte, rng.IntN(9))
			for i := range payload {
				payload[i] = 'a' + byte(rng.IntN(26))
			}
			var err error
			if stream, err = c.AppendFrame(stream, payload); err != nil {
				t.Fatal(err)
			}
			bounds = append(bounds, len(stream))
		}
		if b := bad[kind(c)]; len(b) > 0 && rng.IntN(2) == 0 {
			stream = append(stream, b[rng.IntN(len(b))]...)
		}
		// The reference: one decoder, the whole stream.
		var want []string
		var wantErr error
		d := c.NewDecoder()
		for rest := stream; ; {
			adv, frame, err := d.Decode(rest)
			if err != nil {
				wantErr = err
				break
			}
			if adv == 0 {
				break
			}
			want = append(want, string(frame))
			rest = rest[adv:]
		}
		// The adapter, fed in reads.
		h := &recorder{}
		p := codec.NewProtocol(c, h)
		p.ConnectionMade(&fakeTransport{})
		var reads []string
		for start := 0; start < len(stream); {
			end := start + 1 + rng.IntN(len(stream)-start)
			if i := slices.IndexFunc(bounds, func(b int) bool { return b > start }); i >= 0 && rng.IntN(3) > 0 {
				end = bounds[i+rng.IntN(len(bounds)-i)]
			}
			reads = append(reads, fmt.Sprintf("%q", stream[start:end]))
			if run%100 == 0 {
				// Empty the pools (two collections: the victim cache), so
				// that the next read makes a new decoder at the offset.
				runtime.GC()
				runtime.GC()
			}
			p.DataReceived(stream[start:end])
			start = end
		}
		p.ConnectionLost(nil)
		got := h.frames
		if kind(c) == "raw" { // raw frames are the reads: compare the bytes
			got, want = []string{string(bytes.Join(bytesOf(h.frames), nil))}, []string{string(stream)}
		}
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("run %d, %T %+v, reads %v: frames %q, want %q", run, c, c, reads, got, want)
		}
		switch {
		case wantErr == nil && h.reason != nil && kind(c) != "raw":
			// A stream ending inside a frame ends with ErrTruncated;
			// the reference just waits for more.
			if len(stream) == 0 || slices.Contains(bounds, len(stream)) {
				t.Fatalf("run %d, %T %+v, reads %v: ended with %v, want a clean end", run, c, c, reads, h.reason)
			}
		case wantErr != nil && (h.reason == nil || h.reason.Error() != wantErr.Error()):
			t.Fatalf("run %d, %T %+v, reads %v: ended with %v, want %v", run, c, c, reads, h.reason, wantErr)
		}
	}
}

func bytesOf(s []string) [][]byte {
	b := make([][]byte, len(s))
	for i, x := range s {
		b[i] = []byte(x)
	}
	return b
}

// counter counts frames, allocating nothing.
type counter struct{ n int }

func (*counter) ConnectionMade(codec.FrameTransport) {}
func (c *counter) FrameReceived([]byte)              { c.n++ }
func (*counter) ConnectionLost(error)                {}

// TestParkedDecoderNoAlloc: a connection whose reads each end on a frame
// boundary parks its decoder and takes a parked one again at every read,
// without allocating.
func TestParkedDecoderNoAlloc(t *testing.T) {
	h := &counter{}
	p := codec.NewProtocol(codec.Int32(), h)
	p.ConnectionMade(&fakeTransport{})
	frame, _ := codec.Int32().AppendFrame(nil, []byte("ping"))
	p.DataReceived(frame)
	allocs := testing.AllocsPerRun(1000, func() { p.DataReceived(frame) })
	if allocs >= 0.01 {
		t.Errorf("%v allocations per read, want none", allocs)
	}
	if h.n != 1002 {
		t.Errorf("%d frames, want 1002", h.n)
	}
	if codec.HasDecoder(p) {
		t.Error("a decoder is held between reads")
	}
}
