package server

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// halfOpen is a Protocol that leaves its connection half-open: with
// lwc it ends its output at once (LoseWriteConnection) and goes on reading;
// without, it waits after the peer's end (ReadConnectionLost) for its
// Shutdown hook to answer. It reports ConnectionLost's reason.
type halfOpen struct {
	t    weft.Transport
	lwc  bool
	n    int
	lost chan error
}

func (h *halfOpen) ConnectionMade(t weft.Transport) {
	h.t = t
	if h.lwc {
		if err := weft.LoseWriteConnection(t); err != nil {
			t.Write([]byte("LoseWriteConnection: " + err.Error()))
		}
	}
}
func (h *halfOpen) DataReceived(b []byte) { h.n += len(b) }
func (h *halfOpen) ReadConnectionLost()   {}
func (h *halfOpen) Shutdown()             { h.t.Write([]byte("bye")) } // ErrClosed after LoseWriteConnection
func (h *halfOpen) ConnectionLost(err error) {
	h.lost <- err
}

// A server's graceful Shutdown ends half-open connections, both ways: one
// whose Protocol waits after the peer's end gets its Shutdown hook (its
// answer reaches the peer, then the end of stream); one whose output ended
// (LoseWriteConnection) while the peer goes on sending is closed after the
// peer's end or the close linger. Both end with ConnectionLost(nil), and
// Shutdown returns nil; a Close ends them at once with ErrServerShutdown.
func TestReviewHalfOpenServerShutdown(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			for _, graceful := range []bool{true, false} {
				lost := make(chan error, 2)
				var lwcNext atomic.Bool
				s := &Server{Engine: engine(t), Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol {
					return &halfOpen{lwc: lwcNext.Load(), lost: lost}
				})}
				addr := serve(t, s)
				// The first connection: the peer ends its side, the
				// Protocol waits to answer.
				a := dial(t, addr)
				a.SetDeadline(time.Now().Add(10 * time.Second))
				a.Write([]byte("question"))
				a.(*net.TCPConn).CloseWrite()
				waitFor(t, "one connection", func() bool { return s.Len() == 1 })
				// The second: the server ends its output at once, the
				// peer goes on sending.
				lwcNext.Store(true)
				b := dial(t, addr)
				b.SetDeadline(time.Now().Add(10 * time.Second))
				if got, err := io.ReadAll(b); err != nil || len(got) != 0 {
					t.Fatalf("second connection: read %q, then %v; want the end of stream at once", got, err)
				}
				if _, err := b.Write([]byte("still talking")); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "two connections", func() bool { return s.Len() == 2 })
				stopped := make(chan error, 1)
				go func() {
					if graceful {
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						defer cancel()
						stopped <- s.Shutdown(ctx)
					} else {
						stopped <- s.Close()
					}
				}()
				got, err := io.ReadAll(a)
				want := "bye"
				if !graceful {
					want = ""
				}
				if string(got) != want || err != nil && graceful {
					t.Errorf("graceful=%v: first connection read %q, then %v; want %q, then the end", graceful, got, err, want)
				}
				if !graceful {
					// Close ends both at once: wait for it before the
					// peer's own close of the second, which, reaching the
					// server first, would end it cleanly.
					if err := <-stopped; err != nil {
						t.Errorf("Close = %v, want nil", err)
					}
					stopped <- nil
				}
				b.Close()
				for range 2 {
					select {
					case err := <-lost:
						if graceful && err != nil || !graceful && !errors.Is(err, weft.ErrServerShutdown) {
							t.Errorf("graceful=%v: ConnectionLost(%v)", graceful, err)
						}
					case <-time.After(10 * time.Second):
						t.Fatalf("graceful=%v: ConnectionLost not called within 10 s", graceful)
					}
				}
				if err := <-stopped; err != nil {
					t.Errorf("graceful=%v: Shutdown/Close = %v, want nil", graceful, err)
				}
			}
		})
	}
}
