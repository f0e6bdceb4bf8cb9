package server

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// TestQueue is the queue scenario of DESIGN.md §4 over loopback: MaxConns=2;
// A and B are echoed; C then D connect and each send 10 KiB in small writes
// at once; neither gets a byte while waiting; when A leaves, the first in
// line (C for FIFO, D for LIFO) gets all of its 10 KiB echoed in order; when
// B leaves, the other one does too.
func TestQueue(t *testing.T) {
	for _, tc := range []struct {
		policy Overflow
		first  string
	}{
		{QueueFIFO, "C"},
		{QueueLIFO, "D"},
	} {
		for name, engine := range engines(t) {
			t.Run(tc.policy.String()+"/"+name, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), MaxConns: 2, Overflow: tc.policy, Engine: engine(t)}
				addr := serve(t, s)
				a, b := dial(t, addr), dial(t, addr)
				roundTrip(t, a, "hello from A")
				roundTrip(t, b, "hello from B")

				const size = 10 << 10
				waiting := map[string]net.Conn{}
				for i, who := range []string{"C", "D"} {
					c := dial(t, addr)
					sendSmall(t, c, pattern(who[0], size))
					waitFor(t, who+" queued", func() bool { return s.Snapshot().Queued == int64(i+1) })
					waiting[who] = c
				}
				silent(t, waiting["C"], "C")
				silent(t, waiting["D"], "D")
				second := map[string]string{"C": "D", "D": "C"}[tc.first]

				a.Close()
				got := readN(t, waiting[tc.first], size)
				if want := pattern(tc.first[0], size); !bytes.Equal(got, want) {
					t.Fatalf("%s got %d bytes, not its own 10 KiB in order", tc.first, len(got))
				}
				silent(t, waiting[second], second)

				b.Close()
				got = readN(t, waiting[second], size)
				if want := pattern(second[0], size); !bytes.Equal(got, want) {
					t.Fatalf("%s got %d bytes, not its own 10 KiB in order", second, len(got))
				}
				roundTrip(t, waiting[second], "still echoing")
				if snap := s.Snapshot(); snap.Queued != 0 || snap.Active != 2 {
					t.Errorf("snapshot: queued %d active %d, want 0 and 2", snap.Queued, snap.Active)
				}
			})
		}
	}
}

// TestQueueOrderAfterHandshake: on a listener with a handshake (here a
// PROXY header), connections reach the queue when their handshake ends, not
// in the order they connected; the queue still follows the connection order.
// C connects before D but sends its header after D's: when A leaves, FIFO
// serves C (the older), LIFO serves D (the newer).
func TestQueueOrderAfterHandshake(t *testing.T) {
	for _, tc := range []struct {
		policy        Overflow
		first, second string
	}{
		{QueueFIFO, "C", "D"},
		{QueueLIFO, "D", "C"},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: tc.policy}
				l := newPipeListener()
				done := make(chan error, 1)
				go func() {
					done <- s.ServeProxy(tcpAddrListener{l}, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
				}()
				defer func() { s.Close(); <-done }()
				send := func(c net.Conn, who string) {
					go c.Write(append(proxyHeader(t, 2, "203.0.113.7:4242"), who...))
				}
				a := l.Dial()
				defer a.Close()
				send(a, "A")
				if b := make([]byte, 1); !readWithin(t, a, b) || string(b) != "A" {
					t.Fatalf("A got %q, want its echo", b)
				}
				conns := map[string]net.Conn{}
				for _, who := range []string{"C", "D"} { // accepted in this order
					conns[who] = l.Dial()
					defer conns[who].Close()
					synctest.Wait()
				}
				for i, who := range []string{"D", "C"} { // queued in this order
					send(conns[who], who)
					synctest.Wait()
					if n := s.Snapshot().Queued; n != int64(i+1) {
						t.Fatalf("%d queued after %s's header, want %d", n, who, i+1)
					}
				}
				a.Close()
				if b := make([]byte, 1); !readWithin(t, conns[tc.first], b) || string(b) != tc.first {
					t.Fatalf("%s got %q when A left, want its echo (%v serves it first)", tc.first, b, tc.policy)
				}
				synctest.Wait()
				if n := s.Snapshot().Queued; n != 1 {
					t.Errorf("%d queued after A left, want %s still queued", n, tc.second)
				}
			})
		})
	}
}

// readWithin reads len(b) bytes from c (a pipe, in a synctest bubble) within
// a minute of fake time and reports whether it did.
func readWithin(t *testing.T, c net.Conn, b []byte) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	defer c.SetReadDeadline(time.Time{})
	_, err := io.ReadFull(c, b)
	if err != nil {
		t.Logf("read: %v", err)
	}
	return err == nil
}

// TestQueueHangupSkipped: a queued client that hangs up leaves the queue
// without taking a slot — found either by the periodic check or when its
// turn comes. On both engines (with MaxConns, the engine serves net.Conns:
// no descriptor accept path).
func TestQueueHangupSkipped(t *testing.T) {
	for _, wait := range []bool{true, false} {
		name := map[bool]string{true: "periodic", false: "at-dequeue"}[wait]
		t.Run(name, func(t *testing.T) {
			onEngines(t, func(t *testing.T, engine *weft.Engine) { testQueueHangupSkipped(t, engine, wait) })
		})
	}
}

func testQueueHangupSkipped(t *testing.T, engine *weft.Engine, wait bool) {
	s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO, Engine: engine}
	addr := serve(t, s)
	a := dial(t, addr)
	roundTrip(t, a, "A")
	c := dial(t, addr)
	waitFor(t, "C queued", func() bool { return s.Snapshot().Queued == 1 })
	d := dial(t, addr)
	waitFor(t, "D queued", func() bool { return s.Snapshot().Queued == 2 })
	c.Close()
	if wait {
		waitFor(t, "C to leave the queue", func() bool { return s.Snapshot().Queued == 1 })
	}
	a.Close()
	roundTrip(t, d, "D is served")
	waitFor(t, "hang-up counted", func() bool { return s.Snapshot().Closed["queue hangup"] == 1 })
	if snap := s.Snapshot(); snap.Active != 1 || snap.Queued != 0 {
		t.Errorf("active %d queued %d, want 1 and 0", snap.Active, snap.Queued)
	}
}

// TestQueueTimeout: a client queued longer than QueueTimeout receives the
// reject message and the end of the stream, although it sent 10 KiB that the
// server never read: the server half-closes and lingers, discarding what the
// client sends, instead of closing with unread bytes (a reset, which on a
// real network can destroy the message before it arrives). On both engines (with MaxConns, the engine serves net.Conns:
// no descriptor accept path).
func TestQueueTimeout(t *testing.T) { onEngines(t, testQueueTimeout) }

func testQueueTimeout(t *testing.T, engine *weft.Engine) {
	const msg = "Too many connections, try later\r\n"
	s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO,
		QueueTimeout: 100 * time.Millisecond, RejectMessage: []byte(msg), Engine: engine}
	addr := serve(t, s)
	a := dial(t, addr)
	roundTrip(t, a, "A")
	c := dial(t, addr)
	sendSmall(t, c, pattern('C', 10<<10))
	if got := string(readToEOF(t, c)); got != msg {
		t.Fatalf("queued client received %q, want %q then EOF", got, msg)
	}
	// Still lingering: what the client sends now is read and discarded (a
	// reset would fail this write).
	if _, err := c.Write([]byte("more")); err != nil {
		t.Fatalf("write after the reject message: %v; want the server reading and discarding", err)
	}
	c.Close()
	waitFor(t, "one queue timeout counted", func() bool {
		snap := s.Snapshot()
		return snap.Rejected["queue timeout"] == 1 && snap.Closed["queue timeout"] == 1
	})
	roundTrip(t, a, "A still served")
}

// TestQueueTimeoutReleasesPeer: a queued connection counts against its
// peer's MaxConnsPerPeer until it leaves the queue; once it timed out, the
// peer may queue another (fake time, over pipes that all come from
// 127.0.0.1).
func TestQueueTimeoutReleasesPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const msg = "busy\r\n"
		s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO, MaxConnsPerPeer: 2,
			QueueTimeout: 10 * time.Second, RejectMessage: []byte(msg)}
		l := newPipeListener()
		done := make(chan error, 1)
		go func() { done <- s.Serve(tcpAddrListener{l}) }()
		defer func() { s.Close(); <-done }()
		a := l.Dial()
		defer a.Close()
		go a.Write([]byte("A"))
		if b := make([]byte, 1); !readWithin(t, a, b) || string(b) != "A" {
			t.Fatalf("A got %q, want its echo", b)
		}
		for _, who := range []string{"B", "C"} { // one after the other
			c := l.Dial()
			defer c.Close()
			synctest.Wait()
			if n := s.Snapshot().Queued; n != 1 {
				t.Fatalf("%s: %d queued, want 1 (rejected per peer: %d)", who, n, s.Snapshot().Rejected["per peer"])
			}
			b := make([]byte, len(msg))
			if !readWithin(t, c, b) || string(b) != msg {
				t.Fatalf("%s got %q after QueueTimeout, want %q", who, b, msg)
			}
			c.Close()
			synctest.Wait()
		}
		if snap := s.Snapshot(); snap.Rejected["queue timeout"] != 2 || snap.Rejected["per peer"] != 0 {
			t.Errorf("rejected %v, want 2 queue timeouts and none per peer", snap.Rejected)
		}
	})
}

// TestMaxQueue: beyond MaxQueue a connection is rejected with the message
// and a clean end of stream (it had sent bytes); the queued one keeps its
// place. On both engines (with MaxConns, the engine serves net.Conns:
// no descriptor accept path).
func TestMaxQueue(t *testing.T) { onEngines(t, testMaxQueue) }

func testMaxQueue(t *testing.T, engine *weft.Engine) {
	const msg = "Too many connections, try later\r\n"
	s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueLIFO, MaxQueue: 1,
		RejectMessage: []byte(msg), Engine: engine}
	addr := serve(t, s)
	a := dial(t, addr)
	roundTrip(t, a, "A")
	c := dial(t, addr)
	if _, err := c.Write([]byte("C waits")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "C queued", func() bool { return s.Snapshot().Queued == 1 })
	d := dial(t, addr)
	if _, err := d.Write([]byte("D is one too many")); err != nil {
		t.Fatal(err)
	}
	if got := string(readToEOF(t, d)); got != msg {
		t.Fatalf("client beyond MaxQueue received %q, want %q", got, msg)
	}
	if n := s.Snapshot().Rejected["max queue"]; n != 1 {
		t.Errorf("rejected max queue = %d, want 1", n)
	}
	a.Close()
	if got := string(readN(t, c, len("C waits"))); got != "C waits" {
		t.Fatalf("C got %q", got)
	}
}

// TestRejectMessage: over MaxConns with Reject, a client receives exactly the
// message, then the end of the stream. On both engines (with MaxConns, the engine serves net.Conns:
// no descriptor accept path).
func TestRejectMessage(t *testing.T) {
	for _, msg := range []string{"Too many connections, try later\r\n", ""} {
		t.Run(strings.TrimSpace(msg), func(t *testing.T) {
			onEngines(t, func(t *testing.T, engine *weft.Engine) { testRejectMessage(t, engine, msg) })
		})
	}
}

func testRejectMessage(t *testing.T, engine *weft.Engine, msg string) {
	s := &Server{Factory: echoFactory(), MaxConns: 1, RejectMessage: []byte(msg), Engine: engine}
	addr := serve(t, s)
	a := dial(t, addr)
	roundTrip(t, a, "A")
	b := dial(t, addr)
	if got := string(readAll(t, b)); got != msg {
		t.Fatalf("rejected client received %q, want %q", got, msg)
	}
	waitFor(t, "rejection counted", func() bool {
		snap := s.Snapshot()
		return snap.Rejected["max conns"] == 1 && snap.Closed["rejected"] == 1
	})
	b.Close()
	a.Close()
	waitFor(t, "A gone", func() bool { return s.Snapshot().Active == 0 })
	c := dial(t, addr)
	roundTrip(t, c, "a slot freed")
}

// TestOverflowFactory: over MaxConns, the overflow Protocol runs instead, for
// at most MaxQueue connections at once; beyond, a connection is rejected.
// On both engines (with MaxConns, the engine serves net.Conns:
// no descriptor accept path).
func TestOverflowFactory(t *testing.T) { onEngines(t, testOverflowFactory) }

func testOverflowFactory(t *testing.T, engine *weft.Engine) {
	const msg = "Too many connections, try later\r\n"
	s := &Server{Factory: echoFactory(), MaxConns: 1, MaxQueue: 1, RejectMessage: []byte(msg), Engine: engine,
		OverflowFactory: factoryOf(func() *greeter { return &greeter{msg: "busy, but echoing\n"} })}
	addr := serve(t, s)
	a := dial(t, addr)
	roundTrip(t, a, "A")
	b := dial(t, addr)
	if got := string(readN(t, b, len("busy, but echoing\n"))); got != "busy, but echoing\n" {
		t.Fatalf("overflow client got %q", got)
	}
	roundTrip(t, b, "overflow echo")
	if s.Len() != 2 {
		t.Errorf("Len = %d, want 2 (one regular, one overflow)", s.Len())
	}
	if got := string(readToEOF(t, dial(t, addr))); got != msg {
		t.Fatalf("client beyond MaxQueue overflow connections got %q, want %q", got, msg)
	}
	if n := s.Snapshot().Rejected["max queue"]; n != 1 {
		t.Errorf("rejected max queue = %d, want 1", n)
	}
	// An overflow connection's end frees an overflow place, not A's slot:
	// the next client is still over MaxConns.
	b.Close()
	waitFor(t, "B gone", func() bool { return s.Len() == 1 })
	c := dial(t, addr)
	if got := string(readN(t, c, len("busy, but echoing\n"))); got != "busy, but echoing\n" {
		t.Fatalf("client after the overflow one ended got %q, want the overflow greeting", got)
	}
}

// TestQueuedPrereadThenHangup: a queued client whose first bytes the server
// already read (after a PROXY header from a trusted source, or while
// sniffing an untrusted one) and that then hung up is served when its turn
// comes, as any client that sent bytes and then hung up: its bytes, then
// EOF — not dropped as a hang-up with its bytes lost.
func TestQueuedPrereadThenHangup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted string
		header  bool
	}{
		{"trusted-header", "127.0.0.1/32", true},
		{"untrusted", "10.0.0.0/8", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO}
			addr := serveProxy(t, s, tc.trusted)
			a := dial(t, addr)
			roundTrip(t, a, "A")
			b := dial(t, addr)
			var msg []byte
			if tc.header {
				msg = proxyHeader(t, 2, "203.0.113.7:4242")
			}
			msg = append(msg, "hello"...)
			if _, err := b.Write(msg); err != nil {
				t.Fatal(err)
			}
			b.(*net.TCPConn).CloseWrite()
			waitFor(t, "B queued", func() bool { return s.Snapshot().Queued == 1 })
			a.Close()
			if got := string(readAll(t, b)); got != "hello" {
				t.Fatalf("queued client got %q, want its bytes echoed, then EOF", got)
			}
			if n := s.Snapshot().Closed["queue hangup"]; n != 0 {
				t.Errorf("queue hangup counted %d times, want 0", n)
			}
		})
	}
}
