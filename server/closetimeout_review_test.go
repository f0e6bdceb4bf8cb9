package server

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// goodbyer says a long goodbye when the server shuts down.
type goodbyer struct {
	t    weft.Transport
	lost chan error
}

func (g *goodbyer) ConnectionMade(t weft.Transport) { g.t = t }
func (g *goodbyer) DataReceived([]byte)             {}
func (g *goodbyer) Shutdown()                       { g.t.Write(make([]byte, 64<<10)) }
func (g *goodbyer) ConnectionLost(err error)        { g.lost <- err }

// TestShutdownCloseTimeout: Shutdown with a context that never ends, and a
// client that reads nothing of the goodbye its connection writes on
// Shutdown: the default CloseTimeout ends that connection (reason "close
// timeout" in Snapshot, ErrCloseTimeout to ConnectionLost) and Shutdown
// returns then, instead of waiting for ever; with a Shutdown context
// shorter than CloseTimeout, the context wins (reason "shutdown").
// (Over net.Pipe in a synctest bubble, where a readiness engine cannot
// run: it takes sockets only, and its epoll waits are no durable block.
// TestShutdownCloseTimeoutLoopback runs this on both engines over loopback.)
func TestShutdownCloseTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ctxTO  time.Duration // 0: context.Background
		want   time.Duration
		reason string
	}{
		{"background", 0, DefaultCloseTimeout, "close timeout"},
		{"ctx-first", 5 * time.Second, 5 * time.Second, "shutdown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lost := make(chan error, 1)
				s := &Server{Factory: factoryOf(func() *goodbyer { return &goodbyer{lost: lost} })}
				pl := newPipeListener()
				done := make(chan error, 1)
				go func() { done <- s.Serve(pl) }()
				c := pl.Dial()
				defer c.Close()
				synctest.Wait()
				ctx := context.Background()
				if tc.ctxTO > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.ctxTO)
					defer cancel()
				}
				start := time.Now()
				serr := s.Shutdown(ctx)
				if took := time.Since(start); took != tc.want {
					t.Errorf("Shutdown returned after %v, want %v", took, tc.want)
				}
				err := <-lost
				if snap := s.Snapshot(); snap.Closed[tc.reason] != 1 {
					t.Errorf("Closed = %v, want %s: 1 (ConnectionLost %v, Shutdown %v)", snap.Closed, tc.reason, err, serr)
				}
				if tc.reason == "close timeout" && !errors.Is(err, weft.ErrCloseTimeout) {
					t.Errorf("ConnectionLost(%v), want ErrCloseTimeout", err)
				}
				if err := <-done; !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve = %v", err)
				}
			})
		})
	}
}
