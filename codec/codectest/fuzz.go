package codectest

import (
	"bytes"
	"errors"
	"fmt"
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
	FuzzAgainst(f, newCodec, stream, nil)
}

// FuzzAgainst is Fuzz with a differential check as well: ref, an independent
// (simple, whole-input) decoder of the same format, must give the same frames
// and the same kind of error for every input: errors are compared by the
// sentinel they match (codec.ErrFrameTooLarge, codec.ErrMalformed, ...), and
// when there is no error, the bytes left over must agree too. A nil ref
// makes it Fuzz.
func FuzzAgainst(f *testing.F, newCodec func() codec.Codec, stream bool, ref func(wire []byte) Result) {
	if newCodec == nil {
		f.Fatal("codectest.FuzzAgainst: nil newCodec")
	}
	f.Fuzz(func(t *testing.T, wire []byte, seed uint64) {
		c := newCodec()
		whole := Decode(c, [][]byte{wire})
		if ref != nil {
			if err := sameAsReference(whole, ref(wire), stream); err != nil {
				t.Fatalf("the decoder disagrees with the reference decoder: %v", err)
			}
		}
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

// sentinels are the errors a decode error is classified by.
var sentinels = []error{codec.ErrFrameTooLarge, codec.ErrMalformed, codec.ErrTruncated, codec.ErrConfig, codec.ErrDelimiter}

func kind(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

// sameAsReference compares a decoding with the reference decoder's.
func sameAsReference(got, want Result, stream bool) error {
	if kind(got.Err) != kind(want.Err) {
		return fmt.Errorf("error %v, reference %v", got.Err, want.Err)
	}
	if stream {
		if !bytes.Equal(bytes.Join(got.Frames, nil), bytes.Join(want.Frames, nil)) {
			return errors.New("decoded bytes differ")
		}
	} else {
		if len(got.Frames) != len(want.Frames) {
			return fmt.Errorf("%d frames %q, reference %d frames %q", len(got.Frames), got.Frames, len(want.Frames), want.Frames)
		}
		for i := range got.Frames {
			if !bytes.Equal(got.Frames[i], want.Frames[i]) {
				return fmt.Errorf("frame %d is %q, reference %q", i, trunc(got.Frames[i]), trunc(want.Frames[i]))
			}
		}
	}
	if got.Err == nil && got.Rest != want.Rest {
		return fmt.Errorf("%d bytes left, reference %d", got.Rest, want.Rest)
	}
	return nil
}
