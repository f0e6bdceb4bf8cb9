package weft_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestEngineCloseEndsConnections: closing an engine under live
// connections ends each of them (ConnectionLost with ErrServerShutdown,
// the socket closed, the peer told) instead of leaving them registered in
// an epoll set no one watches, where they would never learn of their
// peer's close.
func TestEngineCloseEndsConnections(t *testing.T) {
	e, err := weft.NewEngine()
	if err != nil {
		t.Skip(err)
	}
	const n = 4
	type live struct {
		r    *recorder
		done chan error
	}
	var conns [n]live
	var peers [n]net.Conn
	for i := range conns {
		s, c := tcpPair(t)
		r := newRecorder(t)
		done := make(chan error, 1)
		weft.NewConn(s, r, &weft.Options{Engine: e}).Start(func(err error) { done <- err })
		waitMade(t, r)
		conns[i] = live{r, done}
		peers[i] = c
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for i, l := range conns {
		select {
		case err := <-l.done:
			if !errors.Is(err, weft.ErrServerShutdown) {
				t.Errorf("connection %d: reason %v, want ErrServerShutdown", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("connection %d never ended after its engine closed", i)
		}
		peers[i].SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := peers[i].Read(make([]byte, 1)); err == nil {
			t.Errorf("connection %d: the peer read a byte, want the close", i)
		}
	}
}
