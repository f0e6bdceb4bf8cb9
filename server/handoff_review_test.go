//go:build linux

package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"go.uber.org/goleak"
)

// The tests of this file attack the StartTLS hand-off (weft's handOff)
// through server.Server: with an Engine, a plain TCP listener and no
// MaxConns, connections take the descriptor accept path, and a Protocol's
// StartTLS moves its connection from the readiness engine to a goroutine
// of its own. They run stLine (starttls_engine_test.go) in real time, each
// wait bounded by 10 s.

// hoEngine returns a readiness engine (closed at cleanup).
func hoEngine(t *testing.T) *weft.Engine {
	t.Helper()
	return engines(t)["engine"](t)
}

// hoBalanced waits until s has no connection active or handshaking and its
// closed connections sum to Accepted; it returns that Snapshot.
func hoBalanced(t *testing.T, s *Server) Snapshot {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap := s.Snapshot()
		var sum int64
		for _, n := range snap.Closed {
			sum += n
		}
		if snap.Active == 0 && snap.Handshaking == 0 && sum == snap.Accepted {
			return snap
		}
		if time.Now().After(deadline) {
			t.Fatalf("Snapshot does not balance: accepted %d, active %d, handshaking %d, closed %v (sum %d)",
				snap.Accepted, snap.Active, snap.Handshaking, nonZero(snap.Closed), sum)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// hoLost collects n ConnectionLost reasons, then checks that no more come
// (ConnectionLost exactly once per connection).
func hoLost(t *testing.T, st *stServer, n int) []error {
	t.Helper()
	errs := make([]error, n)
	for i := range errs {
		errs[i] = st.lostReason(t)
	}
	select {
	case err := <-st.lost:
		t.Errorf("ConnectionLost called more often than there were connections (%d); extra reason %v", n, err)
	default:
	}
	return errs
}

// hoSplit is the client side of a connection that reads lines in clear
// text up to "220 go\r\n", then the lines that follow it in clear text
// (written before the server's StartTLS), then hands the rest of the
// stream to TLS. Its first Write sends "STARTTLS\r\n" in front of the
// ClientHello (pipelined), so that the server's next bytes, after any clear
// text, are its TLS hello (never 'B').
type hoSplit struct {
	net.Conn
	r      *bufio.Reader
	sent   bool
	parsed bool
	clear  []string // lines before and after "220 go", in clear text
	err    error
}

func (c *hoSplit) Write(b []byte) (int, error) {
	if c.sent {
		return c.Conn.Write(b)
	}
	c.sent = true
	n, err := c.Conn.Write(append([]byte("STARTTLS\r\n"), b...))
	return max(0, n-len("STARTTLS\r\n")), err
}

func (c *hoSplit) Read(b []byte) (int, error) {
	if !c.parsed {
		c.parsed = true
		for {
			line, err := c.r.ReadString('\n')
			if err != nil {
				c.err = fmt.Errorf("clear text %q, then %w", line, err)
				return 0, c.err
			}
			if line == "220 go\r\n" {
				break
			}
			c.clear = append(c.clear, line)
		}
		for {
			p, err := c.r.Peek(1)
			if err != nil {
				c.err = fmt.Errorf("after 220: %w", err)
				return 0, c.err
			}
			if p[0] != 'B' {
				break
			}
			line, err := c.r.ReadString('\n')
			if err != nil {
				c.err = fmt.Errorf("clear text after 220 %q, then %w", line, err)
				return 0, c.err
			}
			c.clear = append(c.clear, line)
		}
	}
	return c.r.Read(b)
}

// TestHandoffBroadcast: Server.Broadcast to clear-text connections and to
// connections switching to TLS on the engine at the same time: every
// broadcast is accepted by every connection, and every client reads every
// broadcast exactly once, in order — some in clear text (written before
// its StartTLS), the rest decrypted from TLS.
//
// With large broadcasts (16 KiB each, 3.2 MiB in all, over sockets with
// small buffers), the clients that wait before they ask for TLS have output
// parked by the engine (the socket full) when their STARTTLS arrives: the
// hand-off sends it first (handOff's bWaitOut branch; checked with
// -coverpkg). The posted variant writes each line from work posted to
// every connection instead.
func TestHandoffBroadcast(t *testing.T) {
	for _, size := range []int{0, 16 << 10} {
		t.Run(fmt.Sprintf("pad=%d", size), func(t *testing.T) { testHandoffBroadcast(t, size, false) })
	}
	t.Run("posted", func(t *testing.T) { testHandoffBroadcast(t, 0, true) })
}

// testHandoffBroadcast is TestHandoffBroadcast with pad bytes of padding in
// each line; with post, each line is written by work posted to every
// connection (Conn.Post, run serialized with the callbacks, in order)
// instead of Broadcast.
func testHandoffBroadcast(t *testing.T, pad int, post bool) {
	e := hoEngine(t)
	st, cli := startST(t, e, func(s *Server) { s.MaxWriteBuffer = 8 << 20 })
	if pad > 0 {
		// Serve a second listener whose sockets have a small send
		// buffer: the engine, not the kernel, then holds the output.
		lc := net.ListenConfig{Control: hoSockBuf(syscall.SO_SNDBUF)}
		l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- st.s.Serve(l) }()
		t.Cleanup(func() { st.stop(); <-done })
		st.addr = l.Addr().String()
	}
	tlsClients, clearClients, broadcasts := 12, 6, 150
	if pad > 0 {
		tlsClients, clearClients, broadcasts = 8, 2, 200
	}
	delay := 15 * time.Millisecond // between the TLS clients' STARTTLS
	if pad > 0 {
		delay = 60 * time.Millisecond
	}
	padding := strings.Repeat("x", pad)
	line := func(k int) string { return fmt.Sprintf("B%d%s\n", k, padding) }
	type result struct {
		id         int
		clear, enc []string
		err        error
	}
	raws := make([]net.Conn, tlsClients+clearClients)
	for i := range raws {
		if pad > 0 {
			raws[i] = hoDialSmall(t, st.addr)
		} else {
			raws[i] = dial(t, st.addr)
		}
		raws[i].SetDeadline(time.Now().Add(10 * time.Second))
	}
	waitFor(t, "every connection running", func() bool { return st.s.Len() == len(raws) })
	wantFDPath(t, st.s)
	go1 := make(chan struct{})
	results := make(chan result, len(raws))
	for i, raw := range raws {
		go func() {
			r := result{id: i}
			defer func() { results <- r }()
			br := bufio.NewReader(raw)
			if i >= tlsClients {
				for len(r.clear) < broadcasts {
					line, err := br.ReadString('\n')
					if err != nil {
						r.err = fmt.Errorf("clear client %d: after %d lines: %q, %w", i, len(r.clear), line, err)
						return
					}
					r.clear = append(r.clear, line)
				}
				return
			}
			<-go1
			time.Sleep(time.Duration(i%4) * delay)
			sp := &hoSplit{Conn: raw, r: br}
			tc := tls.Client(sp, cli)
			if err := tc.Handshake(); err != nil {
				r.err = fmt.Errorf("TLS client %d: handshake: %w (split: %v)", i, err, sp.err)
				return
			}
			r.clear = sp.clear
			tr := bufio.NewReader(tc)
			for len(r.clear)+len(r.enc) < broadcasts {
				line, err := tr.ReadString('\n')
				if err != nil {
					r.err = fmt.Errorf("TLS client %d: %d in clear, %d over TLS, then %q, %w", i, len(r.clear), len(r.enc), line, err)
					return
				}
				r.enc = append(r.enc, line)
			}
			tc.Close()
		}()
	}
	close(go1)
	for k := range broadcasts {
		if post {
			b := []byte(line(k))
			st.s.Range(func(c *Conn) bool {
				c.Post(func() { c.Transport().Write(b) })
				return true
			})
		} else if n := st.s.Broadcast([]byte(line(k))); n != len(raws) {
			t.Errorf("Broadcast %d reached %d connections, want %d", k, n, len(raws))
		}
		time.Sleep(time.Millisecond)
	}
	mixed := 0
	for range raws {
		var r result
		select {
		case r = <-results:
		case <-time.After(10 * time.Second):
			t.Fatal("a client did not finish within 10 s")
		}
		if r.err != nil {
			t.Error(r.err)
			continue
		}
		all := append(append([]string(nil), r.clear...), r.enc...)
		for k, got := range all {
			if want := line(k); got != want {
				t.Errorf("client %d: broadcast %d is %.40q, want %.40q (clear %d, TLS %d)", r.id, k, got, want, len(r.clear), len(r.enc))
				break
			}
		}
		if r.id < tlsClients && len(r.clear) > 0 && len(r.enc) > 0 {
			mixed++
		}
		if r.id >= tlsClients && len(r.enc) > 0 {
			t.Errorf("clear client %d read TLS lines", r.id)
		}
	}
	t.Logf("%d of %d TLS clients got broadcasts both before and after their switch", mixed, tlsClients)
	for range tlsClients {
		if r := st.startedErr(t); r.err != nil {
			t.Errorf("StartTLS returned %v", r.err)
		}
	}
	st.stop()
	hoLost(t, st, len(raws))
	hoBalanced(t, st.s)
}

// hoSockBuf is a net.Dialer or net.ListenConfig Control that sets the
// socket buffer opt (SO_RCVBUF, SO_SNDBUF) to 8 KiB.
func hoSockBuf(opt int) func(_, _ string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 8<<10)
		})
		return errors.Join(err, serr)
	}
}

// hoDialSmall connects to addr with a small receive buffer (8 KiB), so
// that the server's output waits in its socket and then in its own buffers.
func hoDialSmall(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: hoSockBuf(syscall.SO_RCVBUF)}
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// hoRace sets up the clients of TestHandoffShutdownRace and
// TestHandoffCloseRace on st: stalled ones (STARTTLS answered, no
// ClientHello), and returns a function that starts the racing ones — full
// handshakes (plain and pipelined) and bare STARTTLS commands — and one that
// waits for every client. Each client then reads to the end of its stream.
func hoRace(t *testing.T, st *stServer, cli *tls.Config) (race func(), wait func()) {
	t.Helper()
	const stalled, full, bare = 4, 8, 4
	var conns []net.Conn
	for range stalled + full + bare {
		c := dial(t, st.addr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		conns = append(conns, c)
	}
	waitFor(t, "every connection running", func() bool { return st.s.Len() == len(conns) })
	for _, c := range conns[:stalled] {
		c.Write([]byte("STARTTLS\r\n"))
		if err := stReply(c); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "stalled handshakes", func() bool { return st.s.Snapshot().Handshaking == stalled })
	var wg sync.WaitGroup
	// Read to the end, then close: a server's graceful close of a socket
	// holding unread input waits (up to 2 s) for the client's end.
	drain := func(c net.Conn) { io.Copy(io.Discard, c); c.Close() }
	for _, c := range conns[:stalled] {
		wg.Go(func() { drain(c) })
	}
	start := make(chan struct{})
	for i, c := range conns[stalled : stalled+full] {
		wg.Go(func() {
			<-start
			tc, err := askTLS(c, cli, i%2 == 1)
			c.SetDeadline(time.Now().Add(10 * time.Second)) // askTLS cleared it
			if err == nil {
				io.WriteString(tc, "line\n")
				io.Copy(io.Discard, tc)
			}
			drain(c)
		})
	}
	for _, c := range conns[stalled+full:] {
		wg.Go(func() {
			<-start
			c.Write([]byte("STARTTLS\r\n"))
			drain(c)
		})
	}
	return func() { close(start); time.Sleep(2 * time.Millisecond) }, wg.Wait
}

// TestHandoffShutdownRace: a graceful Shutdown while connections switch to
// TLS on the engine (some stalled in the handshake, some handshaking, some
// whose STARTTLS just left the client): Shutdown returns nil well within
// its deadline (a LoseConnection with nothing queued for TLS closes the
// socket under the handshake), every ConnectionLost is called once, the
// Snapshot balances, and no goroutine is left.
func TestHandoffShutdownRace(t *testing.T) {
	for _, delay := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond} {
		t.Run(fmt.Sprint(delay), func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			e := hoEngine(t)
			st, cli := startST(t, e, func(s *Server) { s.HandshakeTimeout = time.Minute })
			race, wait := hoRace(t, st, cli)
			wantFDPath(t, st.s)
			race()
			time.Sleep(delay)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			begin := time.Now()
			err := st.s.Shutdown(ctx)
			if err != nil {
				t.Errorf("Shutdown = %v after %v, want nil", err, time.Since(begin))
			}
			if d := time.Since(begin); d > 5*time.Second {
				t.Errorf("Shutdown took %v", d)
			}
			wait()
			hoLost(t, st, 16)
			snap := hoBalanced(t, st.s)
			t.Logf("closed %v", nonZero(snap.Closed))
			st.stop()
			goleak.VerifyNone(t, ignore, goleak.IgnoreAnyFunction("github.com/weftkit/weft.(*Engine).work"),
				goleak.IgnoreAnyFunction("github.com/weftkit/weft.(*Engine).poll"))
		})
	}
}

// TestHandoffCloseRace: Close while connections switch to TLS on the
// engine: every connection ends with weft.ErrServerShutdown ("shutdown"),
// once; the Snapshot balances; no goroutine is left.
func TestHandoffCloseRace(t *testing.T) {
	for _, delay := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond} {
		t.Run(fmt.Sprint(delay), func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			e := hoEngine(t)
			st, cli := startST(t, e, func(s *Server) { s.HandshakeTimeout = time.Minute })
			race, wait := hoRace(t, st, cli)
			wantFDPath(t, st.s)
			race()
			time.Sleep(delay)
			begin := time.Now()
			st.stop()
			if d := time.Since(begin); d > 5*time.Second {
				t.Errorf("Close took %v", d)
			}
			wait()
			for _, err := range hoLost(t, st, 16) {
				if !errors.Is(err, weft.ErrServerShutdown) {
					t.Errorf("ConnectionLost(%v), want weft.ErrServerShutdown", err)
				}
			}
			snap := hoBalanced(t, st.s)
			if got := nonZero(snap.Closed); len(got) != 1 || got["shutdown"] != 16 {
				t.Errorf("Closed %v, want 16 shutdown", got)
			}
			goleak.VerifyNone(t, ignore, goleak.IgnoreAnyFunction("github.com/weftkit/weft.(*Engine).work"),
				goleak.IgnoreAnyFunction("github.com/weftkit/weft.(*Engine).poll"))
		})
	}
}

// hoStates records ConnState calls per connection, and calls that overlap
// for one connection.
type hoStates struct {
	mu      sync.Mutex
	seq     map[uint64][]ConnState
	remote  map[uint64][]string
	in      map[uint64]*atomic.Int32
	overlap atomic.Int32
}

func (h *hoStates) hook(info ConnInfo, s ConnState) {
	h.mu.Lock()
	in := h.in[info.ID]
	if in == nil {
		in = new(atomic.Int32)
		h.in[info.ID] = in
	}
	h.mu.Unlock()
	if in.Add(1) != 1 {
		h.overlap.Add(1)
	}
	time.Sleep(100 * time.Microsecond) // widen the window for an overlap
	h.mu.Lock()
	h.seq[info.ID] = append(h.seq[info.ID], s)
	h.remote[info.ID] = append(h.remote[info.ID], addrString(info.RemoteAddr))
	h.mu.Unlock()
	in.Add(-1)
}

// TestHandoffConnState: a connection that leaves the engine for TLS
// reports new, active, closed — in that order, each once, never two calls
// at once, with the same client address — whether its handshake succeeds
// (then a clean close), fails, stalls until the client hangs up, or is cut
// by Close.
func TestHandoffConnState(t *testing.T) {
	e := hoEngine(t)
	h := &hoStates{seq: map[uint64][]ConnState{}, remote: map[uint64][]string{}, in: map[uint64]*atomic.Int32{}}
	st, cli := startST(t, e, func(s *Server) { s.ConnState = h.hook })
	const each = 3
	var wg sync.WaitGroup
	errs := make(chan error, 4*each)
	for range each {
		wg.Go(func() { // success, then close_notify
			raw, err := net.DialTimeout("tcp4", st.addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer raw.Close()
			tc, err := askTLS(raw, cli, false)
			if err == nil {
				err = echoLine(tc, bufio.NewReader(tc), "hello\n")
			}
			if err == nil {
				err = tc.Close()
			}
			errs <- err
		})
		wg.Go(func() { // handshake refused by the client
			raw, err := net.DialTimeout("tcp4", st.addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			if _, err := askTLS(raw, &tls.Config{ServerName: "localhost"}, true); err == nil {
				errs <- errors.New("the client accepted an untrusted certificate")
			}
			raw.Close()
		})
		wg.Go(func() { // stalled, then gone
			raw, err := net.DialTimeout("tcp4", st.addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			raw.Write([]byte("STARTTLS\r\n"))
			raw.SetReadDeadline(time.Now().Add(10 * time.Second))
			if err := stReply(raw); err != nil {
				errs <- err
			}
			raw.Close()
		})
	}
	wg.Wait()
	// Live over TLS when the server closes.
	for range each {
		raw := dial(t, st.addr)
		tc, err := askTLS(raw, cli, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := echoLine(tc, bufio.NewReader(tc), "still here\n"); err != nil {
			t.Fatal(err)
		}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	wantFDPath(t, st.s)
	st.stop()
	hoLost(t, st, 4*each)
	hoBalanced(t, st.s)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seq) != 4*each {
		t.Errorf("ConnState saw %d connections, want %d", len(h.seq), 4*each)
	}
	want := fmt.Sprint([]ConnState{StateNew, StateActive, StateClosed})
	for id, seq := range h.seq {
		if got := fmt.Sprint(seq); got != want {
			t.Errorf("connection %d: states %v, want %v", id, got, want)
		}
		if r := h.remote[id]; r[0] == "" || strings.Count(strings.Join(r, " "), r[0]) != len(r) {
			t.Errorf("connection %d: remote addresses %q change", id, r)
		}
	}
	if n := h.overlap.Load(); n != 0 {
		t.Errorf("%d ConnState calls overlapped another for the same connection", n)
	}
}

// TestHandoffPerPeer: with MaxConnsPerPeer 1, a connection that left the
// engine for TLS still holds its peer's slot — while it handshakes and
// after — so a second connection from the address is rejected; once it
// ended (cleanly, or by a failed handshake) the slot is free again.
func TestHandoffPerPeer(t *testing.T) {
	e := hoEngine(t)
	st, cli := startST(t, e, func(s *Server) {
		s.MaxConnsPerPeer = 1
		s.RejectMessage = []byte("busy\r\n")
	})
	rejectedNow := func(n int64) {
		t.Helper()
		c := dial(t, st.addr)
		if got := string(readToEOF(t, c)); got != "busy\r\n" {
			t.Fatalf("second connection from the peer read %q, want the reject message", got)
		}
		waitFor(t, "the rejection counted", func() bool { return st.s.Snapshot().Rejected["per peer"] == n })
	}
	closed := func(reason string, n int64) {
		t.Helper()
		waitFor(t, reason+" counted", func() bool { return st.s.Snapshot().Closed[reason] == n })
	}

	// 1. Stalled in the handshake, then switched: counted throughout.
	raw := dial(t, st.addr)
	raw.Write([]byte("STARTTLS\r\n"))
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := stReply(raw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a handshake", func() bool { return st.s.Snapshot().Handshaking == 1 })
	rejectedNow(1)
	raw.SetReadDeadline(time.Time{})
	tc := tls.Client(raw, cli)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := echoLine(tc, bufio.NewReader(tc), "over TLS\n"); err != nil {
		t.Fatal(err)
	}
	rejectedNow(2)
	wantFDPath(t, st.s)
	tc.Close()
	if err := st.lostReason(t); err != nil {
		t.Errorf("ConnectionLost(%v), want nil", err)
	}
	closed("clean", 1)

	// 2. Free again: a handshake that fails frees it too.
	raw = dial(t, st.addr)
	if _, err := askTLS(raw, &tls.Config{ServerName: "localhost"}, false); err == nil {
		t.Fatal("the client accepted an untrusted certificate")
	}
	raw.Close()
	if err := st.lostReason(t); !errors.Is(err, weft.ErrHandshakeFailed) {
		t.Errorf("ConnectionLost(%v), want weft.ErrHandshakeFailed", err)
	}
	closed("handshake failed", 1)

	// 3. And the peer is served again.
	c := dial(t, st.addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "hi\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := bufio.NewReader(c).ReadString('\n'); got != "500 say STARTTLS\r\n" {
		t.Fatalf("a new connection from the peer read %q, %v; want it served", got, err)
	}
	if got := st.s.Snapshot().Rejected["per peer"]; got != 2 {
		t.Errorf(`Rejected["per peer"] = %d, want 2`, got)
	}
}

// TestHandoffHandshakingGauge: Snapshot.Handshaking counts a StartTLS
// handshake on the engine while it runs, and is back to 0 after it —
// succeeded, refused by the client, abandoned by the client, or cut by
// HandshakeTimeout — while the connection itself may go on.
func TestHandoffHandshakingGauge(t *testing.T) {
	e := hoEngine(t)
	const hsTO = time.Second
	st, cli := startST(t, e, func(s *Server) { s.HandshakeTimeout = hsTO })
	hs := func() int64 { return st.s.Snapshot().Handshaking }
	stall := func() net.Conn {
		t.Helper()
		raw := dial(t, st.addr)
		raw.Write([]byte("STARTTLS\r\n"))
		raw.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := stReply(raw); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "one handshake", func() bool { return hs() == 1 })
		return raw
	}

	// Success: 1 during, 0 after, the connection live.
	raw := stall()
	raw.SetReadDeadline(time.Time{})
	tc := tls.Client(raw, cli)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	if err := echoLine(tc, br, "one\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no handshake after success", func() bool { return hs() == 0 })
	if n := st.s.Len(); n != 1 {
		t.Errorf("Len = %d after the switch, want 1", n)
	}
	if err := echoLine(tc, br, "two\n"); err != nil {
		t.Fatal(err)
	}
	wantFDPath(t, st.s)

	// Refused by the client.
	raw2 := stall()
	raw2.SetReadDeadline(time.Time{})
	if err := tls.Client(raw2, &tls.Config{ServerName: "localhost"}).Handshake(); err == nil {
		t.Fatal("the client accepted an untrusted certificate")
	}
	raw2.Close()
	if err := st.lostReason(t); !errors.Is(err, weft.ErrHandshakeFailed) {
		t.Errorf("ConnectionLost(%v), want weft.ErrHandshakeFailed", err)
	}
	waitFor(t, "no handshake after a refusal", func() bool { return hs() == 0 })

	// Abandoned.
	stall().Close()
	if err := st.lostReason(t); !errors.Is(err, weft.ErrHandshakeFailed) {
		t.Errorf("ConnectionLost(%v), want weft.ErrHandshakeFailed", err)
	}
	waitFor(t, "no handshake after a hang-up", func() bool { return hs() == 0 })

	// Cut by HandshakeTimeout.
	stall()
	if err := st.lostReason(t); !errors.Is(err, weft.ErrHandshakeTimeout) {
		t.Errorf("ConnectionLost(%v), want weft.ErrHandshakeTimeout", err)
	}
	waitFor(t, "no handshake after the timeout", func() bool { return hs() == 0 })

	if err := echoLine(tc, br, "three\n"); err != nil {
		t.Fatal(err)
	}
	tc.Close()
	if err := st.lostReason(t); err != nil {
		t.Errorf("ConnectionLost(%v), want nil", err)
	}
	st.waitClosed(t, map[string]int64{"clean": 1, "handshake failed": 2, "handshake timeout": 1})
}

// TestHandoffManager: Get, Len, Range and Info of a connection that left
// the engine for TLS: the same *Conn under the same ID, its addresses
// unchanged (the client's two ends), its Started time unchanged, its
// Transport usable (a Write from outside reaches the client over TLS);
// gone from the manager once it ended.
func TestHandoffManager(t *testing.T) {
	e := hoEngine(t)
	st, cli := startST(t, e, nil)
	raw := dial(t, st.addr)
	waitFor(t, "one connection", func() bool { return st.s.Len() == 1 })
	var c *Conn
	st.s.Range(func(x *Conn) bool { c = x; return false })
	before := c.Info()
	started := c.Started()
	if before.RemoteAddr.String() != raw.LocalAddr().String() || before.LocalAddr.String() != raw.RemoteAddr().String() {
		t.Fatalf("Info %v before the switch; the client is %v -> %v", before, raw.LocalAddr(), raw.RemoteAddr())
	}
	tc, err := askTLS(raw, cli, true)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	if err := echoLine(tc, br, "switched\n"); err != nil {
		t.Fatal(err)
	}
	wantFDPath(t, st.s)
	got, ok := st.s.Get(before.ID)
	if !ok || got != c {
		t.Fatalf("Get(%d) = %p, %v after the switch; want %p", before.ID, got, ok, c)
	}
	if n := st.s.Len(); n != 1 {
		t.Errorf("Len = %d after the switch, want 1", n)
	}
	after := got.Info()
	if after.ID != before.ID || after.LocalAddr.String() != before.LocalAddr.String() || after.RemoteAddr.String() != before.RemoteAddr.String() {
		t.Errorf("Info %+v after the switch, %+v before", after, before)
	}
	tr := got.Transport()
	if tr.LocalAddr().String() != before.LocalAddr.String() || tr.RemoteAddr().String() != before.RemoteAddr.String() {
		t.Errorf("Transport addresses %v, %v after the switch; want %v, %v", tr.LocalAddr(), tr.RemoteAddr(), before.LocalAddr, before.RemoteAddr)
	}
	if !got.Started().Equal(started) {
		t.Errorf("Started %v after the switch, %v before", got.Started(), started)
	}
	// A Write from outside the callbacks, and a Post, over TLS.
	if _, err := tr.Write([]byte("from outside\n")); err != nil {
		t.Fatal(err)
	}
	posted := make(chan struct{})
	got.Post(func() { tr.Write([]byte("posted\n")); close(posted) })
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{"from outside\n", "posted\n"} {
		if line, err := br.ReadString('\n'); line != want {
			t.Fatalf("read %q, %v; want %q over TLS", line, err, want)
		}
	}
	select {
	case <-posted:
	case <-time.After(10 * time.Second):
		t.Fatal("posted work did not run")
	}
	tc.Close()
	if err := st.lostReason(t); err != nil {
		t.Errorf("ConnectionLost(%v), want nil", err)
	}
	st.waitClosed(t, map[string]int64{"clean": 1})
	if _, ok := st.s.Get(before.ID); ok || st.s.Len() != 0 {
		t.Errorf("Get(%d) found it (%v) or Len %d after its end", before.ID, ok, st.s.Len())
	}
}

// TestHandoffEngineCloseAfter: the Engine closed after the server stopped,
// while connections that had left it for TLS had ended (cleanly, by a
// failed handshake, cut by Close): Close returns, nothing panics, and no
// goroutine is left — not even the engine's workers.
func TestHandoffEngineCloseAfter(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	e := hoEngine(t)
	st, cli := startST(t, e, nil)
	// Ended cleanly.
	tc, err := askTLS(dial(t, st.addr), cli, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := echoLine(tc, bufio.NewReader(tc), "x\n"); err != nil {
		t.Fatal(err)
	}
	tc.Close()
	if err := st.lostReason(t); err != nil {
		t.Errorf("ConnectionLost(%v), want nil", err)
	}
	// Failed handshake.
	raw := dial(t, st.addr)
	if _, err := askTLS(raw, &tls.Config{ServerName: "localhost"}, true); err == nil {
		t.Fatal("the client accepted an untrusted certificate")
	}
	raw.Close()
	st.lostReason(t)
	// Live over TLS, cut by the server's Close.
	live, err := askTLS(dial(t, st.addr), cli, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := echoLine(live, bufio.NewReader(live), "y\n"); err != nil {
		t.Fatal(err)
	}
	wantFDPath(t, st.s)
	st.stop()
	if err := st.lostReason(t); !errors.Is(err, weft.ErrServerShutdown) {
		t.Errorf("ConnectionLost(%v), want weft.ErrServerShutdown", err)
	}
	st.waitClosed(t, map[string]int64{"clean": 1, "handshake failed": 1, "shutdown": 1})
	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Engine.Close did not return within 10 s")
	}
	goleak.VerifyNone(t, ignore)
}

// TestHandoffEngineClosedUnder: the Engine closed while a connection that
// left it for TLS still runs (the Engine's doc: it is no longer the
// engine's): the connection goes on echoing over TLS, and ends cleanly
// afterwards; the server's Close then balances.
func TestHandoffEngineClosedUnder(t *testing.T) {
	e := hoEngine(t)
	st, cli := startST(t, e, nil)
	tc, err := askTLS(dial(t, st.addr), cli, false)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	if err := echoLine(tc, br, "before\n"); err != nil {
		t.Fatal(err)
	}
	wantFDPath(t, st.s)
	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Engine.Close did not return within 10 s")
	}
	if err := echoLine(tc, br, "after\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-st.lost:
		t.Fatalf("the handed-off connection ended at Engine.Close: %v", err)
	default:
	}
	tc.Close()
	if err := st.lostReason(t); err != nil {
		t.Errorf("ConnectionLost(%v), want nil", err)
	}
	st.stop()
	hoBalanced(t, st.s)
}

// TestHandoffShutdownDeadline: a graceful Shutdown while StartTLS
// handshakes stall with output queued for TLS (a Broadcast made during the
// handshake, which the close must wait for): the close cannot drain before
// HandshakeTimeout (1 min), so Shutdown's deadline cuts them — it returns
// context.DeadlineExceeded soon after the deadline, every connection ends
// once with weft.ErrServerShutdown, the Snapshot balances, and no
// goroutine is left.
func TestHandoffShutdownDeadline(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	e := hoEngine(t)
	st, _ := startST(t, e, func(s *Server) { s.HandshakeTimeout = time.Minute })
	const clients = 6
	var wg sync.WaitGroup
	for range clients {
		c := dial(t, st.addr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("STARTTLS\r\n"))
		if err := stReply(c); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { io.Copy(io.Discard, c); c.Close() })
	}
	waitFor(t, "stalled handshakes", func() bool { return st.s.Snapshot().Handshaking == clients })
	wantFDPath(t, st.s)
	if n := st.s.Broadcast([]byte("for TLS\n")); n != clients {
		t.Errorf("Broadcast reached %d connections during their handshakes, want %d", n, clients)
	}
	const grace = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	begin := time.Now()
	err := st.s.Shutdown(ctx)
	took := time.Since(begin)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v after %v, want context.DeadlineExceeded", err, took)
	}
	if took < grace || took > grace+5*time.Second {
		t.Errorf("Shutdown took %v, want about %v", took, grace)
	}
	wg.Wait()
	for _, err := range hoLost(t, st, clients) {
		if !errors.Is(err, weft.ErrServerShutdown) {
			t.Errorf("ConnectionLost(%v), want weft.ErrServerShutdown", err)
		}
	}
	st.waitClosed(t, map[string]int64{"shutdown": clients})
	st.stop()
	goleak.VerifyNone(t, ignore, goleak.IgnoreAnyFunction("github.com/weftkit/weft.(*Engine).work"),
		goleak.IgnoreAnyFunction("github.com/weftkit/weft.(*Engine).poll"))
}

// hoBye is stLine whose Shutdown hook always says "bye", TLS data or not,
// and then reports on hooked.
type hoBye struct {
	stLine
	hooked chan<- struct{}
}

func (p *hoBye) Shutdown() {
	p.t.Write([]byte("bye\n"))
	p.hooked <- struct{}{}
}

// TestHandoffShutdownHook: a graceful Shutdown reaching connections whose
// STARTTLS is on its way (sent, not yet answered) or answered with the
// handshake still to come, on the engine. The Protocol's Shutdown hook
// writes "bye": written after its StartTLS, it waits for the handshake and
// goes out over TLS, followed by a close_notify; written before (the
// hook ran first), it goes out in clear text and the STARTTLS is refused
// or not read. Either way the client reads one consistent story, every
// connection ends cleanly, and Shutdown returns nil.
func TestHandoffShutdownHook(t *testing.T) {
	for _, delay := range []time.Duration{0, 2 * time.Millisecond, 10 * time.Millisecond} {
		t.Run(fmt.Sprint(delay), func(t *testing.T) { testHandoffShutdownHook(t, delay) })
	}
}

func testHandoffShutdownHook(t *testing.T, delay time.Duration) {
	e := hoEngine(t)
	srvCfg, cli := testTLS(t)
	started, lost, hooked := make(chan stStarted, 64), make(chan error, 64), make(chan struct{}, 64)
	st, _ := startST(t, e, func(s *Server) {
		s.HandshakeTimeout = time.Minute
		s.Factory = factoryOf(func() *hoBye {
			return &hoBye{stLine{cfg: srvCfg, started: started, lost: lost}, hooked}
		})
	})
	st.started, st.lost = started, lost
	const answered, onTheWay = 5, 5
	var conns []net.Conn
	for range answered + onTheWay {
		c := dial(t, st.addr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		conns = append(conns, c)
	}
	waitFor(t, "every connection running", func() bool { return st.s.Len() == len(conns) })
	wantFDPath(t, st.s)
	for _, c := range conns[:answered] {
		c.Write([]byte("STARTTLS\r\n"))
		if err := stReply(c); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "handshakes waiting", func() bool { return st.s.Snapshot().Handshaking == answered })
	for _, c := range conns[answered:] {
		c.Write([]byte("STARTTLS\r\n"))
	}
	time.Sleep(delay)
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- st.s.Shutdown(ctx)
	}()
	// The server reads nothing more from a connection it closes: the
	// clients wait until the hook ran before they handshake.
	for range conns {
		select {
		case <-hooked:
		case <-time.After(10 * time.Second):
			t.Fatal("the Shutdown hooks did not run within 10 s")
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	inTLS := atomic.Int32{}
	for i, c := range conns {
		wg.Go(func() {
			defer c.Close()
			br := bufio.NewReader(c)
			if i >= answered {
				line, err := br.ReadString('\n')
				switch {
				case line == "bye\n":
					rest, err := io.ReadAll(br)
					if err != nil || len(rest) > 0 && !strings.HasPrefix(string(rest), "454 ") {
						errs <- fmt.Errorf("client %d: bye in clear text, then %q, %v", i, rest, err)
					}
					return
				case line != "220 go\r\n":
					errs <- fmt.Errorf("client %d: read %q, %v; want bye or 220", i, line, err)
					return
				}
			}
			tc := tls.Client(&hoSplit{Conn: c, r: br, sent: true, parsed: true}, cli)
			if err := tc.Handshake(); err != nil {
				errs <- fmt.Errorf("client %d: handshake after the hook: %w", i, err)
				return
			}
			inTLS.Add(1)
			got, err := io.ReadAll(tc)
			if string(got) != "bye\n" || err != nil {
				errs <- fmt.Errorf("client %d: over TLS read %q, %v; want bye and a close_notify", i, got, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return within 10 s")
	}
	t.Logf("%d of %d clients got bye over TLS", inTLS.Load(), len(conns))
	for _, err := range hoLost(t, st, len(conns)) {
		if err != nil {
			t.Errorf("ConnectionLost(%v), want nil", err)
		}
	}
	st.waitClosed(t, map[string]int64{"clean": int64(len(conns))})
}

// TestHandoffMaxHandshakesBurst: 16 clients ask for TLS at once on the
// engine with MaxHandshakes 2. Each either switches (and echoes) or is
// refused for want of a slot (the end of the stream after "220 go"); the
// Handshaking gauge never passes 2 and ends at 0; the refusals are counted
// once each in Rejected["max handshakes"] and Closed["rejected"], the
// successes in Closed["clean"]; ConnState sees new, active, closed for
// each.
func TestHandoffMaxHandshakesBurst(t *testing.T) {
	e := hoEngine(t)
	h := &hoStates{seq: map[uint64][]ConnState{}, remote: map[uint64][]string{}, in: map[uint64]*atomic.Int32{}}
	st, cli := startST(t, e, func(s *Server) {
		s.MaxHandshakes = 2
		s.ConnState = h.hook
	})
	const clients = 16
	var peak atomic.Int64
	stopPoll := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			if n := st.s.Snapshot().Handshaking; n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stopPoll:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			raw, err := net.DialTimeout("tcp4", st.addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer raw.Close()
			<-start
			tc, err := askTLS(raw, cli, i%2 == 0)
			if err != nil {
				refused.Add(1)
				return
			}
			if err := echoLine(tc, bufio.NewReader(tc), fmt.Sprintf("client %d\n", i)); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			ok.Add(1)
			tc.Close()
		})
	}
	waitFor(t, "every connection running", func() bool { return st.s.Len() == clients })
	wantFDPath(t, st.s)
	close(start)
	wg.Wait()
	close(stopPoll)
	<-polled
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for range clients {
		st.startedErr(t)
	}
	lost := hoLost(t, st, clients)
	var rejected int64
	for _, err := range lost {
		if errors.Is(err, weft.ErrRejected) {
			rejected++
		}
	}
	t.Logf("%d switched, %d refused, peak Handshaking %d", ok.Load(), refused.Load(), peak.Load())
	if p := peak.Load(); p > 2 {
		t.Errorf("Handshaking reached %d with MaxHandshakes 2", p)
	}
	if rejected != refused.Load() {
		t.Errorf("%d connections lost with ErrRejected, %d clients refused", rejected, refused.Load())
	}
	snap := hoBalanced(t, st.s)
	if got := snap.Rejected["max handshakes"]; got != rejected {
		t.Errorf(`Rejected["max handshakes"] = %d, want %d`, got, rejected)
	}
	want := map[string]int64{"clean": ok.Load(), "rejected": rejected}
	st.waitClosed(t, want)
	st.stop() // finish counts the close before it calls the hook: wait for the ends
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, seq := range h.seq {
		if got := fmt.Sprint(seq); got != fmt.Sprint([]ConnState{StateNew, StateActive, StateClosed}) {
			t.Errorf("connection %d: states %v", id, got)
		}
	}
}

// hoImplicit starts TLS in ConnectionMade (TLS from the first byte, done
// by the Protocol), then echoes.
type hoImplicit struct {
	cfg  *tls.Config
	t    weft.Transport
	lost chan<- error
}

func (p *hoImplicit) ConnectionMade(t weft.Transport) {
	p.t = t
	if err := t.StartTLS(p.cfg); err != nil {
		t.Abort()
	}
}
func (p *hoImplicit) DataReceived(d []byte)    { p.t.Write(d) }
func (p *hoImplicit) ConnectionLost(err error) { p.lost <- err }

// TestHandoffStartTLSInMade: a Protocol that calls StartTLS in its
// ConnectionMade, on the descriptor path: the connection is registered
// (Len, Get) before it leaves the engine, echoes over TLS, and — with
// some clients done, some mid-handshake, some not yet started — a Close
// ends every one once with ErrServerShutdown, or cleanly for those the
// client closed; the Snapshot balances.
func TestHandoffStartTLSInMade(t *testing.T) {
	e := hoEngine(t)
	srvCfg, cli := testTLS(t)
	lost := make(chan error, 64)
	st, _ := startST(t, e, func(s *Server) {
		s.Factory = factoryOf(func() *hoImplicit { return &hoImplicit{cfg: srvCfg, lost: lost} })
	})
	st.lost = lost
	// Done: echo, close_notify.
	for i := range 4 {
		tc := tls.Client(dial(t, st.addr), cli)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := echoLine(tc, bufio.NewReader(tc), fmt.Sprintf("line %d\n", i)); err != nil {
			t.Fatal(err)
		}
		tc.Close()
		if err := st.lostReason(t); err != nil {
			t.Errorf("ConnectionLost(%v), want nil", err)
		}
	}
	wantFDPath(t, st.s)
	// Live over TLS, mid-handshake (no ClientHello) and racing the Close.
	var live []*tls.Conn
	for range 4 {
		tc := tls.Client(dial(t, st.addr), cli)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := echoLine(tc, bufio.NewReader(tc), "live\n"); err != nil {
			t.Fatal(err)
		}
		live = append(live, tc)
	}
	for range 4 {
		dial(t, st.addr)
	}
	waitFor(t, "8 connections", func() bool { return st.s.Len() == 8 })
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp4", st.addr, 5*time.Second)
			if err != nil {
				return // refused: the listener closed first
			}
			defer c.Close()
			tc := tls.Client(c, cli)
			tc.SetDeadline(time.Now().Add(10 * time.Second))
			tc.Handshake()
		})
	}
	st.stop()
	wg.Wait()
	snap := hoBalanced(t, st.s)
	n := int(snap.Accepted) - 4
	// Close returned: every ConnectionLost was called (a racing client
	// accepted but never set up has none).
	if len(lost) < 8 || len(lost) > n {
		t.Errorf("%d ConnectionLost calls after Close, want 8 to %d", len(lost), n)
	}
	for len(lost) > 0 {
		if err := <-lost; !errors.Is(err, weft.ErrServerShutdown) {
			t.Errorf("ConnectionLost(%v), want ErrServerShutdown", err)
		}
	}
	for _, tc := range live {
		if _, err := tc.Read(make([]byte, 1)); err == nil {
			t.Error("a live TLS client read data after Close")
		}
	}
	if got := nonZero(snap.Closed); got["clean"] != 4 || got["shutdown"] != int64(n) || len(got) != 2 {
		t.Errorf("Closed %v, want 4 clean, %d shutdown", got, n)
	}
}

// TestHandoffConnClose: the manager's Conn.Close on a connection that left
// the engine — stalled in its StartTLS handshake, then one live over TLS —
// ends it at once with the reason given (counted as "error"), gives the
// handshake slot back, and removes it from the manager.
func TestHandoffConnClose(t *testing.T) {
	e := hoEngine(t)
	st, cli := startST(t, e, func(s *Server) { s.HandshakeTimeout = time.Minute })
	kicked := errors.New("kicked by the operator")
	only := func() *Conn {
		t.Helper()
		var c *Conn
		st.s.Range(func(x *Conn) bool { c = x; return false })
		if c == nil || st.s.Len() != 1 {
			t.Fatalf("Len %d, want one connection", st.s.Len())
		}
		return c
	}

	raw := dial(t, st.addr)
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	raw.Write([]byte("STARTTLS\r\n"))
	if err := stReply(raw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a handshake", func() bool { return st.s.Snapshot().Handshaking == 1 })
	wantFDPath(t, st.s)
	only().Close(kicked)
	if err := st.lostReason(t); !errors.Is(err, kicked) {
		t.Errorf("ConnectionLost(%v), want %v", err, kicked)
	}
	if n, err := raw.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("the client read (%d, %v) after the close", n, err)
	}
	st.waitClosed(t, map[string]int64{"error": 1})

	tc, err := askTLS(dial(t, st.addr), cli, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := echoLine(tc, bufio.NewReader(tc), "up\n"); err != nil {
		t.Fatal(err)
	}
	only().Close(kicked)
	if err := st.lostReason(t); !errors.Is(err, kicked) {
		t.Errorf("ConnectionLost(%v), want %v", err, kicked)
	}
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := tc.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("the TLS client read (%d, %v) after the close", n, err)
	}
	st.waitClosed(t, map[string]int64{"error": 2})
	if st.s.Len() != 0 {
		t.Errorf("Len %d after the closes", st.s.Len())
	}
}

// TestHandoffIdleDuringHandshake: IdleTimeout bounds a StartTLS handshake
// that stalls after the hand-off, when it is shorter than
// HandshakeTimeout: the connection ends with weft.ErrIdleTimeout, not
// before IdleTimeout, and the handshake slot is given back.
func TestHandoffIdleDuringHandshake(t *testing.T) {
	e := hoEngine(t)
	const idle = 500 * time.Millisecond
	st, _ := startST(t, e, func(s *Server) {
		s.HandshakeTimeout = time.Minute
		s.IdleTimeout = idle
	})
	raw := dial(t, st.addr)
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	before := time.Now() // the server's last traffic comes after this
	raw.Write([]byte("STARTTLS\r\n"))
	if err := stReply(raw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a handshake", func() bool { return st.s.Snapshot().Handshaking == 1 })
	wantFDPath(t, st.s)
	err := st.lostReason(t)
	if el := time.Since(before); el < idle {
		t.Errorf("cut %v after STARTTLS was sent, before IdleTimeout %v", el, idle)
	}
	if !errors.Is(err, weft.ErrIdleTimeout) {
		t.Errorf("ConnectionLost(%v), want weft.ErrIdleTimeout", err)
	}
	st.waitClosed(t, map[string]int64{"idle timeout": 1})
}
