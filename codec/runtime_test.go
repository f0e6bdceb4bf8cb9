package codec_test

import (
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// pauser pauses reading after the first frame.
type pauser struct {
	mu     sync.Mutex
	t      codec.FrameTransport
	frames []string
	paused chan struct{}
}

func (p *pauser) ConnectionMade(t codec.FrameTransport) { p.t = t }
func (p *pauser) FrameReceived(f []byte) {
	p.mu.Lock()
	p.frames = append(p.frames, string(f))
	n := len(p.frames)
	p.mu.Unlock()
	if n == 1 {
		p.t.PauseReading()
		close(p.paused)
	}
}
func (p *pauser) ConnectionLost(error) {}

func (p *pauser) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.frames...)
}

// TestResumeFromAnotherGoroutine: frames buffered while paused are delivered
// when ResumeReading is called from outside the callbacks, without waiting for
// the peer to send more (the runtime's Transport offers Post for this).
// synctest.Wait stands for "everything that will happen has happened": no
// sleep decides whether a frame came too early or too late.
func TestResumeFromAnotherGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c := net.Pipe()
		defer c.Close()
		h := &pauser{paused: make(chan struct{})}
		done := make(chan error, 1)
		go func() { done <- weft.Serve(s, codec.NewProtocol(codec.Line{}, h), nil) }()
		if _, err := c.Write([]byte("a\nb\nc\n")); err != nil {
			t.Fatal(err)
		}
		<-h.paused
		synctest.Wait() // a wrong adapter would have delivered b, c by now
		if g := h.got(); !slices.Equal(g, []string{"a"}) {
			t.Errorf("delivered while paused: %q", g) // go on: a paused Conn would not see the close
		}
		h.t.ResumeReading() // from the test goroutine
		synctest.Wait()     // the peer sends nothing more: only Post can deliver
		if g, want := h.got(), []string{"a", "b", "c"}; !slices.Equal(g, want) {
			t.Errorf("after resume: %q, want %q", g, want)
		}
		c.Close()
		if err := <-done; err != nil && !errors.Is(err, io.EOF) {
			t.Errorf("Serve = %v after the client closed", err)
		}
	})
}

// TestDecodeErrorIsTheCloseReason: after a decode error the runtime itself
// (Serve's result, hence the server's close-reason stats) reports the codec
// error, not a clean close, and the handler learns it too; the handler's
// reply written before (the echo of the good line) is delivered before the
// close.
func TestDecodeErrorIsTheCloseReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c := net.Pipe()
		defer c.Close() // ends the writer below if the server stops reading
		e := &echo{lost: make(chan error, 1)}
		done := make(chan error, 1)
		go func() { done <- weft.Serve(s, codec.NewProtocol(codec.Line{MaxLength: 4}, e), nil) }()
		go func() { _, _ = c.Write([]byte("ok\nthis line is too long\n")) }()
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "ok\r\n" {
			t.Errorf("client read %q, %v; want the echo of the good line, then the end of the stream", got, err)
		}
		if err := <-done; !errors.Is(err, codec.ErrFrameTooLarge) {
			t.Errorf("Serve returned %v, want ErrFrameTooLarge", err)
		}
		if err := <-e.lost; !errors.Is(err, codec.ErrFrameTooLarge) {
			t.Errorf("ConnectionLost(%v), want ErrFrameTooLarge", err)
		}
	})
}
