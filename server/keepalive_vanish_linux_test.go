package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// tcpRepair is Linux's TCP_REPAIR socket option (not in package syscall).
const tcpRepair = 19

// vanish closes c's socket without a FIN or a reset: a socket in repair
// mode sends nothing when closed, so its peer is left half-open, as when
// the client's host loses power or its network. The peer's kernel answers
// the next segment to that port (a keep-alive probe) with a reset. It needs
// CAP_NET_ADMIN; the test is skipped without it.
func vanish(t *testing.T, c net.Conn) {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpRepair, 1)
	}); err != nil {
		t.Fatal(err)
	}
	if errors.Is(serr, syscall.EPERM) {
		t.Skipf("TCP_REPAIR needs CAP_NET_ADMIN, which this test process lacks: %v", serr)
	}
	if serr != nil {
		t.Fatalf("setsockopt(TCP_REPAIR): %v", serr)
	}
	c.Close()
}

// lostProto greets, optionally pauses reading for good, echoes, and
// reports its ConnectionLost reason.
type lostProto struct {
	t     weft.Transport
	pause bool
	lost  chan<- error
}

func (p *lostProto) ConnectionMade(t weft.Transport) {
	p.t = t
	t.Write([]byte("hi\n"))
	if p.pause {
		t.PauseReading()
	}
}
func (p *lostProto) DataReceived(b []byte)       { p.t.Write(b) }
func (p *lostProto) ConnectionLost(reason error) { p.lost <- reason }

// TestKeepAliveEndsVanishedPeer: a client that vanishes without a FIN or
// a reset leaves a half-open connection that nothing else would end (no
// IdleTimeout here), even one whose reading is paused for good.
// Server.KeepAlive's probe finds the peer gone (its kernel answers with a
// reset), and the connection ends with ECONNRESET, on both accept paths
// (the descriptor path runs on the readiness engine), and behind a PROXY
// header, and over TLS (the server's handshake done). With keep-alive off,
// the same connection is still open seconds later: the keep-alive is what
// ended it.
func TestKeepAliveEndsVanishedPeer(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		fd, pause, proxy, tls bool
		keepAlive             time.Duration
	}{
		{"descriptor", true, false, false, false, time.Second},
		{"descriptor/paused", true, true, false, false, time.Second},
		{"listener", false, false, false, false, time.Second},
		{"listener/paused", false, true, false, false, time.Second},
		{"proxy/paused", false, true, true, false, time.Second},
		{"tls/paused", false, true, false, true, time.Second},
		{"descriptor/off", true, false, false, false, -1},
		{"listener/off", false, true, false, false, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lost := make(chan error, 1)
			s := &Server{
				Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol {
					return &lostProto{pause: tc.pause, lost: lost}
				}),
				KeepAlive: tc.keepAlive,
			}
			var addr string
			var cliTLS *tls.Config
			if tc.fd {
				var done <-chan error
				addr, _, done = fdServer(t, s)
				t.Cleanup(func() { s.Close(); <-done })
			} else if tc.proxy {
				addr = serveProxy(t, s, "127.0.0.1/32")
			} else if tc.tls {
				var srvTLS *tls.Config
				srvTLS, cliTLS = testTLS(t)
				l, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				serveWith(t, s, func() error { return s.Serve(tls.NewListener(l, srvTLS)) })
				addr = l.Addr().String()
			} else {
				addr = serve(t, s)
			}
			c := dial(t, addr)
			var rd net.Conn = c
			if tc.proxy {
				if _, err := c.Write(proxyHeader(t, 2, "203.0.113.7:4242")); err != nil {
					t.Fatal(err)
				}
			}
			if tc.tls {
				rd = tls.Client(c, cliTLS)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if b := make([]byte, 3); readFull(rd, b) != nil || string(b) != "hi\n" {
				t.Fatalf("no greeting: %q", b)
			}
			if byFD(s) != tc.fd {
				t.Fatalf("descriptor accept path used: %v, want %v", byFD(s), tc.fd)
			}
			// Everything sent is acknowledged (no retransmission, which
			// would find the peer gone too): only the keep-alive timer
			// is pending on the server's socket, or none when it is off.
			fd, _, _, _, _ := keepAliveOf(t, c)
			want := map[bool]string{true: "02", false: "00"}[tc.keepAlive > 0]
			for end := time.Now().Add(3 * time.Second); timerOf(t, fd) != want; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(end) {
					t.Fatalf("the server socket's timer is %s, want %s", timerOf(t, fd), want)
				}
			}
			vanish(t, c)
			if tc.keepAlive < 0 {
				select {
				case reason := <-lost:
					t.Fatalf("without keep-alive the half-open connection ended: %v", reason)
				case <-time.After(3 * time.Second):
				}
				if n := s.Snapshot().Active; n != 1 {
					t.Errorf("%d connections open, want the half-open one", n)
				}
				return
			}
			select {
			case reason := <-lost:
				if !errors.Is(reason, syscall.ECONNRESET) {
					t.Errorf("ConnectionLost(%v), want ECONNRESET from the keep-alive probe's answer", reason)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the half-open connection did not end within 20 s with keep-alive at 1 s")
			}
		})
	}
}

func readFull(c net.Conn, b []byte) error { _, err := io.ReadFull(c, b); return err }

// TestKeepAliveEndsVanishedQueuedClient: a queued client that vanishes
// without a FIN or a reset (vanish) leaves the queue once the keep-alive
// probe gets its kernel's reset: the queue's wait watches the socket
// (waitWatching), so the probe's answer ends it as a hang-up, and its
// place in MaxQueue is free again. On both engines (with MaxConns the
// listener path serves both).
func TestKeepAliveEndsVanishedQueuedClient(t *testing.T) {
	onEngines(t, func(t *testing.T, engine *weft.Engine) {
		s := &Server{Factory: echoFactory(), MaxConns: 1, MaxQueue: 1, Overflow: QueueFIFO, KeepAlive: time.Second, Engine: engine}
		addr := serve(t, s)
		a := dial(t, addr)
		roundTrip(t, a, "A")
		b := dial(t, addr)
		waitFor(t, "B queued", func() bool { return s.Snapshot().Queued == 1 })
		vanish(t, b)
		deadline := time.Now().Add(20 * time.Second)
		for s.Snapshot().Closed["queue hangup"] != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("the vanished queued client was not dropped within 20 s (keep-alive 1 s): %+v", s.Snapshot())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n := s.Snapshot().Queued; n != 0 {
			t.Errorf("%d queued, want 0", n)
		}
		roundTrip(t, a, "A still served")
	})
}
