//go:build linux

package client

import (
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// Reconnecting on the readiness engine: the connection is served by the
// engine, survives a server restart, and Stop ends it with the same order of
// callbacks and hooks as on the goroutine engine; nothing outlives Stop and
// Engine.Close (goleak in TestMain).
func TestReviewReconnectingEngine(t *testing.T) {
	e, err := weft.NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	srv := newHelloServer(t, "127.0.0.1:0")
	addr := srv.ln.Addr().String()
	var ev events
	r := &Reconnecting{
		Endpoint: "tcp:" + addr,
		Factory:  &recFactory{ev: &ev},
		Backoff:  &Exponential{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond, Multiplier: 2},
		Conn:     &weft.Options{Engine: e},
	}
	hook(r, &ev)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	waitFor(t, &ev, `data 1 "hello\n"`)
	srv.close()
	waitFor(t, &ev, "failed 1")
	newHelloServer(t, addr)
	waitFor(t, &ev, `data 2 "hello\n"`)
	r.Stop()
	if err := r.Wait(); err != nil {
		t.Errorf("Run = %v after Stop", err)
	}
	got := ev.snapshot()
	if n := len(got); n < 2 || got[n-2] != "connectionLost 2 <nil>" || got[n-1] != "lost <nil> next -1ns" {
		t.Errorf("events end %q, want ConnectionLost then the GiveUp hook", got)
	}
}
