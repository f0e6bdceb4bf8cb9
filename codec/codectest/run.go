package codectest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/weftkit/weft/codec"
)

// Samples tells Run what to check.
type Samples struct {
	// Frames are payloads the encoder must accept and the decoder must give
	// back unchanged. Include empty, one-byte and at-the-limit payloads; the
	// largest one is also dripped one byte per read to check linear cost.
	Frames [][]byte
	// Refused are payloads the encoder must refuse (over the limit,
	// containing the delimiter). Each must fail with the matching error.
	Refused []Refusal
	// Invalid are wire inputs the decoder must refuse, whole and one byte at
	// a time, without allocating more than a small bound (a 10 GB announced
	// length must cost nothing).
	Invalid []Invalid
	// Stream marks a codec without frame boundaries (codec.Raw): chunking may
	// split or merge frames, only the bytes must agree.
	Stream bool
}

// Refusal is a payload the encoder must refuse with Err.
type Refusal struct {
	Name    string // the subtest's name
	Payload []byte // what the encoder is given
	Err     error  // the error it must match (errors.Is); required
}

// Invalid is a wire input the decoder must refuse with Err.
type Invalid struct {
	Name string // the subtest's name
	Wire []byte // the bytes the decoder is given
	Err  error  // the error it must match (errors.Is); required
}

// AllocBudget bounds the bytes a decoder may allocate while refusing an
// invalid input, on top of four times the input's size for the harness's own
// buffer.
const AllocBudget = 64 << 10

// ErrNotCounted is returned by CheckLinearCost for a decoder that does not
// implement codec.ScanCounter.
var ErrNotCounted = errors.New("codectest: decoder does not implement codec.ScanCounter")

// Run checks the codec made by newCodec with the samples, in subtests named
// after the checks: RoundTrip, Chunking, Refused, Invalid and LinearCost
// (skipped when the decoder does not count its work).
func Run(t *testing.T, newCodec func() codec.Codec, s Samples) {
	t.Helper()
	if newCodec == nil {
		t.Fatal("codectest.Run: nil newCodec")
	}
	checks := []struct {
		name string
		fn   func(codec.Codec, Samples) error
	}{
		{"RoundTrip", CheckRoundTrip},
		{"Chunking", CheckChunking},
		{"Refused", CheckRefused},
		{"Invalid", CheckInvalid},
		{"LinearCost", CheckLinearCost},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			err := ch.fn(newCodec(), s)
			if errors.Is(err, ErrNotCounted) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// CheckRoundTrip encodes each frame alone and checks that it decodes to
// itself, as exactly one frame, consuming all the bytes.
func CheckRoundTrip(c codec.Codec, s Samples) error {
	if err := usable(c); err != nil {
		return err
	}
	for i, p := range s.Frames {
		wire, err := c.AppendFrame(nil, p)
		if err != nil {
			return fmt.Errorf("frame %d (%d bytes): encoder refused: %w", i, len(p), err)
		}
		r := Decode(c, [][]byte{wire})
		if r.Err != nil || r.Rest != 0 {
			return fmt.Errorf("frame %d (%d bytes): decode: err %v, %d bytes left", i, len(p), r.Err, r.Rest)
		}
		got := bytes.Join(r.Frames, nil)
		if (!s.Stream && len(r.Frames) != 1) || !bytes.Equal(got, p) {
			return fmt.Errorf("frame %d: round trip gave %d frames %q, want %q", i, len(r.Frames), trunc(got), trunc(p))
		}
	}
	return nil
}

// CheckChunking encodes all frames back to back and checks that one-byte
// reads and 20 random splits decode exactly as the whole stream does.
func CheckChunking(c codec.Codec, s Samples) error {
	stream, err := Encode(c, s.Frames)
	if err != nil {
		return err
	}
	whole := Decode(c, [][]byte{stream})
	if whole.Err != nil {
		return fmt.Errorf("decoding the whole stream: %w", whole.Err)
	}
	if !s.Stream && len(whole.Frames) != len(s.Frames) {
		return fmt.Errorf("whole stream gave %d frames, want %d", len(whole.Frames), len(s.Frames))
	}
	if err := sameResult(whole, Decode(c, Chunks(stream, 1, nil)), s.Stream); err != nil {
		return fmt.Errorf("1-byte reads: %w", err)
	}
	for seed := range uint64(20) {
		if err := sameResult(whole, Decode(c, Chunks(stream, 0, rand.New(rand.NewPCG(seed, 1)))), s.Stream); err != nil {
			return fmt.Errorf("random split %d: %w", seed, err)
		}
	}
	return nil
}

// CheckRefused checks that the encoder refuses each Refused payload with its
// error and appends nothing.
func CheckRefused(c codec.Codec, s Samples) error {
	if err := usable(c); err != nil {
		return err
	}
	for _, r := range s.Refused {
		if r.Err == nil {
			return fmt.Errorf("%s: Refusal.Err is nil: set the error the encoder must return", r.Name)
		}
		out, err := c.AppendFrame([]byte("keep"), r.Payload)
		if !errors.Is(err, r.Err) {
			return fmt.Errorf("%s: AppendFrame error %v, want %v", r.Name, err, r.Err)
		}
		if string(out) != "keep" {
			return fmt.Errorf("%s: refused payload still appended bytes: %q", r.Name, trunc(out))
		}
	}
	return nil
}

// CheckInvalid feeds each Invalid input whole and one byte at a time and
// checks the error and the bytes allocated meanwhile.
func CheckInvalid(c codec.Codec, s Samples) error {
	if err := usable(c); err != nil {
		return err
	}
	for _, in := range s.Invalid {
		if in.Err == nil {
			return fmt.Errorf("%s: Invalid.Err is nil: set the error the decoder must return", in.Name)
		}
		for _, size := range []int{len(in.Wire), 1} {
			var r Result
			chunks := Chunks(in.Wire, size, nil)
			alloc := allocated(func() { r = Decode(c, chunks) })
			if !errors.Is(r.Err, in.Err) {
				return fmt.Errorf("%s (reads of %d): error %v, want %v", in.Name, size, r.Err, in.Err)
			}
			if budget := uint64(AllocBudget + 4*len(in.Wire)); alloc > budget {
				return fmt.Errorf("%s (reads of %d): allocated %d bytes refusing %d bytes of input (budget %d)",
					in.Name, size, alloc, len(in.Wire), budget)
			}
		}
	}
	return nil
}

// CheckLinearCost drips the largest frame one byte per read and checks,
// through codec.ScanCounter, that the decoder examined at most about twice
// the frame's size in total.
func CheckLinearCost(c codec.Codec, s Samples) error {
	if err := usable(c); err != nil {
		return err
	}
	var big []byte
	for _, p := range s.Frames {
		if len(p) >= len(big) {
			big = p
		}
	}
	wire, err := c.AppendFrame(nil, big)
	if err != nil {
		return err
	}
	dec := c.NewDecoder()
	sc, ok := dec.(codec.ScanCounter)
	if !ok {
		return ErrNotCounted
	}
	r := decodeWith(dec, Chunks(wire, 1, nil))
	if r.Err != nil || len(bytes.Join(r.Frames, nil)) != len(big) {
		return fmt.Errorf("dripped frame: err %v, %d frames", r.Err, len(r.Frames))
	}
	if n := sc.BytesScanned(); n > 2*int64(len(wire))+64 {
		return fmt.Errorf("a %d-byte frame dripped one byte per read cost %d bytes scanned: not linear", len(wire), n)
	}
	return nil
}

// allocated returns the bytes allocated by fn (other goroutines' allocations
// count too, so budgets are generous).
func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}
