package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestOwnEngine: with a nil Engine the server makes its own readiness engine
// (one, shared by all its listeners) when it serves, runs its connections on
// it (a plain TCP listener takes the descriptor path), and closes it once
// Close or Shutdown has ended every connection: the engine's epoll
// descriptor is gone then, and its goroutines (goleak, TestMain). NoEngine,
// an Engine of the caller's, and a server closed before it served make
// none.
func TestOwnEngine(t *testing.T) {
	for _, tc := range []struct {
		name     string
		noEngine bool
		callers  bool // Engine set by the caller
		want     int32
	}{
		{"default", false, false, 1},
		{"NoEngine", true, false, 0},
		{"caller's Engine", false, true, 0},
	} {
		for _, stop := range []string{"Close", "Shutdown"} {
			t.Run(tc.name+"/"+stop, func(t *testing.T) {
				made := withOwnEngine(t)
				var callers *weft.Engine
				if tc.callers {
					callers = newEngine(t)
				}
				fdsBefore := openFDs(t)
				s := &Server{Factory: echoFactory(), NoEngine: tc.noEngine, Engine: callers}
				ls := make([]net.Listener, 2)
				done := make(chan error, len(ls))
				for i := range ls {
					l := loopback(t)
					ls[i] = l
					go func() { done <- s.Serve(l) }()
				}
				waitFor(t, "two listeners", func() bool { return len(s.Addrs()) == 2 })
				var clients []net.Conn
				for _, l := range ls {
					c := dial(t, l.Addr().String())
					roundTrip(t, c, "hello")
					clients = append(clients, c)
				}
				if got := made.Load(); got != tc.want {
					t.Errorf("engines made: %d, want %d", got, tc.want)
				}
				if got, want := s.usesEngine(), !tc.noEngine; got != want {
					t.Errorf("usesEngine = %v, want %v", got, want)
				}
				if got, want := byFD(s), !tc.noEngine; got != want {
					t.Errorf("descriptor accept path = %v, want %v", got, want)
				}
				if tc.callers && s.engineFor(true) != callers {
					t.Error("the caller's Engine is not the one in use")
				}
				if stop == "Close" {
					s.Close()
				} else if err := s.Shutdown(context.Background()); err != nil {
					t.Errorf("Shutdown = %v", err)
				}
				for range ls {
					if err := <-done; !errors.Is(err, ErrServerClosed) {
						t.Errorf("Serve = %v, want ErrServerClosed", err)
					}
				}
				for _, c := range clients {
					c.Close()
				}
				// The server's own engine's epoll descriptor is closed
				// with the rest (a caller's engine was open before the
				// count, and stays open: it is the caller's).
				waitFor(t, "descriptors released", func() bool { return openFDs(t) == fdsBefore })
				// A closed server makes no engine, even if served again.
				l := loopback(t)
				if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve after %s = %v, want ErrServerClosed", stop, err)
				}
				if got := made.Load(); got != tc.want {
					t.Errorf("engines made after a Serve on the closed server: %d, want %d", got, tc.want)
				}
			})
		}
	}
}

// TestOwnEngineNotAfterClose: a server closed before its first Serve makes
// no engine.
func TestOwnEngineNotAfterClose(t *testing.T) {
	made := withOwnEngine(t)
	s := &Server{Factory: echoFactory()}
	s.Close()
	l := loopback(t)
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if n := made.Load(); n != 0 {
		t.Errorf("engines made: %d, want 0", n)
	}
}

// TestOwnEngineListeners: the server's own engine on the accept paths other
// than the descriptor one. A plain TCP listener with MaxConns (each
// connection on its goroutine first, for admission) and a unix listener
// make the engine and run their connections on it; a TLS listener's
// connections are no sockets and make none; nor do those of a listener
// whose connections wrap *net.TCPConn (the engine would close the wrapper
// when the connection starts, ending its Close's own work at once: here a
// count of live connections).
func TestOwnEngineListeners(t *testing.T) {
	srvTLS, cliTLS := testTLS(t)
	for _, tc := range []struct {
		name   string
		maxC   int
		listen func(t *testing.T) (net.Listener, func() net.Conn)
		want   int32
	}{
		{"MaxConns", 8, func(t *testing.T) (net.Listener, func() net.Conn) {
			l := loopback(t)
			return l, func() net.Conn { return dial(t, l.Addr().String()) }
		}, 1},
		{"unix", 0, func(t *testing.T) (net.Listener, func() net.Conn) {
			l, path := listenUnix(t)
			return l, func() net.Conn {
				c, err := net.Dial("unix", path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
		}, 1},
		{"TLS", 0, func(t *testing.T) (net.Listener, func() net.Conn) {
			l := loopback(t)
			return tls.NewListener(l, srvTLS), func() net.Conn {
				c, err := tls.Dial("tcp4", l.Addr().String(), cliTLS)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
		}, 0},
		{"wrapped", 0, func(t *testing.T) (net.Listener, func() net.Conn) {
			l := loopback(t)
			return &countingListener{TCPListener: l.(*net.TCPListener)}, func() net.Conn { return dial(t, l.Addr().String()) }
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			made := withOwnEngine(t)
			s := &Server{Factory: echoFactory(), MaxConns: tc.maxC}
			l, connect := tc.listen(t)
			serveWith(t, s, func() error { return s.Serve(l) })
			c := connect()
			roundTrip(t, c, "hello")
			if got := made.Load(); got != tc.want {
				t.Errorf("engines made: %d, want %d", got, tc.want)
			}
			if byFD(s) {
				t.Error("descriptor accept path taken")
			}
			if cl, ok := l.(*countingListener); ok {
				if n := cl.live.Load(); n != 1 {
					t.Errorf("live wrapped connections while one is open: %d, want 1", n)
				}
			}
		})
	}
}

// countingListener counts its connections still open: its connections
// embed *net.TCPConn (so they are syscall.Conns) and their Close counts
// down.
type countingListener struct {
	*net.TCPListener
	live atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	l.live.Add(1)
	return &countedConn{TCPConn: c, l: l}, nil
}

type countedConn struct {
	*net.TCPConn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.live.Add(-1) })
	return c.TCPConn.Close()
}

// flood writes 8 MiB when its connection is made, then echoes.
type flood struct{ echo }

func (f *flood) ConnectionMade(t weft.Transport) {
	f.t = t
	t.Write(bytes.Repeat([]byte("f"), 8<<20))
}

// TestOwnEngineShutdown: the server's own engine is closed only after a
// graceful Shutdown has drained every connection (8 MiB still queued for a
// client that starts reading after Shutdown began arrive whole), and also
// when Shutdown's deadline cut the connections (a client that reads
// nothing): its descriptor is gone either way.
func TestOwnEngineShutdown(t *testing.T) {
	for _, drain := range []bool{true, false} {
		name := map[bool]string{true: "drained", false: "deadline"}[drain]
		t.Run(name, func(t *testing.T) {
			made := withOwnEngine(t)
			fdsBefore := openFDs(t)
			s := &Server{Factory: factoryOf(func() *flood { return &flood{} }), MaxWriteBuffer: 16 << 20, HighWater: 16 << 20}
			l := loopback(t)
			done := make(chan error, 1)
			go func() { done <- s.Serve(l) }()
			c := dial(t, l.Addr().String())
			waitFor(t, "the connection running", func() bool { return s.Len() == 1 })
			ctx, cancel := context.WithCancel(context.Background())
			if !drain {
				ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
			}
			defer cancel()
			shut := make(chan error, 1)
			go func() { shut <- s.Shutdown(ctx) }()
			if drain {
				got := readAll(t, c)
				if len(got) != 8<<20 {
					t.Errorf("client got %d of %d bytes", len(got), 8<<20)
				}
				if err := <-shut; err != nil {
					t.Errorf("Shutdown = %v, want nil", err)
				}
			} else if err := <-shut; !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v, want the deadline", err)
			}
			if err := <-done; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve = %v", err)
			}
			if n := made.Load(); n != 1 {
				t.Errorf("engines made: %d, want 1", n)
			}
			c.Close()
			waitFor(t, "descriptors released", func() bool { return openFDs(t) == fdsBefore })
		})
	}
}
