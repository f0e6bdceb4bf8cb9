package server

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// secondBlocks builds echo Protocols; its second BuildProtocol waits for
// release.
type secondBlocks struct {
	n                atomic.Int32
	entered, release chan struct{}
}

func (f *secondBlocks) BuildProtocol(net.Addr) weft.Protocol {
	if f.n.Add(1) == 2 {
		close(f.entered)
		<-f.release
	}
	return &echo{}
}

// TestGrantedThenShutdown: a queued client that got a slot just as a
// graceful Shutdown began (its Protocol being built) is ended as a queued
// one at Shutdown is: RejectMessage and a clean end of stream, although it
// sent bytes the server never read; it was closed with those bytes unread,
// a reset that destroys any message. On both engines (with MaxConns, the
// engine serves net.Conns: no descriptor accept path).
func TestGrantedThenShutdown(t *testing.T) { onEngines(t, testGrantedThenShutdown) }

func testGrantedThenShutdown(t *testing.T, engine *weft.Engine) {
	const msg = "shutting down\r\n"
	f := &secondBlocks{entered: make(chan struct{}), release: make(chan struct{})}
	s := &Server{Factory: f, MaxConns: 1, Overflow: QueueFIFO, RejectMessage: []byte(msg), Engine: engine}
	addr := serve(t, s)
	a := dial(t, addr)
	roundTrip(t, a, "A")
	b := dial(t, addr)
	b.Write([]byte("sent while queued"))
	waitFor(t, "B queued", func() bool { return s.Snapshot().Queued == 1 })
	a.Close()
	<-f.entered // B has its slot; its Protocol is being built
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	waitFor(t, "shutdown begun", s.isClosing)
	close(f.release)
	if got := readToEOF(t, b); string(got) != msg {
		t.Fatalf("B got %q, want %q then EOF", got, msg)
	}
	b.Close()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if snap := s.Snapshot(); snap.Closed["shutdown"] != 1 || snap.Active != 0 {
		t.Errorf("closed %v, active %d; want B's end counted as shutdown", snap.Closed, snap.Active)
	}
}
