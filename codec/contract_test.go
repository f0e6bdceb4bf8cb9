package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/weftkit/weft/codec"
)

// TestProtocolHandlerCloseIsNotTruncation: the handler closing the
// connection itself while more bytes are buffered (a pipelined request after
// "QUIT") is not "the stream ended inside a frame": ConnectionLost gets the
// runtime's reason, not ErrTruncated.
func TestProtocolHandlerCloseIsNotTruncation(t *testing.T) {
	for _, in := range []string{"QUIT\nNEXT\n", "QUIT\npart"} {
		rec := &recorder{hook: func(r *recorder, f []byte) {
			if string(f) == "QUIT" {
				r.tr.LoseConnection()
			}
		}}
		p := start(codec.Line{}, rec, &fakeTransport{})
		p.DataReceived([]byte(in))
		p.ConnectionLost(nil)
		if rec.reason != nil {
			t.Errorf("%q: ConnectionLost(%v) after the handler's own LoseConnection, want nil", in, rec.reason)
		}
	}
}

// TestLineReceiverHandlerCloseIsNotTruncation: the same for a LineReceiver.
func TestLineReceiverHandlerCloseIsNotTruncation(t *testing.T) {
	h := &lineRec{onLine: func(h *lineRec, line []byte) {
		if string(line) == "QUIT" {
			h.r.Transport().LoseConnection()
		}
	}}
	r := codec.NewLineReceiver(h)
	r.ConnectionMade(&fakeTransport{})
	r.DataReceived([]byte("QUIT\r\nNEXT\r\n"))
	r.ConnectionLost(nil)
	if h.reason != nil {
		t.Errorf("ConnectionLost(%v) after the handler's own LoseConnection, want nil", h.reason)
	}
}

// TestProtocolBigFrameBufferNotRetained: after a frame of 1 MiB that
// straddled reads, a connection left with a small partial frame does not keep
// a 1 MiB buffer (docs: the buffer is about the size of the partial frame).
func TestProtocolBigFrameBufferNotRetained(t *testing.T) {
	c := codec.Netstring{}
	wire, _ := c.AppendFrame(nil, bytes.Repeat([]byte("x"), 1<<20))
	wire = append(wire, "3:ab"...) // a partial next frame
	rec := &recorder{}
	p := start(c, rec, &fakeTransport{})
	for len(wire) > 0 {
		n := min(64<<10, len(wire))
		p.DataReceived(wire[:n])
		wire = wire[n:]
	}
	if len(rec.frames) != 1 {
		t.Fatalf("%d frames", len(rec.frames))
	}
	for i := range 10 { // and on: partial frames at the end of each read
		p.DataReceived([]byte("c,3:ab"))
		if len(rec.frames) != 2+i {
			t.Fatalf("%d frames", len(rec.frames))
		}
	}
	if n := codec.BufCap(p); n > 64<<10 {
		t.Errorf("holding a %d-byte buffer for 4 pending bytes", n)
	}
	p.ConnectionLost(nil)
}

// TestProtocolSetCodecOutsideLoopDecodesBuffered: SetCodec from a function
// posted to the connection (an asynchronous decision, outside the decode
// loop) decodes the bytes already buffered with the new codec at once, as
// SetLineMode does; they do not wait for the next read.
func TestProtocolSetCodecOutsideLoopDecodesBuffered(t *testing.T) {
	tr := &postTransport{}
	rec := &recorder{}
	p := start(codec.Line{}, rec, tr)
	p.DataReceived([]byte("hello")) // a partial line
	tr.Post(func() { rec.tr.SetCodec(codec.Raw{}) })
	tr.runPosted()
	if !slices.Equal(rec.frames, []string{"hello"}) {
		t.Errorf("after SetCodec(Raw) outside the loop: frames %q, want [hello]", rec.frames)
	}
}

// TestLineReceiverSetRawModeOutsideLoopDelivers: the same for SetRawMode.
func TestLineReceiverSetRawModeOutsideLoopDelivers(t *testing.T) {
	tr := &postTransport{}
	h := &lineRec{}
	r := codec.NewLineReceiver(h)
	r.ConnectionMade(tr)
	r.DataReceived([]byte("partial"))
	tr.Post(func() { r.SetRawMode() })
	tr.runPosted()
	if !slices.Equal(h.events, []string{"raw:partial"}) {
		t.Errorf("after SetRawMode outside the loop: events %q, want [raw:partial]", h.events)
	}
}

// TestProtocolAnnouncedLengthNotPreallocated: a length prefix announcing the
// limit, then trickled one byte per read, grows the buffer with what has
// arrived, not with what was announced.
func TestProtocolAnnouncedLengthNotPreallocated(t *testing.T) {
	for _, c := range []codec.Codec{codec.Int32(), codec.Netstring{}} {
		wire, _ := c.AppendFrame(nil, bytes.Repeat([]byte("x"), 1<<20))
		rec := &recorder{}
		p := start(c, rec, &fakeTransport{})
		for i := range 200 {
			p.DataReceived(wire[i : i+1])
		}
		if n := codec.BufCap(p); n > 16<<10 {
			t.Errorf("%T: %d-byte buffer after 200 bytes of a frame announcing 1 MiB", c, n)
		}
		p.ConnectionLost(nil)
		if !errors.Is(rec.reason, codec.ErrTruncated) {
			t.Errorf("%T: reason %v", c, rec.reason)
		}
	}
}

// TestEncodersRefuseWhatPrefixCannotExpress: AppendFrame and SendFrame
// refuse a payload the length field cannot express, whatever MaxLength says,
// and never write a header that wraps around.
func TestEncodersRefuseWhatPrefixCannotExpress(t *testing.T) {
	for _, tc := range []struct {
		c codec.LengthPrefix
		n int
	}{
		{codec.LengthPrefix{Size: 1}, 256},
		{codec.LengthPrefix{Size: 1, MaxLength: 1000}, 256},
		{codec.LengthPrefix{Size: 1, IncludesHeader: true, MaxLength: 1000}, 255},
		{codec.LengthPrefix{Size: 2, MaxLength: 1 << 20}, 1 << 16},
		{codec.LengthPrefix{Size: 3, IncludesHeader: true, MaxLength: 1 << 25}, 1<<24 - 3},
	} {
		payload := make([]byte, tc.n)
		if out, err := tc.c.AppendFrame([]byte("k"), payload); !errors.Is(err, codec.ErrFrameTooLarge) || string(out) != "k" {
			t.Errorf("%+v AppendFrame(%d bytes) = %d bytes, %v", tc.c, tc.n, len(out), err)
		}
		tr := &fakeTransport{}
		rec := &recorder{}
		start(tc.c, rec, tr)
		if err := rec.tr.SendFrame(payload); !errors.Is(err, codec.ErrFrameTooLarge) || tr.written() != "" {
			t.Errorf("%+v SendFrame(%d bytes) = %v, wrote %d", tc.c, tc.n, err, len(tr.written()))
		}
		if _, err := tc.c.AppendFrame(nil, payload[:tc.n-1]); err != nil {
			t.Errorf("%+v AppendFrame(%d bytes): %v", tc.c, tc.n-1, err)
		}
	}
	for _, c := range []codec.Codec{codec.Line{MaxLength: -1}, codec.Netstring{MaxLength: -1}, codec.LengthPrefix{MaxLength: -1}, codec.LengthPrefix{Size: -1}} {
		if _, err := c.AppendFrame(nil, nil); !errors.Is(err, codec.ErrConfig) {
			t.Errorf("%#v AppendFrame: %v", c, err)
		}
		if _, _, err := c.NewDecoder().Decode([]byte("1")); !errors.Is(err, codec.ErrConfig) {
			t.Errorf("%#v Decode: %v", c, err)
		}
	}
}

// TestProtocolSwitchPauseResumeRandom: frames name the codec of the next
// frame; the handler switches codec in FrameReceived and pauses at random,
// and is resumed between reads from outside the callbacks (through Post).
// Whatever the reads and pauses, every frame comes once, in order.
func TestProtocolSwitchPauseResumeRandom(t *testing.T) {
	codecs := map[byte]codec.Codec{'N': codec.Netstring{}, 'L': codec.Line{}, 'I': codec.Int16(), 'B': codec.LengthPrefix{Size: 8, LittleEndian: true}}
	rng := rand.New(rand.NewPCG(1, 2))
	for seed := range 300 {
		var wire []byte
		var want []string
		cur := codecs['N']
		for i := range 1 + rng.IntN(12) {
			next := "NLIB"[rng.IntN(4)]
			payload := fmt.Sprintf("%c%d%s", next, i, strings.Repeat("x", rng.IntN(40)))
			wire, _ = cur.AppendFrame(wire, []byte(payload))
			want = append(want, payload)
			cur = codecs[next]
		}
		tr := &postTransport{}
		rec := &recorder{}
		rec.hook = func(r *recorder, f []byte) {
			r.tr.SetCodec(codecs[f[0]])
			if rng.IntN(3) == 0 {
				r.tr.PauseReading()
			}
		}
		p := start(codec.Netstring{}, rec, tr)
		codec.SetMinPiece(p, 1+rng.IntN(8))
		for len(wire) > 0 {
			n := 1 + rng.IntN(min(len(wire), 30))
			if tr.paused { // the runtime reads nothing while paused
				rec.tr.ResumeReading()
				for len(tr.posted) > 0 {
					tr.runPosted()
				}
				if tr.paused {
					continue
				}
			}
			p.DataReceived(wire[:n])
			wire = wire[n:]
		}
		for tr.paused || len(tr.posted) > 0 {
			rec.tr.ResumeReading()
			tr.runPosted()
		}
		p.ConnectionLost(nil)
		if !slices.Equal(rec.frames, want) || rec.reason != nil {
			t.Fatalf("seed %d: frames %q, want %q; reason %v", seed, rec.frames, want, rec.reason)
		}
	}
}
