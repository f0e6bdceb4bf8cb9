package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"go.uber.org/goleak"
)

// The tests of this file run a STARTTLS line protocol (stLine) through
// server.Server on both runtimes, with a crypto/tls client: echo after the
// switch (a ClientHello pipelined behind the command included), a refused
// certificate, a truncated and a clean TLS end, IdleTimeout, Shutdown and
// Close, and 100 switches at once. With an Engine, a plain TCP listener and
// no MaxConns the server takes the descriptor accept path
// (weft.NewConnFD): each switch there moves its connection from the
// readiness engine to a goroutine of its own.

// stLine answers "STARTTLS" with "220 go" and switches with weft.StartTLS,
// handing it the bytes read after the command (a ClientHello the client
// pipelined), then echoes what it reads, over TLS. Other clear-text lines
// get "500". If StartTLS fails, it answers "454 " and the error, and
// closes. On a graceful shutdown it says "bye" if TLS data came already
// (output written while the handshake runs waits for it, and the close
// with it: a graceful close of a stalled handshake would wait for
// HandshakeTimeout).
type stLine struct {
	cfg     *tls.Config
	t       weft.Transport
	buf     []byte
	on, up  bool // StartTLS called; data received over TLS
	started chan<- stStarted
	lost    chan<- error
}

// stStarted is what an stLine's StartTLS returned, and how many bytes
// after the command it handed over.
type stStarted struct {
	err error
	pre int
}

func (p *stLine) ConnectionMade(t weft.Transport) { p.t = t }

func (p *stLine) DataReceived(d []byte) {
	if p.on {
		p.up = true
		p.t.Write(d)
		return
	}
	p.buf = append(p.buf, d...)
	for {
		line, rest, ok := bytes.Cut(p.buf, []byte("\n"))
		if !ok {
			return
		}
		if string(bytes.TrimSuffix(line, []byte("\r"))) != "STARTTLS" {
			p.t.Write([]byte("500 say STARTTLS\r\n"))
			p.buf = rest
			continue
		}
		p.t.Write([]byte("220 go\r\n"))
		err := weft.StartTLS(p.t, p.cfg, rest)
		p.started <- stStarted{err, len(rest)}
		p.buf = nil
		if err != nil {
			p.t.Write([]byte("454 " + err.Error() + "\r\n"))
			p.t.LoseConnection()
			return
		}
		p.on = true
		return
	}
}

func (p *stLine) Shutdown() {
	if p.up {
		p.t.Write([]byte("bye\n"))
	}
}

func (p *stLine) ConnectionLost(err error) { p.lost <- err }

// stServer is a Server running stLine on a loopback TCP listener.
type stServer struct {
	s       *Server
	addr    string
	started chan stStarted
	lost    chan error
	done    chan error
	stop    func() // Close, then wait for Serve (also run at cleanup)
}

// startST serves stLine with engine (nil: goroutine per connection) on a
// fresh loopback listener; set, if not nil, adjusts the Server first.
func startST(t *testing.T, engine *weft.Engine, set func(*Server)) (st *stServer, clientCfg *tls.Config) {
	t.Helper()
	srv, cli := testTLS(t)
	st = &stServer{started: make(chan stStarted, 256), lost: make(chan error, 256), done: make(chan error, 1)}
	st.s = &Server{Engine: engine, Factory: factoryOf(func() *stLine {
		return &stLine{cfg: srv, started: st.started, lost: st.lost}
	})}
	if set != nil {
		set(st.s)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st.addr = l.Addr().String()
	go func() { st.done <- st.s.Serve(l) }()
	var once sync.Once
	st.stop = func() {
		once.Do(func() {
			st.s.Close()
			if err := <-st.done; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		})
	}
	t.Cleanup(st.stop)
	return st, cli
}

// stReply reads "220 go\r\n" from c.
func stReply(c net.Conn) error {
	got := make([]byte, len("220 go\r\n"))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("reading the reply to STARTTLS: %w", err)
	}
	if string(got) != "220 go\r\n" {
		return fmt.Errorf("reply to STARTTLS %q, want \"220 go\\r\\n\"", got)
	}
	return nil
}

// stPipelined sends "STARTTLS\r\n" in the same write as the first bytes
// written on it (a TLS client's ClientHello), and reads the "220 go" reply
// before the first bytes read from it (the server's hello).
type stPipelined struct {
	net.Conn
	sent, replied bool
}

func (c *stPipelined) Write(b []byte) (int, error) {
	if c.sent {
		return c.Conn.Write(b)
	}
	c.sent = true
	n, err := c.Conn.Write(append([]byte("STARTTLS\r\n"), b...))
	return max(0, n-len("STARTTLS\r\n")), err
}

func (c *stPipelined) Read(b []byte) (int, error) {
	if !c.replied {
		c.replied = true
		if err := stReply(c.Conn); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

// askTLS asks for STARTTLS on raw and runs the client's TLS handshake, all
// within 10 s; pipelined sends the ClientHello behind the command without
// waiting for the reply. It returns the *tls.Conn even when the handshake
// failed.
func askTLS(raw net.Conn, cfg *tls.Config, pipelined bool) (*tls.Conn, error) {
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	defer raw.SetDeadline(time.Time{})
	var under net.Conn = &stPipelined{Conn: raw}
	if !pipelined {
		if _, err := raw.Write([]byte("STARTTLS\r\n")); err != nil {
			return nil, err
		}
		if err := stReply(raw); err != nil {
			return nil, err
		}
		under = raw
	}
	tc := tls.Client(under, cfg)
	return tc, tc.Handshake()
}

// echoLine writes line on c and reads its echo, within 10 s.
func echoLine(c net.Conn, r *bufio.Reader, line string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, line); err != nil {
		return fmt.Errorf("writing %q: %w", line, err)
	}
	got, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the echo of %q: got %q, %w", line, got, err)
	}
	if got != line {
		return fmt.Errorf("echo %q, want %q", got, line)
	}
	return nil
}

// startedErr returns what the Protocol's StartTLS returned.
func (st *stServer) startedErr(t *testing.T) stStarted {
	t.Helper()
	select {
	case r := <-st.started:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the Protocol did not call StartTLS")
		return stStarted{}
	}
}

// lostReason returns the next reason given to ConnectionLost.
func (st *stServer) lostReason(t *testing.T) error {
	t.Helper()
	select {
	case err := <-st.lost:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("ConnectionLost was not called within 10 s")
		return nil
	}
}

// waitClosed waits until the Snapshot counts want closed connections by
// reason, no connection is active or handshaking, and Accepted is the sum.
func (st *stServer) waitClosed(t *testing.T, want map[string]int64) {
	t.Helper()
	var total int64
	for _, n := range want {
		total += n
	}
	var snap Snapshot
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap = st.s.Snapshot()
		ok := snap.Active == 0 && snap.Handshaking == 0 && snap.Accepted == total
		var sum int64
		for reason, n := range snap.Closed {
			sum += n
			if n != want[reason] {
				ok = false
			}
		}
		if ok && sum == total {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Snapshot: accepted %d, active %d, handshaking %d, closed %v; want %d accepted, none active or handshaking, closed %v",
				snap.Accepted, snap.Active, snap.Handshaking, nonZero(snap.Closed), total, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func nonZero(m map[string]int64) map[string]int64 {
	out := make(map[string]int64)
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// TestStartTLSServerEcho: STARTTLS, then lines echoed over TLS, with the
// ClientHello sent after the reply or pipelined right behind the command
// (handed to StartTLS as its buffered bytes); a close_notify then ends the
// connection cleanly.
func TestStartTLSServerEcho(t *testing.T) {
	onEngines(t, func(t *testing.T, e *weft.Engine) {
		for _, pipelined := range []bool{false, true} {
			t.Run(fmt.Sprintf("pipelined=%v", pipelined), func(t *testing.T) {
				st, cli := startST(t, e, nil)
				raw := dial(t, st.addr)
				tc, err := askTLS(raw, cli, pipelined)
				if err != nil {
					t.Fatalf("STARTTLS: %v", err)
				}
				r := st.startedErr(t)
				if r.err != nil {
					t.Fatalf("StartTLS returned %v", r.err)
				}
				if pipelined && r.pre == 0 {
					t.Errorf("the pipelined ClientHello was not handed to StartTLS")
				}
				if !pipelined && r.pre != 0 {
					t.Errorf("StartTLS was handed %d bytes; the client sent none after the command", r.pre)
				}
				br := bufio.NewReader(tc)
				for i := range 5 {
					if err := echoLine(tc, br, fmt.Sprintf("line %d over TLS\n", i)); err != nil {
						t.Fatal(err)
					}
				}
				tc.Close()
				if err := st.lostReason(t); err != nil {
					t.Errorf("ConnectionLost(%v), want nil", err)
				}
				st.waitClosed(t, map[string]int64{"clean": 1})
				wantFDPath(t, st.s)
			})
		}
	})
}

// TestStartTLSServerHandshakeFailed: a client that refuses the server's
// certificate ends the switch: "handshake failed", matching
// weft.ErrHandshakeFailed; the slot and the goroutines are given back.
func TestStartTLSServerHandshakeFailed(t *testing.T) {
	onEngines(t, func(t *testing.T, e *weft.Engine) {
		ignore := goleak.IgnoreCurrent()
		st, _ := startST(t, e, nil)
		raw := dial(t, st.addr)
		distrust := &tls.Config{ServerName: "localhost", MinVersion: tls.VersionTLS12} // system roots only
		if _, err := askTLS(raw, distrust, false); err == nil {
			t.Fatal("the client accepted a certificate it does not trust")
		}
		raw.Close()
		if r := st.startedErr(t); r.err != nil {
			t.Fatalf("StartTLS returned %v", r.err)
		}
		err := st.lostReason(t)
		if !errors.Is(err, weft.ErrHandshakeFailed) || ReasonOf(err) != ReasonHandshakeFailed {
			t.Errorf("ConnectionLost(%v), reason %q; want weft.ErrHandshakeFailed, \"handshake failed\"", err, ReasonOf(err))
		}
		st.waitClosed(t, map[string]int64{"handshake failed": 1})
		st.stop()
		// The engine's workers park, to be reused; the connection's
		// own goroutines (the handshake's, the reader's) must be gone.
		goleak.VerifyNone(t, ignore, goleak.IgnoreAnyFunction("github.com/weftkit/weft.(*Engine).work"))
	})
}

// TestStartTLSServerTruncated: a client that cuts the TCP stream after the
// switch, without close_notify, is reported as weft.ErrTLSTruncated,
// "tls truncated"; one that sends close_notify ends cleanly.
func TestStartTLSServerTruncated(t *testing.T) {
	onEngines(t, func(t *testing.T, e *weft.Engine) {
		for _, c := range []struct {
			name string
			end  func(tc *tls.Conn, raw net.Conn)
			want string
		}{
			{"close_notify", func(tc *tls.Conn, _ net.Conn) { tc.Close() }, "clean"},
			{"socket closed", func(_ *tls.Conn, raw net.Conn) { raw.Close() }, "tls truncated"},
			{"socket half-closed", func(_ *tls.Conn, raw net.Conn) { raw.(*net.TCPConn).CloseWrite() }, "tls truncated"},
		} {
			t.Run(c.name, func(t *testing.T) {
				st, cli := startST(t, e, nil)
				raw := dial(t, st.addr)
				tc, err := askTLS(raw, cli, true)
				if err != nil {
					t.Fatalf("STARTTLS: %v", err)
				}
				if err := echoLine(tc, bufio.NewReader(tc), "before the end\n"); err != nil {
					t.Fatal(err)
				}
				c.end(tc, raw)
				err = st.lostReason(t)
				if got := ReasonOf(err).String(); got != c.want {
					t.Errorf("ConnectionLost(%v), reason %q, want %q", err, got, c.want)
				}
				if c.want == "tls truncated" && !errors.Is(err, weft.ErrTLSTruncated) {
					t.Errorf("ConnectionLost(%v), want weft.ErrTLSTruncated", err)
				}
				st.waitClosed(t, map[string]int64{c.want: 1})
			})
		}
	})
}

// TestStartTLSServerIdleTimeout: IdleTimeout goes on bounding a connection
// after its switch to TLS: it ends with weft.ErrIdleTimeout when the
// timeout has passed since the last echo, not before. (Goroutine engine:
// in a synctest bubble over net.Pipe.)
func TestStartTLSServerIdleTimeout(t *testing.T) {
	const idle = 5 * time.Second
	onEngines(t, func(t *testing.T, e *weft.Engine) {
		if e != nil {
			// The engine cannot run in a synctest bubble: real time,
			// with a short timeout, asserting only what must happen.
			const idle = time.Second
			st, cli := startST(t, e, func(s *Server) { s.IdleTimeout = idle })
			tc, err := askTLS(dial(t, st.addr), cli, false)
			if err != nil {
				t.Fatalf("STARTTLS: %v", err)
			}
			if r := st.startedErr(t); r.err != nil {
				t.Fatalf("StartTLS returned %v", r.err)
			}
			before := time.Now() // the server's last traffic is after this
			if err := echoLine(tc, bufio.NewReader(tc), "one line\n"); err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, tc)
			err = st.lostReason(t)
			if el := time.Since(before); el < idle {
				t.Errorf("closed %v after the last echo began, before IdleTimeout %v", el, idle)
			}
			if !errors.Is(err, weft.ErrIdleTimeout) {
				t.Errorf("ConnectionLost(%v), want weft.ErrIdleTimeout", err)
			}
			wantFDPath(t, st.s)
			st.waitClosed(t, map[string]int64{"idle timeout": 1})
			return
		}
		synctest.Test(t, func(t *testing.T) {
			srv, cli := testTLS(t)
			started, lost := make(chan stStarted, 1), make(chan error, 1)
			s := &Server{IdleTimeout: idle, Factory: factoryOf(func() *stLine {
				return &stLine{cfg: srv, started: started, lost: lost}
			})}
			pl := newPipeListener()
			done := make(chan error, 1)
			go func() { done <- s.Serve(pl) }()
			defer func() { s.Close(); <-done }()
			raw := pl.Dial()
			defer raw.Close()
			// Not pipelined: net.Pipe does not buffer, and the server
			// sends "220 go" before it reads the rest of the hello.
			tc, err := askTLS(raw, cli, false)
			if err != nil {
				t.Fatalf("STARTTLS: %v", err)
			}
			if r := <-started; r.err != nil {
				t.Fatalf("StartTLS returned %v", r.err)
			}
			if err := echoLine(tc, bufio.NewReader(tc), "one line\n"); err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, tc) // takes what the server sends at its close
			time.Sleep(idle - time.Millisecond)
			synctest.Wait()
			select {
			case err := <-lost:
				t.Fatalf("closed before IdleTimeout: %v", err)
			default:
			}
			time.Sleep(2 * time.Millisecond)
			synctest.Wait()
			select {
			case err := <-lost:
				if !errors.Is(err, weft.ErrIdleTimeout) {
					t.Errorf("ConnectionLost(%v), want weft.ErrIdleTimeout", err)
				}
			default:
				t.Fatalf("a connection idle after StartTLS outlived IdleTimeout (%v)", idle)
			}
			if got := s.Snapshot().Closed["idle timeout"]; got != 1 {
				t.Errorf(`Closed["idle timeout"] = %d, want 1`, got)
			}
		})
	})
}

// TestStartTLSServerShutdown: a graceful Shutdown while 20 clients converse
// over TLS after STARTTLS tells each ("bye", over TLS), lets each drain and
// ends each with a close_notify: every client reads only correct echoes,
// "bye" and a clean end of stream, and Shutdown returns nil.
func TestStartTLSServerShutdown(t *testing.T) {
	onEngines(t, func(t *testing.T, e *weft.Engine) {
		st, cli := startST(t, e, nil)
		const clients = 20
		var ready sync.WaitGroup
		ready.Add(clients)
		errs := make(chan error, clients)
		for i := range clients {
			go func() { errs <- stConverse(st.addr, cli, i, &ready) }()
		}
		ready.Wait()
		waitFor(t, "20 active", func() bool { return st.s.Len() == clients })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := st.s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		for range clients {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		for range clients {
			if err := st.lostReason(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
		}
		st.waitClosed(t, map[string]int64{"clean": clients})
	})
}

// stConverse does STARTTLS (pipelined for odd ids) and exchanges lines in
// lockstep over TLS until the server says bye, then reads to the end of
// the stream, which must be a close_notify (io.EOF).
func stConverse(addr string, cfg *tls.Config, id int, ready *sync.WaitGroup) error {
	once := sync.OnceFunc(ready.Done)
	defer once()
	raw, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer raw.Close()
	tc, err := askTLS(raw, cfg, id%2 == 1)
	if err != nil {
		return fmt.Errorf("client %d: STARTTLS: %w", id, err)
	}
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(tc)
	for n := 0; ; n++ {
		line := fmt.Sprintf("client %d line %d\n", id, n)
		_, werr := io.WriteString(tc, line)
		got, err := r.ReadString('\n')
		once()
		switch {
		case got == "bye\n":
			rest, err := io.ReadAll(r)
			if len(rest) > 0 || err != nil {
				return fmt.Errorf("client %d: after bye read %q, %v; want a close_notify", id, rest, err)
			}
			return nil
		case err != nil:
			return fmt.Errorf("client %d: after %d lines: read %q, %v (write: %v)", id, n, got, err, werr)
		case got != line:
			return fmt.Errorf("client %d: got %q, want the echo of %q", id, got, line)
		}
	}
}

// TestStartTLSServerCloseDuringHandshake: Close (and a graceful Shutdown)
// while clients' STARTTLS handshakes wait for their ClientHello ends them
// at once, not at HandshakeTimeout (1 min here): Close with
// weft.ErrServerShutdown ("shutdown"), Shutdown cleanly (nothing was
// queued for TLS); every handshake slot is given back.
func TestStartTLSServerCloseDuringHandshake(t *testing.T) {
	for _, graceful := range []bool{false, true} {
		t.Run(map[bool]string{false: "Close", true: "Shutdown"}[graceful], func(t *testing.T) {
			onEngines(t, func(t *testing.T, e *weft.Engine) {
				st, _ := startST(t, e, func(s *Server) { s.HandshakeTimeout = time.Minute })
				const clients = 10
				conns := make([]net.Conn, clients)
				for i := range conns {
					conns[i] = dial(t, st.addr)
					conns[i].Write([]byte("STARTTLS\r\n"))
					conns[i].SetReadDeadline(time.Now().Add(10 * time.Second))
					if err := stReply(conns[i]); err != nil {
						t.Fatal(err)
					}
				}
				waitFor(t, "10 handshakes", func() bool { return st.s.Snapshot().Handshaking == clients })
				begin := time.Now()
				if graceful {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					if err := st.s.Shutdown(ctx); err != nil {
						t.Errorf("Shutdown = %v", err)
					}
					if err := <-st.done; !errors.Is(err, ErrServerClosed) {
						t.Errorf("Serve = %v", err)
					}
					st.done <- ErrServerClosed // for st.stop
				} else {
					st.stop()
				}
				if d := time.Since(begin); d > 10*time.Second {
					t.Errorf("took %v with handshakes waiting", d)
				}
				for _, c := range conns {
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if n, err := c.Read(make([]byte, 1)); n != 0 || (err != io.EOF && !isReset(err)) {
						t.Errorf("client read (%d, %v), want the end of the stream", n, err)
					}
				}
				// Close: ErrServerShutdown. Shutdown: a LoseConnection with
				// nothing to send closes the socket under the handshake,
				// and the connection ends cleanly.
				want := "shutdown"
				if graceful {
					want = "clean"
				}
				for range clients {
					err := st.lostReason(t)
					if got := ReasonOf(err).String(); got != want || graceful != (err == nil) {
						t.Errorf("ConnectionLost(%v), reason %q, want %q", err, got, want)
					}
				}
				st.waitClosed(t, map[string]int64{want: clients})
			})
		})
	}
}

// TestStartTLSServerMany: 100 clients do STARTTLS at once (half of them
// pipelining their ClientHello), echo lines and close with close_notify:
// all succeed and the Snapshot balances.
func TestStartTLSServerMany(t *testing.T) {
	const clients = 100
	onEngines(t, func(t *testing.T, e *weft.Engine) {
		st, cli := startST(t, e, nil)
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i := range clients {
			wg.Go(func() { errs <- stOnce(st.addr, cli, i) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		wantFDPath(t, st.s)
		for range clients {
			r := st.startedErr(t)
			if r.err != nil {
				t.Errorf("StartTLS returned %v", r.err)
			}
			if err := st.lostReason(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
		}
		st.waitClosed(t, map[string]int64{"clean": clients})
	})
}

// stOnce is one client of TestStartTLSServerMany.
func stOnce(addr string, cfg *tls.Config, id int) error {
	raw, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer raw.Close()
	tc, err := askTLS(raw, cfg, id%2 == 1)
	if err != nil {
		return fmt.Errorf("client %d: STARTTLS: %w", id, err)
	}
	r := bufio.NewReader(tc)
	for n := range 3 {
		if err := echoLine(tc, r, fmt.Sprintf("client %d line %d\n", id, n)); err != nil {
			return fmt.Errorf("client %d: %w", id, err)
		}
	}
	return tc.Close()
}
