package codectest

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/weftkit/weft/codec"
)

// Fuzz runs a fuzz target over newCodec's decoder. For every input it checks
// that decoding never panics, that the result does not depend on how the
// input is split into reads (whole, one byte at a time, random splits from
// seed), and that every decoded frame is accepted by the encoder and decodes
// back to itself: one frame (all of it, for a stream codec), nothing left
// over. stream is Samples.Stream: true for a codec without frame
// boundaries, whose frames are compared as one byte stream.
// Seed the corpus with f.Add(wire []byte, seed uint64) before calling Fuzz,
// or commit files under testdata/fuzz/<FuzzName>/.
func Fuzz(f *testing.F, newCodec func() codec.Codec, stream bool) {
	f.Fuzz(func(t *testing.T, wire []byte, seed uint64) {
		c := newCodec()
		whole := Decode(c, [][]byte{wire})
		for _, chunks := range [][][]byte{
			Chunks(wire, 1, nil),
			Chunks(wire, 0, rand.New(rand.NewPCG(seed, seed>>32))),
		} {
			if err := sameResult(whole, Decode(c, chunks), stream); err != nil {
				t.Fatalf("chunking changed the result: %v", err)
			}
		}
		for i, fr := range whole.Frames {
			out, err := c.AppendFrame(nil, fr)
			if err != nil {
				t.Fatalf("frame %d (%q) was decoded but the encoder refuses it: %v", i, trunc(fr), err)
			}
			r := Decode(c, [][]byte{out})
			if r.Err != nil || r.Rest != 0 || (!stream && len(r.Frames) != 1) || !bytes.Equal(bytes.Join(r.Frames, nil), fr) {
				t.Fatalf("frame %d (%q): re-encoded %q decodes to %q, %v, %d bytes left; want exactly the frame",
					i, trunc(fr), trunc(out), r.Frames, r.Err, r.Rest)
			}
		}
	})
}
