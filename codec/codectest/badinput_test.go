package codectest_test

import (
	"math/rand/v2"
	"testing"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/codectest"
	"github.com/weftkit/weft/internal/testenv"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// TestBadInputCodectest: the harness reports a nil codec, a nil rng and a
// sample without its expected error instead of panicking or passing
// silently. Before the fix a nil codec panicked every check with "runtime
// error: invalid memory address or nil pointer dereference", a nil *Line
// with "value method ... called using nil *Line pointer", Chunks(s, 0, nil)
// with a nil dereference, and an Invalid sample with a nil Err passed.
func TestBadInputCodectest(t *testing.T) {
	s := codectest.Samples{Frames: [][]byte{[]byte("a")}, Refused: []codectest.Refusal{{Name: "r", Payload: []byte("a\nb"), Err: codec.ErrDelimiter}}, Invalid: []codectest.Invalid{{Name: "i", Wire: []byte("x"), Err: codec.ErrMalformed}}}
	var cases []biCase
	for _, c := range []struct {
		name string
		c    codec.Codec
		want string
	}{
		{"nil", nil, "err: codectest: codec: invalid configuration: nil Codec"},
		{"nil *Line", (*codec.Line)(nil), "err: codectest: codec: invalid configuration: nil *codec.Line"},
		{"bad LP", codec.LengthPrefix{Size: 7}, "err: "}, // the codec's own error, as before
	} {
		cases = append(cases,
			biCase{c.name + "/RoundTrip", func() error { return codectest.CheckRoundTrip(c.c, s) }, c.want},
			biCase{c.name + "/Chunking", func() error { return codectest.CheckChunking(c.c, s) }, c.want},
			biCase{c.name + "/Refused", func() error { return codectest.CheckRefused(c.c, s) }, c.want},
			biCase{c.name + "/Invalid", func() error { return codectest.CheckInvalid(c.c, s) }, c.want},
			biCase{c.name + "/LinearCost", func() error { return codectest.CheckLinearCost(c.c, s) }, c.want},
			biCase{c.name + "/Encode", func() error { _, err := codectest.Encode(c.c, [][]byte{[]byte("x")}); return err }, c.want},
			biCase{c.name + "/Decode", func() error { return codectest.Decode(c.c, [][]byte{[]byte("x\n")}).Err }, c.want},
		)
	}
	empty := codectest.Samples{}
	cases = append(cases,
		biCase{"empty samples RoundTrip", func() error { return codectest.CheckRoundTrip(codec.Line{}, empty) }, "ok"},
		biCase{"empty samples Chunking", func() error { return codectest.CheckChunking(codec.Line{}, empty) }, "ok"},
		biCase{"empty samples LinearCost", func() error { return codectest.CheckLinearCost(codec.Line{}, empty) }, "ok"},
		biCase{"nil err Refusal", func() error {
			return codectest.CheckRefused(codec.Line{}, codectest.Samples{Refused: []codectest.Refusal{{Name: "x", Payload: []byte("a")}}})
		}, "err: x: Refusal.Err is nil"},
		biCase{"nil err Invalid", func() error {
			return codectest.CheckInvalid(codec.Line{}, codectest.Samples{Invalid: []codectest.Invalid{{Name: "x", Wire: []byte("a")}}})
		}, "err: x: Invalid.Err is nil"},
		biCase{"Chunks neg", func() error { codectest.Chunks([]byte("abc"), -1, nil); return nil }, "panic: codectest: Chunks: negative size -1"},
		biCase{"Chunks 0 nil rng", func() error { codectest.Chunks([]byte("abc"), 0, nil); return nil }, "ok"},
		biCase{"Chunks 0 empty nil rng", func() error { codectest.Chunks(nil, 0, nil); return nil }, "ok"},
		biCase{"Chunks 0 empty rng", func() error { codectest.Chunks(nil, 0, rand.New(rand.NewPCG(1, 2))); return nil }, "ok"},
		biCase{"Chunks huge", func() error { codectest.Chunks([]byte("abc"), int(^uint(0)>>1), nil); return nil }, "ok"},
		biCase{"Decode nil chunks", func() error { return codectest.Decode(codec.Line{}, nil).Err }, "ok"},
	)
	testenv.RunBadInput(t, cases)
}
