package server

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestCountersConsistentUnderChaos: many loopback clients behaving badly at
// once on a PROXY listener with every limit on (per-peer, handshakes, queue,
// queue timeout, handshake timeout) — headers from untrusted sources,
// stalled and garbled headers, resets, hang-ups while queued, bulk data —
// leave the server's books balanced once they are gone: every accepted
// connection closed exactly once (Accepted == the sum of Closed), no gauge
// negative or left up, no peer, pending or running entry left behind. The
// same with a graceful Shutdown (bounded by a short context) in the middle
// of it all, and with Close. On both engines; and on a plain listener
// without MaxConns ("plain"), where the engine takes the descriptor accept
// path (the PROXY bytes are then data, echoed; MaxConnsPerPeer still
// refuses).
func TestCountersConsistentUnderChaos(t *testing.T) {
	for _, stop := range []string{"none", "shutdown", "close"} {
		for _, listener := range []string{"proxy", "plain"} {
			t.Run(stop+"/"+listener, func(t *testing.T) {
				onEngines(t, func(t *testing.T, engine *weft.Engine) { testChaos(t, stop, listener, engine) })
			})
		}
	}
}

func testChaos(t *testing.T, stop, listener string, engine *weft.Engine) {
	s := &Server{Factory: echoFactory(), MaxConns: 2, Overflow: QueueFIFO, MaxQueue: 3,
		QueueTimeout: 300 * time.Millisecond, MaxConnsPerPeer: 3, HandshakeTimeout: 300 * time.Millisecond,
		MaxHandshakes: 6, RejectMessage: []byte("busy\r\n"), Engine: engine}
	var addr string
	if listener == "proxy" {
		addr = serveProxy(t, s, "127.0.0.1/32")
	} else {
		s.MaxConns = 0
		addr = serve(t, s)
		waitFor(t, "listening", func() bool { return len(s.Addrs()) == 1 })
		wantFDPath(t, s)
	}
	fds := openFDs(t) // the listener's included
	rng := rand.New(rand.NewPCG(1, 2))
	srcs := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	var wg sync.WaitGroup
	for i := range 80 {
		src := srcs[rng.IntN(len(srcs))]
		kind := rng.IntN(8)
		hold := time.Duration(rng.IntN(200)) * time.Millisecond
		wg.Go(func() {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			c, err := d.Dial("tcp4", addr)
			if err != nil {
				if stop == "none" {
					t.Errorf("client %d: %v", i, err)
				}
				return // the listener closed first
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			switch kind {
			case 0: // header (refused when untrusted), data, read a bit, leave
				c.Write(append(proxyHeader(t, byte(1+i%2), "203.0.113.9:1"), "hello\n"...))
				c.Read(make([]byte, 64))
			case 1: // stalled header
				c.Write(proxyHeader(t, 2, "203.0.113.9:1")[:14])
			case 2: // garbled header
				c.Write([]byte("PROXY TCP4 nope\r\n"))
			case 3: // reset
				c.Write([]byte("data"))
				c.(*net.TCPConn).SetLinger(0)
			case 4: // half-close after data
				c.Write([]byte("bye\n"))
				c.(*net.TCPConn).CloseWrite()
			case 5: // bulk
				c.Write(pattern('z', 30000))
			case 6: // silent
			case 7: // direct client that hangs up at once
				return
			}
			time.Sleep(hold)
		})
	}
	switch stop {
	case "shutdown":
		waitFor(t, "some connections", func() bool { return s.Snapshot().Accepted >= 30 })
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		err := s.Shutdown(ctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v", err)
		}
	case "close":
		waitFor(t, "some connections", func() bool { return s.Snapshot().Accepted >= 30 })
		s.Close()
	}
	wg.Wait()
	waitFor(t, "every connection ended", func() bool {
		snap := s.Snapshot()
		var closed int64
		for _, n := range snap.Closed {
			closed += n
		}
		return closed == snap.Accepted
	})
	snap := s.Snapshot()
	if (stop == "none" && snap.Accepted != 80) || snap.Active != 0 || snap.Queued != 0 || snap.Handshaking != 0 || snap.Lingering != 0 {
		t.Errorf("after all left: %+v", snap)
	}
	s.Close()
	if n := openFDs(t); n >= fds {
		t.Errorf("%d descriptors open after Close, %d with the listener open before the clients", n, fds)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.peers) != 0 || len(s.hsPeers) != 0 || len(s.pending) != 0 || s.conns.len() != 0 || len(s.conns.chunks) != 0 || s.active != 0 || s.queue.Len() != 0 {
		t.Errorf("left behind: peers %v, handshaking peers %v, pending %d, conns %d, active %d, queued %d",
			s.peers, s.hsPeers, len(s.pending), s.conns.len(), s.active, s.queue.Len())
	}
}

// openFDs counts the process's open descriptors (Linux; skips elsewhere).
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}
