// Package codectest checks any codec.Codec against the rules weft's own
// codecs keep, so that a codec written for a new protocol is tested and
// fuzzed in a few lines:
//
//	func TestMyCodec(t *testing.T) {
//		codectest.Run(t, func() codec.Codec { return MyCodec{} }, codectest.Samples{...})
//	}
//	func FuzzMyCodec(f *testing.F) { codectest.Fuzz(f, func() codec.Codec { return MyCodec{} }, false) }
//
// The pieces:
//
//   - Run and Samples (with Refusal and Invalid): round trip, chunking
//     invariance (random splits and one-byte reads), encoder/decoder
//     agreement, invalid input refused with the expected error and without
//     allocating what it announces (AllocBudget), and linear cost (for
//     decoders that implement codec.ScanCounter; ErrNotCounted otherwise).
//   - CheckRoundTrip, CheckChunking, CheckRefused, CheckInvalid,
//     CheckLinearCost: the same checks one by one, returning an error.
//   - Fuzz: a fuzz target that checks chunking invariance, no panic, and that
//     every decoded frame re-encodes to bytes that decode to the same frame;
//     FuzzAgainst also compares every input's decoding with a reference
//     decoder's.
//   - Decode (giving a Result), Encode and Chunks: the harness, usable in a
//     user's own tests.
package codectest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"

	"github.com/weftkit/weft/codec"
)

// Result is what a decoder made of a stream.
type Result struct {
	// Frames are copies of the decoded frames, in order.
	Frames [][]byte
	// Err is the decode error, or nil if the stream ended at a frame boundary
	// or inside a frame (see Rest).
	Err error
	// Rest is the number of bytes buffered and not decoded at the end.
	Rest int
	// MaxBuffered is the most bytes the harness had to hold at once.
	MaxBuffered int
}

// Decode feeds chunks to a fresh decoder of c the way weft's adapter does
// (an owned buffer holding the undecoded bytes, new bytes appended) and
// collects the frames.
func Decode(c codec.Codec, chunks [][]byte) Result {
	if err := usable(c); err != nil {
		return Result{Err: err}
	}
	return decodeWith(c.NewDecoder(), chunks)
}

// usable returns an error matching codec.ErrConfig for a nil c or a nil
// pointer in c, whose methods would panic; an invalid configuration is left
// to the codec (its decoder and encoder report it).
func usable(c codec.Codec) error {
	if c == nil {
		return fmt.Errorf("codectest: %w: nil Codec", codec.ErrConfig)
	}
	if v := reflect.ValueOf(c); v.Kind() == reflect.Pointer && v.IsNil() {
		return fmt.Errorf("codectest: %w: nil %T", codec.ErrConfig, c)
	}
	return nil
}

func decodeWith(dec codec.Decoder, chunks [][]byte) Result {
	var r Result
	var store []byte // store[off:] holds the undecoded bytes
	off := 0
	for _, ch := range chunks {
		store = append(store, ch...)
		r.MaxBuffered = max(r.MaxBuffered, len(store)-off)
		for off < len(store) {
			buf := store[off:]
			adv, frame, err := dec.Decode(buf)
			if err != nil {
				r.Err = err
				r.Rest = len(buf)
				return r
			}
			if adv == 0 {
				break
			}
			if adv < 0 || adv > len(buf) {
				r.Err = fmt.Errorf("codectest: Decode returned advance %d for %d bytes", adv, len(buf))
				return r
			}
			r.Frames = append(r.Frames, bytes.Clone(nonNil(frame)))
			off += adv
		}
		if live := len(store) - off; off > live { // move the bytes down, as a real buffer does
			copy(store, store[off:])
			store, off = store[:live], 0
		}
	}
	r.Rest = len(store) - off
	return r
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Chunks splits stream into pieces: size 0 means random sizes from rng (1 to
// 64 bytes, and one piece in eight up to the rest of the stream; a nil rng
// means the math/rand/v2 top-level functions), size n > 0 means pieces of n
// bytes. It panics if size is negative.
func Chunks(stream []byte, size int, rng *rand.Rand) [][]byte {
	if size < 0 {
		panic(fmt.Sprintf("codectest: Chunks: negative size %d", size))
	}
	intN := rand.IntN
	if rng != nil {
		intN = rng.IntN
	}
	var out [][]byte
	for len(stream) > 0 {
		n := size
		if n == 0 {
			n = 1 + intN(min(len(stream), 64))
			if intN(8) == 0 {
				n = 1 + intN(len(stream))
			}
		}
		n = min(n, len(stream))
		out = append(out, stream[:n])
		stream = stream[n:]
	}
	return out
}

// Encode encodes payloads back to back.
func Encode(c codec.Codec, payloads [][]byte) ([]byte, error) {
	if err := usable(c); err != nil {
		return nil, err
	}
	var out []byte
	for i, p := range payloads {
		var err error
		if out, err = c.AppendFrame(out, p); err != nil {
			return nil, fmt.Errorf("payload %d (%d bytes): %w", i, len(p), err)
		}
	}
	return out, nil
}

// sameResult compares two decodings of one stream.
func sameResult(a, b Result, stream bool) error {
	if (a.Err == nil) != (b.Err == nil) || (a.Err != nil && a.Err.Error() != b.Err.Error()) {
		return fmt.Errorf("errors differ: %v vs %v", a.Err, b.Err)
	}
	if stream {
		if !bytes.Equal(bytes.Join(a.Frames, nil), bytes.Join(b.Frames, nil)) {
			return errors.New("decoded bytes differ")
		}
		return nil
	}
	if len(a.Frames) != len(b.Frames) {
		return fmt.Errorf("%d frames vs %d", len(a.Frames), len(b.Frames))
	}
	for i := range a.Frames {
		if !bytes.Equal(a.Frames[i], b.Frames[i]) {
			return fmt.Errorf("frame %d differs: %q vs %q", i, trunc(a.Frames[i]), trunc(b.Frames[i]))
		}
	}
	if a.Err == nil && a.Rest != b.Rest {
		return fmt.Errorf("%d bytes left vs %d", a.Rest, b.Rest)
	}
	return nil
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
