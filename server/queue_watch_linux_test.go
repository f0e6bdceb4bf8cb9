package server

import (
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestQueueHangupSeenAtOnce: on Linux a queued connection's wait watches
// its socket, so a client that hangs up (a FIN, or a reset) leaves the
// queue at once and frees its place in MaxQueue for the next client, which
// is queued, not refused, and served in its turn. Before, the queue looked
// at its clients every QueuePollInterval (500 ms), with one system call
// per queued client each time: the place stayed taken for up to 500 ms
// (the first look at a new client came 500 ms after it was queued, so the
// 400 ms bound below failed every time). On both engines.
func TestQueueHangupSeenAtOnce(t *testing.T) {
	for _, reset := range []bool{false, true} {
		name := map[bool]string{false: "fin", true: "reset"}[reset]
		t.Run(name, func(t *testing.T) {
			onEngines(t, func(t *testing.T, engine *weft.Engine) {
				s := &Server{Factory: echoFactory(), MaxConns: 1, MaxQueue: 1, Overflow: QueueFIFO, Engine: engine}
				addr := serve(t, s)
				a := dial(t, addr)
				roundTrip(t, a, "A")
				b := dial(t, addr)
				waitFor(t, "B queued", func() bool { return s.Snapshot().Queued == 1 })
				if reset {
					b.(*net.TCPConn).SetLinger(0)
				}
				b.Close()
				left := false
				for end := time.Now().Add(400 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
					if left = s.Snapshot().Queued == 0; left {
						break
					}
				}
				if !left {
					t.Fatal("the queued client that hung up still held its place 400 ms later")
				}
				waitFor(t, "the hang-up counted", func() bool { return s.Snapshot().Closed["queue hangup"] == 1 })
				c := dial(t, addr)
				waitFor(t, "C queued", func() bool { return s.Snapshot().Queued == 1 })
				if _, err := c.Write([]byte("C waited")); err != nil {
					t.Fatal(err)
				}
				a.Close()
				got := make([]byte, len("C waited"))
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if err := readFull(c, got); err != nil || string(got) != "C waited" {
					t.Fatalf("C got %q, %v; want its bytes echoed once served", got, err)
				}
				if n := s.Snapshot().Rejected["max queue"]; n != 0 {
					t.Errorf("%d clients refused for max queue, want 0", n)
				}
			})
		})
	}
}
