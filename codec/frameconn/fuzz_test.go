package frameconn_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/codectest"
	"github.com/weftkit/weft/codec/frameconn"
)

// refLengthField is a reference decoder for FuzzLengthField's configuration,
// written from Netty's LengthFieldBasedFrameDecoder rules: 2 header bytes, a
// 2-byte big-endian length counting itself (adjustment -2), the first 4
// bytes stripped, whole frames of at most maxFrame bytes. It returns the
// frames, the bytes left undecoded and the error class (nil, ErrMalformed or
// ErrFrameTooLarge).
func refLengthField(wire []byte, maxFrame int) (frames [][]byte, rest int, class error) {
	for {
		if len(wire) < 4 {
			return frames, len(wire), nil
		}
		n := int(binary.BigEndian.Uint16(wire[2:4])) - 2
		switch {
		case n < 0:
			return frames, len(wire), codec.ErrMalformed
		case 4+n > maxFrame:
			return frames, len(wire), codec.ErrFrameTooLarge
		case len(wire) < 4+n:
			return frames, len(wire), nil
		}
		frames = append(frames, wire[4:4+n])
		wire = wire[4+n:]
	}
}

// FuzzLengthField fuzzes the Netty-style decoder with a header offset, a
// negative adjustment and bytes stripped. Its frames must agree with
// refLengthField, whatever the chunking of the input (one-byte reads and
// random splits from seed give the same frames and the same error), and a
// stream dripped one byte at a time never buffers more than MaxFrameLength.
// (This decoder's frames, header stripped, are not what its encoder takes,
// so codectest.Fuzz's re-encoding check does not apply.)
func FuzzLengthField(f *testing.F) {
	for i, w := range []string{"HH\x00\x05abc", "HH\x00\x02", "\x00\x00\xff\xff", "HH\x00\x03abcHH\x00\x02a"} {
		f.Add([]byte(w), uint64(i))
	}
	const maxFrame = 256
	c := frameconn.LengthField{
		Encoder: frameconn.EncoderConfig{ByteOrder: binary.BigEndian, LengthFieldLength: 2, LengthIncludesLengthFieldLength: true},
		Decoder: frameconn.DecoderConfig{ByteOrder: binary.BigEndian, LengthFieldOffset: 2, LengthFieldLength: 2,
			LengthAdjustment: -2, InitialBytesToStrip: 4, MaxFrameLength: maxFrame},
	}
	f.Fuzz(func(t *testing.T, wire []byte, seed uint64) {
		want, rest, class := refLengthField(wire, maxFrame)
		whole := codectest.Decode(c, [][]byte{wire})
		if !slices.EqualFunc(whole.Frames, want, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("frames %q, reference decoder %q", whole.Frames, want)
		}
		if class == nil && (whole.Err != nil || whole.Rest != rest) || class != nil && !errors.Is(whole.Err, class) {
			t.Fatalf("error %v with %d bytes left; reference decoder: %v with %d bytes left", whole.Err, whole.Rest, class, rest)
		}
		for _, chunks := range [][][]byte{
			codectest.Chunks(wire, 1, nil),
			codectest.Chunks(wire, 0, rand.New(rand.NewPCG(seed, seed>>32))),
		} {
			got := codectest.Decode(c, chunks)
			if !slices.EqualFunc(got.Frames, whole.Frames, func(a, b []byte) bool { return string(a) == string(b) }) ||
				(got.Err == nil) != (whole.Err == nil) || got.Err != nil && got.Err.Error() != whole.Err.Error() ||
				got.Err == nil && got.Rest != whole.Rest {
				t.Fatalf("chunks %q: %d frames, %v, %d bytes left; whole: %d frames, %v, %d bytes left",
					chunks, len(got.Frames), got.Err, got.Rest, len(whole.Frames), whole.Err, whole.Rest)
			}
			if len(chunks) == len(wire) && got.MaxBuffered > maxFrame {
				t.Fatalf("one-byte reads buffered %d bytes, MaxFrameLength is %d", got.MaxBuffered, maxFrame)
			}
		}
	})
}
