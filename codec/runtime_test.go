package codec_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

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
func TestResumeFromAnotherGoroutine(t *testing.T) {
	s, c := net.Pipe()
	defer c.Close()
	h := &pauser{paused: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- weft.Serve(s, codec.NewProtocol(codec.Line{}, h), nil) }()
	if _, err := c.Write([]byte("a\nb\nc\n")); err != nil {
		t.Fatal(err)
	}
	<-h.paused
	time.Sleep(20 * time.Millisecond) // a wrong adapter would deliver b, c now
	if g := h.got(); len(g) != 1 {
		t.Fatalf("delivered while paused: %q", g)
	}
	h.t.ResumeReading() // from the test goroutine
	deadline := time.Now().Add(5 * time.Second)
	for len(h.got()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if g := h.got(); len(g) != 3 || g[1] != "b" || g[2] != "c" {
		t.Fatalf("after resume: %q", g)
	}
	c.Close()
	<-done
}

// TestDecodeErrorIsTheCloseReason: after a decode error the runtime itself
// (Serve's result, hence the server's close-reason stats) reports the codec
// error, not a clean close; the handler's reply written before is delivered.
func TestDecodeErrorIsTheCloseReason(t *testing.T) {
	s, c := net.Pipe()
	defer c.Close()
	h := &pauser{paused: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- weft.Serve(s, codec.NewProtocol(codec.Line{MaxLength: 4}, h), nil) }()
	go c.Write([]byte("this line is too long\n"))
	go io.Copy(io.Discard, c)
	select {
	case err := <-done:
		if !errors.Is(err, codec.ErrFrameTooLarge) {
			t.Fatalf("Serve returned %v, want ErrFrameTooLarge", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed after a decode error")
	}
}
