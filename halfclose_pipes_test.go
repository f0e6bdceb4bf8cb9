package weft_test

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// pipesConn is a connection over two pipes that can end its output
// (CloseWrite), as endpoint's stdio: over pipes is: not a socket, no
// SyscallConn.
type pipesConn struct{ r, w *os.File }

func (p *pipesConn) Read(b []byte) (int, error)         { return p.r.Read(b) }
func (p *pipesConn) Write(b []byte) (int, error)        { return p.w.Write(b) }
func (p *pipesConn) CloseWrite() error                  { return p.w.Close() }
func (p *pipesConn) LocalAddr() net.Addr                { return pipeAddr{} }
func (p *pipesConn) RemoteAddr() net.Addr               { return pipeAddr{} }
func (p *pipesConn) SetDeadline(t time.Time) error      { p.w.SetDeadline(t); return p.r.SetDeadline(t) }
func (p *pipesConn) SetReadDeadline(t time.Time) error  { return p.r.SetReadDeadline(t) }
func (p *pipesConn) SetWriteDeadline(t time.Time) error { return p.w.SetWriteDeadline(t) }
func (p *pipesConn) Close() error {
	err := p.r.Close()
	if werr := p.w.Close(); werr != nil && !errors.Is(werr, os.ErrClosed) && err == nil {
		err = werr
	}
	return err
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// newPipesConn returns a pipesConn and the peer's ends: it reads what the
// connection writes from out and writes to it into in.
func newPipesConn(t *testing.T) (c *pipesConn, out io.ReadCloser, in io.WriteCloser) {
	t.Helper()
	r1, w1, err := os.Pipe() // peer -> conn
	if err != nil {
		t.Fatal(err)
	}
	r2, w2, err := os.Pipe() // conn -> peer
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r1.Close(); w1.Close(); r2.Close(); w2.Close() })
	return &pipesConn{r: r1, w: w2}, r2, w1
}

// halfWriter ends its output at once and records what it reads.
type halfWriter struct {
	mu      sync.Mutex
	lwcErr  error
	got     []byte
	readEOF bool
	lost    chan error
}

func (h *halfWriter) ConnectionMade(t weft.Transport) {
	t.Write([]byte("bye\n"))
	h.mu.Lock()
	h.lwcErr = weft.LoseWriteConnection(t)
	h.mu.Unlock()
}
func (h *halfWriter) DataReceived(b []byte) { h.mu.Lock(); h.got = append(h.got, b...); h.mu.Unlock() }
func (h *halfWriter) ReadConnectionLost()   { h.mu.Lock(); h.readEOF = true; h.mu.Unlock() }
func (h *halfWriter) ConnectionLost(err error) {
	h.lost <- err
}

// A net.Conn that is not a socket but can end its output (CloseWrite), such
// as a connection over two pipes (endpoint's stdio:), half-closes as a
// socket does: LoseWriteConnection sends what was written, then the end of
// stream, while DataReceived goes on; once the peer ends its side too, the
// connection closes cleanly. Before, it was ErrNotSupported.
func TestLoseWriteConnectionPipes(t *testing.T) {
	c, out, in := newPipesConn(t)
	h := &halfWriter{lost: make(chan error, 1)}
	done := serve(c, h, nil)
	out.(*os.File).SetReadDeadline(time.Now().Add(10 * time.Second)) // fail, not hang
	// The end of stream comes at the half-close, the input still open.
	got, err := io.ReadAll(out)
	h.mu.Lock()
	lwcErr := h.lwcErr
	h.mu.Unlock()
	if lwcErr != nil {
		in.Close()
		t.Fatalf("LoseWriteConnection = %v, want nil", lwcErr)
	}
	if err != nil || string(got) != "bye\n" {
		t.Fatalf("peer read %q, %v; want \"bye\\n\", then the end of stream", got, err)
	}
	if _, err := in.Write([]byte("still talking")); err != nil {
		t.Fatal(err)
	}
	in.Close()
	select {
	case err := <-h.lost:
		if err != nil {
			t.Errorf("ConnectionLost(%v), want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ConnectionLost not called within 10 s of the peer's end")
	}
	<-done
	h.mu.Lock()
	defer h.mu.Unlock()
	if string(h.got) != "still talking" || h.readEOF {
		t.Errorf("received %q (ReadConnectionLost %v), want \"still talking\" and no ReadConnectionLost (its own output had ended)", h.got, h.readEOF)
	}
}
