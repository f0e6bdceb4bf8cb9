package server

import (
	"context"
	"errors"
	"net"
	"testing"

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
					l, err := net.Listen("tcp4", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
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
				l, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
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
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if n := made.Load(); n != 0 {
		t.Errorf("engines made: %d, want 0", n)
	}
}
