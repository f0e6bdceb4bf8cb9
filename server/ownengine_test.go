package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// TestOwnEngineUnavailable: where no readiness engine can be made the
// server serves a goroutine per connection; a platform without one
// (weft.ErrNotSupported) is silent, any other failure (say, no descriptor
// for epoll) is logged at Warn.
func TestOwnEngineUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		warn bool
	}{
		{"not supported", weft.ErrNotSupported, false},
		{"failed", errors.New("epoll_create1: too many open files"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			newOwnEngine = func() (*weft.Engine, error) { calls.Add(1); return nil, tc.err }
			t.Cleanup(func() { newOwnEngine = noOwnEngine })
			var logged testenv.SyncBuffer
			s := &Server{Factory: echoFactory(), Logger: slog.New(slog.NewTextHandler(&logged, nil))}
			l := loopback(t)
			serveWith(t, s, func() error { return s.Serve(l) })
			c := dial(t, l.Addr().String())
			roundTrip(t, c, "still served")
			if n := calls.Load(); n != 1 {
				t.Errorf("newOwnEngine called %d times, want 1", n)
			}
			if s.usesEngine() {
				t.Error("usesEngine = true without an engine")
			}
			warned := strings.Contains(logged.String(), "no readiness engine")
			if warned != tc.warn {
				t.Errorf("warned = %v, want %v; log: %q", warned, tc.warn, logged.String())
			}
		})
	}
}

// TestOwnEngineNotForPipes: connections that are no sockets (in-memory
// pipes) make no engine, so that a server with the default settings runs
// in a synctest bubble: an engine's poller is no durable block, and fake
// time would never advance (the bubble's test then hangs). Here an hour of
// fake time passes while a pipe client is served.
func TestOwnEngineNotForPipes(t *testing.T) {
	made := withOwnEngine(t)
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: echoFactory()}
		pl := newPipeListener()
		done := make(chan error, 1)
		go func() { done <- s.Serve(pl) }()
		c := pl.Dial()
		roundTrip(t, c, "before")
		time.Sleep(time.Hour)
		roundTrip(t, c, "after an hour")
		c.Close()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown = %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	if n := made.Load(); n != 0 {
		t.Errorf("engines made: %d, want 0", n)
	}
}

// loopback listens on a fresh port of 127.0.0.1.
func loopback(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
