package codec_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/weftkit/weft/codec"
)

// TestPropertyParkedDecoderSameResult: the adapter's decoder of a built-in
// codec lives in the span of the read, and when a read leaves nothing
// pending it goes back to the pool with the span; the next read configures
// another at the stream offset the last one reached. Whatever the reads,
// the adapter must deliver the frames a decoder given the whole stream at
// once finds, and end with the same error, whose stream offset counts from
// the connection's first byte. Each stream is valid frames then, sometimes,
// a bad one (too long, malformed); reads are cut at frame boundaries (where
// nothing is pending) more often than elsewhere; in some runs the span pool
// is emptied between two reads.
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
			if run%300 == 0 && len(reads) == 2 {
				// Empty the span pool (two collections: the victim
				// cache), so that the second read takes a new span.
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
// boundary gives its decoder back with the read's span and configures one
// in the next read's, without allocating.
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

// shortLines embeds Line but makes decoders of another limit: a codec of
// the user's own, whose decoder the adapter makes and keeps (a decoder
// configured in the span as a Line's would have the Line's limit).
type shortLines struct{ codec.Line }

func (shortLines) NewDecoder() codec.Decoder { return codec.Line{MaxLength: 4}.NewDecoder() }

// TestOwnCodecKeepsDecoder: an adapter over a codec of the user's own keeps
// its decoder between reads, so the decoder's own configuration holds.
func TestOwnCodecKeepsDecoder(t *testing.T) {
	h := &recorder{}
	p := codec.NewProtocol(shortLines{}, h)
	p.ConnectionMade(&fakeTransport{})
	p.DataReceived([]byte("ab\n"))
	if !codec.HasDecoder(p) {
		t.Fatal("the decoder of a codec of the user's own was parked")
	}
	p.DataReceived([]byte("abcdef\n"))
	p.ConnectionLost(nil)
	if !slices.Equal(h.frames, []string{"ab"}) || h.reason == nil || !strings.Contains(h.reason.Error(), "MaxLength 4") {
		t.Fatalf("frames %q, end %v; want [ab] and the limit of 4", h.frames, h.reason)
	}
}

// TestSetCodecDecoderFromZero: SetCodec gives the adapter a new decoder,
// whose stream offsets count from the switch, whether bytes are pending
// (the decoder is made at once) or not (the next read makes it).
func TestSetCodecDecoderFromZero(t *testing.T) {
	for _, pending := range []bool{false, true} {
		h := &recorder{}
		p := codec.NewProtocol(codec.Line{}, h)
		p.ConnectionMade(&fakeTransport{})
		h.hook = func(r *recorder, frame []byte) {
			if string(frame) == "switch" {
				r.tr.SetCodec(codec.Netstring{MaxLength: 4})
			}
		}
		p.DataReceived([]byte("x\n")) // a first read: the offset moves on
		in := "a\nswitch\n1:b,"
		if pending {
			p.DataReceived([]byte(in + "01:c,"))
		} else {
			p.DataReceived([]byte(in))
			p.DataReceived([]byte("01:c,"))
		}
		p.ConnectionLost(nil)
		want := "netstring byte at stream offset 5 (byte 1 of the frame): leading zero"
		if !slices.Equal(h.frames, []string{"x", "a", "switch", "b"}) || h.reason == nil || !strings.Contains(h.reason.Error(), want) {
			t.Errorf("pending %v: frames %q, end %v; want [x a switch b] and %q", pending, h.frames, h.reason, want)
		}
	}
}
