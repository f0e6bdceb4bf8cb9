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

// The tests here are loopback companions, run on both engines, of tests
// that drive the server over net.Pipe in a synctest bubble
// (TestCloseTimeoutServer, TestShutdownCloseTimeout,
// TestCloseWaitsForFactoryStop): a readiness engine takes sockets only, and
// its epoll waits are no durable block for synctest, so those cannot run on
// it. Over loopback the socket buffers take a few MiB of output before a
// client that reads nothing stalls the server, so the output here is
// larger, and the timeouts are real but short.

// bulkRefuser answers any bytes with size bytes of error reply and closes
// gracefully with errRefusedLine, as refuser does with a short reply.
type bulkRefuser struct {
	t    weft.Transport
	size int
	lost chan<- error
}

func (r *bulkRefuser) ConnectionMade(t weft.Transport) { r.t = t }
func (r *bulkRefuser) DataReceived([]byte) {
	r.t.Write(make([]byte, r.size))
	weft.LoseConnectionWithReason(r.t, errRefusedLine)
}
func (r *bulkRefuser) ConnectionLost(err error) { r.lost <- err }

// stalledClient dials addr with a small receive buffer, so that the server's
// output stalls on it soon.
func stalledClient(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := dial(t, addr)
	c.(*net.TCPConn).SetReadBuffer(4096)
	return c
}

// TestCloseTimeoutLoopback: a client that provokes a graceful close and
// then reads nothing is aborted CloseTimeout after its output stalled
// (reason "close timeout", ErrCloseTimeout wrapping the close's reason,
// its slot given back); with a negative CloseTimeout it is not. On both
// engines; with the engine, on the descriptor accept path.
func TestCloseTimeoutLoopback(t *testing.T) {
	const closeTO = 300 * time.Millisecond
	for _, tc := range []struct {
		name string
		set  time.Duration
	}{{"set", closeTO}, {"none", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			onEngines(t, func(t *testing.T, engine *weft.Engine) {
				lost := make(chan error, 1)
				s := &Server{
					Factory:      factoryOf(func() *bulkRefuser { return &bulkRefuser{size: 16 << 20, lost: lost} }),
					CloseTimeout: tc.set, MaxWriteBuffer: 64 << 20, HighWater: 32 << 20, Engine: engine,
				}
				addr := serve(t, s)
				c := stalledClient(t, addr)
				start := time.Now()
				if _, err := c.Write([]byte("a line the codec refuses\n")); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "active", func() bool { return s.Len() == 1 })
				wantFDPath(t, s)
				if tc.set < 0 {
					select {
					case err := <-lost:
						t.Fatalf("CloseTimeout < 0: ConnectionLost(%v) with the client stalled", err)
					case <-time.After(3 * closeTO):
					}
					if snap := s.Snapshot(); snap.Closed["close timeout"] != 0 || snap.Active != 1 {
						t.Errorf("CloseTimeout < 0: closed %v, active %d; want no close timeout, 1 active", snap.Closed, snap.Active)
					}
					c.Close()
					return
				}
				var err error
				select {
				case err = <-lost:
				case <-time.After(10 * time.Second):
					t.Fatal("a stalled client's connection outlived CloseTimeout by 10 s")
				}
				if took := time.Since(start); took < tc.set {
					t.Errorf("aborted %v after the close began, before CloseTimeout %v", took, tc.set)
				}
				if !errors.Is(err, weft.ErrCloseTimeout) || !errors.Is(err, errRefusedLine) {
					t.Errorf("ConnectionLost(%v), want ErrCloseTimeout wrapping the close's reason", err)
				}
				waitFor(t, "close timeout counted", func() bool { return s.Snapshot().Closed["close timeout"] == 1 })
				if n := s.Snapshot().Active; n != 0 {
					t.Errorf("active %d after the abort, want 0", n)
				}
			})
		})
	}
}

// bulkGoodbyer says a goodbye of size bytes when the server shuts down.
type bulkGoodbyer struct {
	t    weft.Transport
	size int
	lost chan<- error
}

func (g *bulkGoodbyer) ConnectionMade(t weft.Transport) { g.t = t }
func (g *bulkGoodbyer) DataReceived([]byte)             {}
func (g *bulkGoodbyer) Shutdown()                       { g.t.Write(make([]byte, g.size)) }
func (g *bulkGoodbyer) ConnectionLost(err error)        { g.lost <- err }

// TestShutdownCloseTimeoutLoopback: Shutdown with a context that never
// ends, and a client that reads nothing of the goodbye written on Shutdown:
// CloseTimeout ends the connection (reason "close timeout",
// ErrCloseTimeout) and Shutdown returns nil then; with a Shutdown context
// shorter than CloseTimeout, the context wins (reason "shutdown",
// ErrServerShutdown, Shutdown returns the context's error). On both
// engines; with the engine, on the descriptor accept path.
func TestShutdownCloseTimeoutLoopback(t *testing.T) {
	for _, tc := range []struct {
		name           string
		closeTO, ctxTO time.Duration // ctxTO 0: context.Background
		reason         string
		lost, shutErr  error
	}{
		{"background", 300 * time.Millisecond, 0, "close timeout", weft.ErrCloseTimeout, nil},
		{"ctx-first", time.Minute, 300 * time.Millisecond, "shutdown", weft.ErrServerShutdown, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEngines(t, func(t *testing.T, engine *weft.Engine) {
				lost := make(chan error, 1)
				s := &Server{
					Factory:      factoryOf(func() *bulkGoodbyer { return &bulkGoodbyer{size: 16 << 20, lost: lost} }),
					CloseTimeout: tc.closeTO, MaxWriteBuffer: 64 << 20, HighWater: 32 << 20, Engine: engine,
				}
				addr := serve(t, s)
				stalledClient(t, addr)
				waitFor(t, "active", func() bool { return s.Len() == 1 })
				wantFDPath(t, s)
				ctx := context.Background()
				if tc.ctxTO > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.ctxTO)
					defer cancel()
				}
				start := time.Now()
				serr := s.Shutdown(ctx)
				took := time.Since(start)
				if !errors.Is(serr, tc.shutErr) || (tc.shutErr == nil && serr != nil) {
					t.Errorf("Shutdown = %v, want %v", serr, tc.shutErr)
				}
				want := tc.closeTO // whichever ends first
				if tc.ctxTO > 0 {
					want = min(want, tc.ctxTO)
				}
				if took < want || took > want+10*time.Second {
					t.Errorf("Shutdown returned after %v, want %v (and not much later)", took, want)
				}
				err := <-lost
				if !errors.Is(err, tc.lost) {
					t.Errorf("ConnectionLost(%v), want %v", err, tc.lost)
				}
				if snap := s.Snapshot(); snap.Closed[tc.reason] != 1 {
					t.Errorf("Closed = %v, want %s: 1", snap.Closed, tc.reason)
				}
			})
		})
	}
}

// lateStopFactory's Stop takes 100 ms.
type lateStopFactory struct {
	weft.Factory
	stopped atomic.Bool
}

func (f *lateStopFactory) Stop() { time.Sleep(100 * time.Millisecond); f.stopped.Store(true) }

// TestCloseWaitsForFactoryStopLoopback: Close (and Shutdown) return only
// once the Factory's Stop has returned, with or without connections. On
// both engines; with the engine, on the descriptor accept path, where the
// last connection's end (on an engine worker) may be what stops the
// Factory.
func TestCloseWaitsForFactoryStopLoopback(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conn  bool
		close func(s *Server)
	}{
		{"close", false, func(s *Server) { s.Close() }},
		{"close-with-conn", true, func(s *Server) { s.Close() }},
		{"shutdown", false, func(s *Server) { s.Shutdown(context.Background()) }},
		{"shutdown-with-conn", true, func(s *Server) { s.Shutdown(context.Background()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEngines(t, func(t *testing.T, engine *weft.Engine) {
				f := &lateStopFactory{Factory: echoFactory()}
				s := &Server{Factory: f, Engine: engine}
				l, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- s.Serve(l) }()
				if tc.conn {
					c := dial(t, l.Addr().String())
					roundTrip(t, c, "x")
					go io.Copy(io.Discard, c)
				} else {
					waitFor(t, "listening", func() bool { return len(s.Addrs()) == 1 })
				}
				wantFDPath(t, s)
				tc.close(s)
				if !f.stopped.Load() {
					t.Errorf("%s returned before the Factory's Stop did", tc.name)
				}
				if err := <-done; !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve = %v", err)
				}
			})
		})
	}
}
