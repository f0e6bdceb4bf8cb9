//go:build unix

package endpoint

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// newTestPipeConn builds a pipeConn as stdio: does over pipes (polled,
// non-blocking), over two os.Pipe pairs instead of descriptors 0 and 1:
// peerIn feeds the connection's reads, peerOut reads its writes.
func newTestPipeConn(t *testing.T) (c *pipeConn, peerIn, peerOut *os.File) {
	t.Helper()
	r, peerIn, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	peerOut, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peerIn.Close(); peerOut.Close() })
	return &pipeConn{r: r, w: w}, peerIn, peerOut
}

// reviewProto echoes, or on made runs a function with its transport.
type reviewProto struct {
	made func(weft.Transport)
	t    weft.Transport
	lost atomic.Int32
}

func (p *reviewProto) ConnectionMade(t weft.Transport) {
	p.t = t
	if p.made != nil {
		p.made(t)
	}
}
func (p *reviewProto) DataReceived(b []byte)       { p.t.Write(b) }
func (p *reviewProto) ConnectionLost(reason error) { p.lost.Add(1) }

func serveAsync(c net.Conn, p weft.Protocol, opts *weft.Options) chan error {
	done := make(chan error, 1)
	go func() { done <- weft.Serve(c, p, opts) }()
	return done
}

func waitServe(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// The runtime over a stdio: pipeConn: an echo, the end of input (a clean
// end), a close by the protocol (the peer reads the end of stream), Abort
// and IdleTimeout while a read waits (Serve returns at once, no goroutine
// left: goleak in TestMain).
func TestReviewPipeConnRuntime(t *testing.T) {
	t.Run("echo then end of input", func(t *testing.T) {
		c, in, out := newTestPipeConn(t)
		p := &reviewProto{}
		done := serveAsync(c, p, nil)
		in.Write([]byte("hi\n"))
		buf := make([]byte, 3)
		if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "hi\n" {
			t.Fatalf("read %q, %v", buf, err)
		}
		in.Close()
		if err := waitServe(t, done); err != nil {
			t.Errorf("Serve after the end of input = %v, want nil (clean)", err)
		}
		if rest, err := io.ReadAll(out); err != nil || len(rest) != 0 {
			t.Errorf("peer after the end: %q, %v; want the end of stream", rest, err)
		}
		if n := p.lost.Load(); n != 1 {
			t.Errorf("ConnectionLost called %d times", n)
		}
	})
	t.Run("server speaks and closes", func(t *testing.T) {
		c, _, out := newTestPipeConn(t)
		p := &reviewProto{made: func(tr weft.Transport) { tr.Write([]byte("quote\r\n")); tr.LoseConnection() }}
		done := serveAsync(c, p, nil)
		got, err := io.ReadAll(out)
		if err != nil || string(got) != "quote\r\n" {
			t.Errorf("peer read %q, %v; want the quote then the end of stream", got, err)
		}
		if err := waitServe(t, done); err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	})
	t.Run("abort while reading", func(t *testing.T) {
		c, _, _ := newTestPipeConn(t)
		p := &reviewProto{made: func(tr weft.Transport) { time.AfterFunc(50*time.Millisecond, tr.Abort) }}
		if err := waitServe(t, serveAsync(c, p, nil)); !errors.Is(err, weft.ErrAborted) {
			t.Errorf("Serve = %v, want ErrAborted", err)
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		c, _, _ := newTestPipeConn(t)
		err := waitServe(t, serveAsync(c, &reviewProto{}, &weft.Options{IdleTimeout: 100 * time.Millisecond}))
		if !errors.Is(err, weft.ErrIdleTimeout) {
			t.Errorf("Serve = %v, want ErrIdleTimeout", err)
		}
	})
}

// stdioListener: Close before Accept closes the connection not taken; a
// concurrent Accept and Close give the connection to at most one and end
// every waiting Accept.
func TestReviewStdioListenerClose(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	l := &stdioListener{conn: a, addr: StdioAddr{}, done: make(chan struct{})}
	l.Close()
	if _, err := b.Write([]byte("x")); err == nil {
		t.Errorf("the connection not accepted is still open after Close")
	}
	if c, err := l.Accept(); c != nil || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, %v; want net.ErrClosed", c, err)
	}
	for range 50 {
		a, b := net.Pipe()
		l := &stdioListener{conn: a, addr: StdioAddr{}, done: make(chan struct{})}
		got := make(chan net.Conn, 2)
		for range 2 {
			go func() { c, _ := l.Accept(); got <- c }()
		}
		go l.Close()
		n := 0
		for range 2 {
			if c := <-got; c != nil {
				n++
				c.Close()
			}
		}
		b.Close()
		if n > 1 {
			t.Fatalf("the one connection was accepted %d times", n)
		}
	}
}
