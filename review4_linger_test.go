package weft_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/server"
)

// Adversarial review of 55eed04: a graceful close of a Linux TCP socket
// whose kernel holds output the peer has not acknowledged lingers
// (half-closed, discarding input) until the peer's end, the linger bound,
// or the acknowledgement of all the output (SIOCOUTQ, polled).

// outputLingerPairs are the TCP transports on which a close lingers for
// queued output: the goroutine engine and the readiness engine.
var outputLingerPairs = []struct {
	name string
	pair func(t testing.TB) (net.Conn, net.Conn)
}{
	{"tcp", tcpPair},
	{"epoll", enginePair},
}

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the send queue is read with SIOCOUTQ, on Linux only")
	}
}

// queuedReply makes the server s write size bytes at ConnectionMade, then
// call then (LoseConnection, say); the client c's small receive window
// leaves most of it in the server's kernel. It returns the recorder, the
// reply, Serve's channel, the Conn, and waits until the kernel took it all.
func queuedReply(t *testing.T, s, c net.Conn, size int, opts *weft.Options, then func(weft.Transport)) (*recorder, []byte, *weft.Conn, <-chan error) {
	t.Helper()
	if err := tcpUnder(t, s).SetWriteBuffer(4 * size); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	reply := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	var counters weft.Counters
	o := weft.Options{MaxWriteBuffer: 2 * size}
	if opts != nil {
		o = *opts
	}
	o.Counters = &counters
	r := newRecorder(t)
	r.onMade = func(tr weft.Transport) {
		tr.Write(reply)
		then(tr)
	}
	conn, done := serveConn(s, r, &o)
	for deadline := time.Now().Add(10 * time.Second); counters.BytesOut.Load() != int64(size); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bytes handed to the kernel after 10 s", counters.BytesOut.Load(), size)
		}
	}
	return r, reply, conn, done
}

// A peer that never reads and never closes: the close lingers (the output
// is queued), ends at the linger bound with ConnectionLost(nil), releases
// the descriptor, and the kernel still delivers the rest afterwards (no
// input arrives, so no reset).
func TestReview4LingerNeverReadingPeer(t *testing.T) {
	skipUnlessLinux(t)
	const bound = 300 * time.Millisecond
	t.Cleanup(weft.SetCloseLinger(bound))
	for _, tc := range outputLingerPairs {
		t.Run(tc.name, func(t *testing.T) {
			before := openFDs(t)
			s, c := tc.pair(t)
			start := time.Now()
			r, reply, _, done := queuedReply(t, s, c, 1<<20, nil, func(tr weft.Transport) { tr.LoseConnection() })
			reason := waitLostWithin(t, r, 5*time.Second)
			took := time.Since(start)
			if reason != nil {
				t.Errorf("ConnectionLost(%v), want nil", reason)
			}
			if took < bound*3/4 {
				t.Errorf("ConnectionLost after %v: no linger (bound %v)", took, bound)
			}
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve: %v", err)
			}
			got, err := readAllWithin(t, c)
			if err != nil || !bytes.Equal(got, reply) {
				t.Errorf("peer read %d of %d bytes after the close, then %v", len(got), len(reply), err)
			}
			c.Close()
			s.Close()
			if after := openFDs(t); after > before {
				t.Errorf("%d descriptors open before, %d after", before, after)
			}
		})
	}
}

// Abort and Close(reason) during a linger for queued output end it at
// once; Abort resets the connection (the peer sees the reset, not the
// rest of the output).
func TestReview4LingerAbortDuringOutputLinger(t *testing.T) {
	skipUnlessLinux(t)
	longLinger(t)
	for _, tc := range outputLingerPairs {
		for _, rst := range []bool{false, true} {
			name := tc.name + "/close"
			if rst {
				name = tc.name + "/abort"
			}
			t.Run(name, func(t *testing.T) {
				s, c := tc.pair(t)
				r, reply, conn, done := queuedReply(t, s, c, 1<<20, nil, func(tr weft.Transport) { tr.LoseConnection() })
				select {
				case <-r.lostCh:
					t.Fatal("ConnectionLost with the output queued: no linger")
				case <-time.After(300 * time.Millisecond):
				}
				start := time.Now()
				if rst {
					conn.Transport().Abort()
				} else {
					conn.Close(errReviewCut)
				}
				reason := waitLostWithin(t, r, 5*time.Second)
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("ConnectionLost %v after the abort", d)
				}
				t.Logf("reason %v", reason)
				waitServe(t, done)
				got, err := readAllWithin(t, c)
				if rst {
					if !errors.Is(err, syscall.ECONNRESET) {
						t.Errorf("peer read %d bytes, then %v; want a reset", len(got), err)
					}
				} else if err != nil || !bytes.Equal(got, reply) {
					t.Errorf("peer read %d of %d bytes, then %v; want all", len(got), len(reply), err)
				}
			})
		}
	}
}

// A peer that reads slowly but steadily: the linger goes on past its bound
// while output is still being acknowledged (see
// TestLingerGoesOnWhileThePeerTakesOutput), and the peer gets everything
// and a clean end. (Until stop 32 the linger ended at its bound here and
// the kernel sent the rest on its own.)
func TestReview4LingerSlowReader(t *testing.T) {
	skipUnlessLinux(t)
	const bound = 300 * time.Millisecond
	t.Cleanup(weft.SetCloseLinger(bound))
	for _, tc := range outputLingerPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r, reply, _, done := queuedReply(t, s, c, 1<<20, nil, func(tr weft.Transport) { tr.LoseConnection() })
			var got []byte
			buf := make([]byte, 4<<10)
			lostAt := -1
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			var err error
			for {
				var n int
				n, err = c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
				if lostAt < 0 {
					select {
					case <-r.lostCh:
						lostAt = len(got)
					default:
					}
				}
				time.Sleep(2 * time.Millisecond) // about 2 MB/s at most
			}
			if err != io.EOF || !bytes.Equal(got, reply) {
				t.Errorf("peer read %d of %d bytes, then %v; want all, then the end", len(got), len(reply), err)
			}
			t.Logf("ConnectionLost after the peer read %d of %d bytes (-1: after all of it)", lostAt, len(reply))
			if reason := waitLostWithin(t, r, 5*time.Second); reason != nil {
				t.Errorf("ConnectionLost(%v), want nil", reason)
			}
			waitServe(t, done)
		})
	}
}

// A unix socket does not linger for output only: the peer holds its side
// open and reads nothing, yet the connection ends at once (the linger is a
// minute) and the peer still reads everything.
func TestReview4LingerUnixNoOutputLinger(t *testing.T) {
	longLinger(t)
	for _, tc := range lingerPairs[2:] {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			reply := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB, fits in the socket
			r := newRecorder(t)
			r.onMade = func(tr weft.Transport) {
				tr.Write(reply)
				tr.LoseConnection()
			}
			_, done := serveConn(s, r, nil)
			if reason := waitLostWithin(t, r, lingerBound); reason != nil {
				t.Errorf("ConnectionLost(%v), want nil", reason)
			}
			waitServe(t, done)
			if got, err := readAllWithin(t, c); err != nil || !bytes.Equal(got, reply) {
				t.Errorf("peer read %d of %d bytes, then %v", len(got), len(reply), err)
			}
		})
	}
}

// TLS on the goroutine engine, a *tls.Conn handed to NewConn, and a
// StartTLS after its handshake, on both engines (the readiness engine hands
// the connection over to a goroutine for the switch): the close sends close_notify, lingers
// while the output is queued, and ends once the peer took it all (the
// bound is a minute); the peer gets everything and a clean end.
func TestReview4LingerTLSOutput(t *testing.T) {
	skipUnlessLinux(t)
	longLinger(t)
	cfg, pool := testCert(t)
	cc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	const size = 1 << 20
	reply := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	prep := func(t *testing.T, s, c net.Conn) {
		if err := tcpUnder(t, s).SetWriteBuffer(4 * size); err != nil {
			t.Fatal(err)
		}
		// 64 KiB: with a smaller window the TLS records crawl (about
		// 7 s for 1 MiB on loopback, with or without the runtime).
		if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
			t.Fatal(err)
		}
	}
	check := func(t *testing.T, tc *tls.Conn, lost <-chan struct{}, wrote *atomic.Bool) {
		for deadline := time.Now().Add(10 * time.Second); !wrote.Load(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no LoseConnection within 10 s")
			}
		}
		select {
		case <-lost:
			t.Log("ConnectionLost before the peer read (the output was not queued)")
		case <-time.After(300 * time.Millisecond):
		}
		tc.SetReadDeadline(time.Now().Add(10 * time.Second))
		t0 := time.Now()
		got, err := io.ReadAll(tc)
		t.Logf("read %d bytes in %v", len(got), time.Since(t0))
		if err != nil || !bytes.Equal(got, reply) {
			t.Fatalf("peer read %d of %d bytes, then %v; want all and close_notify", len(got), len(reply), err)
		}
	}
	t.Run("tls.Conn", func(t *testing.T) {
		s, c := tcpPair(t)
		prep(t, s, c)
		var wrote atomic.Bool
		r := newRecorder(t)
		r.onMade = func(tr weft.Transport) {
			tr.Write(reply)
			tr.LoseConnection()
			wrote.Store(true)
		}
		_, done := serveConn(tls.Server(s, cfg), r, &weft.Options{MaxWriteBuffer: 4 * size})
		tc := tls.Client(c, cc)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		check(t, tc, r.lostCh, &wrote)
		t0 := time.Now()
		if reason := waitLostWithin(t, r, lingerBound); reason != nil {
			t.Errorf("ConnectionLost(%v), want nil", reason)
		}
		t.Logf("lost %v after the read", time.Since(t0))
		waitServe(t, done)
	})
	for _, tr := range outputLingerPairs {
		t.Run("starttls/"+tr.name, func(t *testing.T) {
			s, c := tr.pair(t)
			prep(t, s, c)
			srv := newSTServer(cfg)
			var wrote atomic.Bool
			srv.tlsData = func(tr weft.Transport, d []byte) {
				tr.Write(reply)
				tr.LoseConnection()
				wrote.Store(true)
			}
			_, done := serveConn(s, srv, &weft.Options{MaxWriteBuffer: 4 * size})
			_, tc, _ := stClient(t, c, cc)
			if _, err := tc.Write([]byte("go")); err != nil {
				t.Fatal(err)
			}
			lost := make(chan struct{})
			var reason error
			go func() { reason = <-srv.lost; close(lost) }()
			check(t, tc, lost, &wrote)
			select {
			case <-lost:
				if reason != nil {
					t.Errorf("ConnectionLost(%v), want nil", reason)
				}
			case <-time.After(lingerBound):
				t.Fatal("no ConnectionLost after the peer took everything")
			}
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
		})
	}
}

// Many connections lingering for queued output at once on the readiness
// engine all end at the bound, each with ConnectionLost(nil), and release
// their descriptors.
func TestReview4LingerManyEngine(t *testing.T) {
	skipUnlessLinux(t)
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	const bound = 500 * time.Millisecond
	t.Cleanup(weft.SetCloseLinger(bound))
	const n = 200
	before := openFDs(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reply := bytes.Repeat([]byte("x"), 256<<10)
	var (
		wg      sync.WaitGroup
		lost    atomic.Int32
		bad     atomic.Int32
		clients []net.Conn
	)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetReadBuffer(4 << 10)
		clients = append(clients, c)
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		s.(*net.TCPConn).SetWriteBuffer(1 << 20)
		r := newRecorder(t)
		r.onMade = func(tr weft.Transport) {
			tr.Write(reply)
			tr.LoseConnection()
		}
		done := serve(engineConn{s.(*net.TCPConn)}, r, &weft.Options{MaxWriteBuffer: 1 << 20, CloseTimeout: time.Minute})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			select {
			case <-r.lostCh:
				lost.Add(1)
				r.mu.Lock()
				if r.reason != nil {
					bad.Add(1)
				}
				r.mu.Unlock()
			case <-time.After(20 * time.Second):
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
		}()
	}
	start := time.Now()
	// Half the clients read everything (their lingers end on the
	// acknowledgement); the others never read (theirs end at the bound,
	// after the kernel took the output, which needs no reading: the
	// socket buffers hold it).
	for i, c := range clients {
		if i%2 == 0 {
			go func() {
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				io.Copy(io.Discard, c)
			}()
		}
	}
	wg.Wait()
	if got := lost.Load(); got != n {
		t.Fatalf("%d of %d connections ended", got, n)
	}
	if bad.Load() != 0 {
		t.Errorf("%d connections ended with a reason", bad.Load())
	}
	t.Logf("all ended in %v", time.Since(start))
	for _, c := range clients {
		c.Close()
	}
	clients = nil
	if after := openFDs(t); after > before+5 {
		t.Errorf("%d descriptors open before, %d after", before, after)
	}
}

// The server on the descriptor path (an Engine): a connection lingering
// for queued output, its client reading nothing, is cut by Shutdown's
// deadline; Shutdown returns soon after, the stats count the connection
// once, and ConnState goes new, active, closed.
func TestReview4LingerServerShutdown(t *testing.T) {
	skipUnlessLinux(t)
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	longLinger(t)
	for _, engine := range []bool{false, true} {
		name := "goroutine"
		if engine {
			name = "engine"
		}
		t.Run(name, func(t *testing.T) {
			reply := bytes.Repeat([]byte("x"), 256<<10)
			var mu sync.Mutex
			var states []server.ConnState
			made := make(chan struct{}, 1)
			srv := &server.Server{
				Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol {
					r := newRecorder(t)
					r.onMade = func(tr weft.Transport) {
						tr.Write(reply)
						tr.LoseConnection()
						made <- struct{}{}
					}
					return r
				}),
				MaxWriteBuffer: 2 << 20,
				ConnState: func(_ server.ConnInfo, st server.ConnState) {
					mu.Lock()
					states = append(states, st)
					mu.Unlock()
				},
			}
			if engine {
				srv.Engine = testEngine
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(l) }()
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
			select {
			case <-made:
			case <-time.After(10 * time.Second):
				t.Fatal("no connection")
			}
			// Into the linger: the kernel took the reply, the
			// connection is still active.
			for deadline := time.Now().Add(10 * time.Second); srv.Snapshot().BytesOut != int64(len(reply)); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d bytes handed to the kernel after 10 s", srv.Snapshot().BytesOut, len(reply))
				}
			}
			time.Sleep(100 * time.Millisecond)
			if a := srv.Snapshot().Active; a != 1 {
				t.Fatalf("%d connections active: no linger", a)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err = srv.Shutdown(ctx)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Shutdown took %v with a 300 ms context", d)
			}
			t.Logf("Shutdown: %v", err)
			select {
			case <-served:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
			snap := srv.Snapshot()
			var closed int64
			for _, v := range snap.Closed {
				closed += v
			}
			if closed != 1 || snap.Active != 0 {
				t.Errorf("closed %v, active %d; want one closed, none active", snap.Closed, snap.Active)
			}
			t.Logf("closed %v", snap.Closed)
			mu.Lock()
			defer mu.Unlock()
			want := []server.ConnState{server.StateNew, server.StateActive, server.StateClosed}
			if len(states) != len(want) || states[0] != want[0] || states[1] != want[1] || states[2] != want[2] {
				t.Errorf("ConnState %v, want %v", states, want)
			}
		})
	}
}

// IdleTimeout and CloseTimeout shorter than the linger do not cut a linger
// for queued output short (the connection is closed: its timers stop), nor
// change its reason: it ends at the linger's bound, ConnectionLost(nil),
// and the peer gets everything.
func TestReview4LingerTimeoutsDuringOutputLinger(t *testing.T) {
	skipUnlessLinux(t)
	const bound = 600 * time.Millisecond
	t.Cleanup(weft.SetCloseLinger(bound))
	for _, tc := range outputLingerPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			start := time.Now()
			opts := &weft.Options{MaxWriteBuffer: 2 << 20, IdleTimeout: 100 * time.Millisecond, CloseTimeout: 100 * time.Millisecond}
			r, reply, _, done := queuedReply(t, s, c, 1<<20, opts, func(tr weft.Transport) { tr.LoseConnection() })
			reason := waitLostWithin(t, r, 5*time.Second)
			if took := time.Since(start); took < bound*3/4 {
				t.Errorf("ConnectionLost after %v, before the linger's bound %v", took, bound)
			}
			if reason != nil {
				t.Errorf("ConnectionLost(%v), want nil", reason)
			}
			waitServe(t, done)
			if got, err := readAllWithin(t, c); err != nil || !bytes.Equal(got, reply) {
				t.Errorf("peer read %d of %d bytes, then %v", len(got), len(reply), err)
			}
		})
	}
}

// Engine.Close during a linger for queued output ends it before it
// returns.
func TestReview4LingerEngineCloseOutput(t *testing.T) {
	skipUnlessLinux(t)
	longLinger(t)
	e, err := weft.NewEngine()
	if err != nil {
		t.Skip(err)
	}
	defer e.Close()
	s, c := tcpPair(t)
	if err := tcpUnder(t, s).SetWriteBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	var counters weft.Counters
	r := newRecorder(t)
	reply := bytes.Repeat([]byte("x"), 1<<20)
	r.onMade = func(tr weft.Transport) {
		tr.Write(reply)
		tr.LoseConnection()
	}
	done := make(chan error, 1)
	go func() {
		done <- weft.Serve(s, r, &weft.Options{Engine: e, MaxWriteBuffer: 2 << 20, Counters: &counters})
	}()
	for deadline := time.Now().Add(10 * time.Second); counters.BytesOut.Load() != int64(len(reply)); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the kernel did not take the reply")
		}
	}
	select {
	case <-r.lostCh:
		t.Fatal("ConnectionLost with the output queued: no linger")
	case <-time.After(200 * time.Millisecond):
	}
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(lingerBound):
		t.Fatal("Engine.Close did not return")
	}
	select {
	case <-r.lostCh:
	default:
		t.Fatal("Engine.Close returned before the lingering connection's ConnectionLost")
	}
	waitServe(t, done)
}
