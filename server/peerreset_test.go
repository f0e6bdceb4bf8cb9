package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// flooder writes 8 MiB on connect (one Write: accepted whatever its size,
// so the peer is not a slow consumer), as chargen keeps writing, and
// records ConnectionLost's reason.
type flooder struct {
	lost chan error
}

func (f *flooder) ConnectionMade(t weft.Transport) { t.Write(make([]byte, 8<<20)) }
func (f *flooder) DataReceived([]byte)             {}
func (f *flooder) ConnectionLost(err error)        { f.lost <- err }

// resetClose closes a TCP connection with SO_LINGER 0: the kernel sends a
// reset, not a FIN, as a client killed mid-transfer or nc on Ctrl-C with
// unread data does.
func resetClose(t *testing.T, c net.Conn) {
	t.Helper()
	tc, ok := c.(*net.TCPConn)
	if !ok {
		t.Fatalf("%T is not a *net.TCPConn", c)
	}
	if err := tc.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	tc.Close()
}

// TestPeerResetReason: a client that resets its connection, while the
// server writes to it (chargen's usual end) or while it waits to read, on
// plain TCP and under TLS, on both engines, ends it with reason "peer reset",
// counted in Snapshot.Closed and logged at Debug as a close, with no Warn
// line (before, it was "error", "server: connection failed" at Warn).
func TestPeerResetReason(t *testing.T) {
	for name, engine := range engines(t) {
		for _, mode := range []string{"writing", "reading", "tls writing", "tls reading"} {
			t.Run(name+"/"+mode, func(t *testing.T) { testPeerReset(t, engine(t), mode) })
		}
	}
}

func testPeerReset(t *testing.T, engine *weft.Engine, mode string) {
	rec := &recordHandler{}
	lost := make(chan error, 1)
	writing := mode == "writing" || mode == "tls writing"
	useTLS := mode == "tls writing" || mode == "tls reading"
	f := weft.FactoryFunc(func(net.Addr) weft.Protocol {
		if writing {
			return &flooder{lost: lost}
		}
		return &lostEcho{lost: lost}
	})
	s := &Server{Factory: f, Logger: slog.New(rec), Engine: engine}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var srvTLS, cliTLS *tls.Config
	var ln net.Listener = l
	if useTLS {
		srvTLS, cliTLS = testTLS(t)
		ln = tls.NewListener(l, srvTLS)
	}
	serveWith(t, s, func() error { return s.Serve(ln) })

	raw := dial(t, l.Addr().String())
	var c net.Conn = raw
	if useTLS {
		tc := tls.Client(raw, cliTLS)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		c = tc
	}
	if writing {
		readN(t, c, 64<<10) // the server is writing
	} else {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		roundTrip(t, c, "ping") // the server waits to read
		waitFor(t, "the server reading", func() bool { return s.Len() == 1 })
	}
	resetClose(t, raw)

	select {
	case err := <-lost:
		if !isPeerReset(err) {
			t.Errorf("ConnectionLost(%v), want a reset (ECONNRESET, EPIPE or ECONNABORTED)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ConnectionLost within 10 s of the reset")
	}
	wantQuietClose(t, s, rec, "peer reset")
}

// wantQuietClose waits until s has counted and logged its one connection's
// close, then checks that it was counted as reason, logged at Debug with
// that reason, and that nothing was logged at Warn or above.
func wantQuietClose(t *testing.T, s *Server, rec *recordHandler, reason string) {
	t.Helper()
	waitFor(t, "the close counted", func() bool { return sum(s.Snapshot().Closed) == 1 })
	// finish counts the close, then logs it.
	waitFor(t, "the close logged", func() bool {
		return rec.has(slog.LevelDebug, "server: closed") || rec.has(slog.LevelWarn, "server: connection failed")
	})
	if closed := nonZero(s.Snapshot().Closed); closed[reason] != 1 || len(closed) != 1 {
		t.Errorf("Snapshot.Closed %v, want {%s: 1}", closed, reason)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var sawClosed bool
	for _, r := range rec.recs {
		if r.Level >= slog.LevelWarn {
			t.Errorf("logged at %v: %s %s", r.Level, r.Message, attrsOf(r))
		}
		if r.Level == slog.LevelDebug && r.Message == "server: closed" {
			sawClosed = true
			if got := attrsOf(r)["reason"]; got != reason {
				t.Errorf("Debug %q with reason %q, want %q", r.Message, got, reason)
			}
		}
	}
	if !sawClosed {
		t.Error(`no Debug record "server: closed"`)
	}
}

// lostEcho is echo that records ConnectionLost's reason.
type lostEcho struct {
	echo
	lost chan error
}

func (e *lostEcho) ConnectionLost(err error) { e.lost <- err }

// isPeerReset is the test's own check of what a reset looks like.
func isPeerReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// attrsOf returns r's attributes as strings.
func attrsOf(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// TestReasonOfPeerReset: ReasonOf names a peer's reset, however the
// runtime wraps it (a bare errno from the engine, a *net.OpError from a
// net.Conn, TLS's wrapping of it), "peer reset"; a timeout, a shutdown, a
// failed handshake or an abort that wraps a reset stays what acted, and
// other network errors stay "error".
func TestReasonOfPeerReset(t *testing.T) {
	opErr := func(op string, errno syscall.Errno) error {
		return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, errno)}
	}
	reset := opErr("read", syscall.ECONNRESET)
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"bare ECONNRESET", syscall.ECONNRESET, "peer reset"},
		{"bare EPIPE", syscall.EPIPE, "peer reset"},
		{"bare ECONNABORTED", syscall.ECONNABORTED, "peer reset"},
		{"read reset", reset, "peer reset"},
		{"write broken pipe", opErr("write", syscall.EPIPE), "peer reset"},
		{"write reset", opErr("write", syscall.ECONNRESET), "peer reset"},
		{"aborted", opErr("read", syscall.ECONNABORTED), "peer reset"},
		{"wrapped", fmt.Errorf("weft: flush: %w", reset), "peer reset"},
		{"shutdown wrapping a reset", fmt.Errorf("%w: %w", weft.ErrServerShutdown, reset), "shutdown"},
		{"idle timeout wrapping a reset", fmt.Errorf("%w: %w", weft.ErrIdleTimeout, reset), "idle timeout"},
		{"close timeout wrapping a reset", fmt.Errorf("%w: %w", weft.ErrCloseTimeout, reset), "close timeout"},
		{"handshake wrapping a reset", fmt.Errorf("%w: TLS: %w", errHandshake, reset), "handshake failed"},
		{"abort wrapping a reset", fmt.Errorf("%w: %w", weft.ErrAborted, reset), "aborted"},
		{"slow consumer wrapping a reset", fmt.Errorf("%w: %w", weft.ErrSlowConsumer, reset), "slow consumer"},
		{"malformed wrapping a reset", fmt.Errorf("%w: %w", codec.ErrMalformed, reset), "malformed"},
		{"refused", opErr("read", syscall.ECONNREFUSED), "error"},
		{"timed out (keep-alive)", opErr("read", syscall.ETIMEDOUT), "peer timeout"},
		{"bare ETIMEDOUT (engine)", syscall.ETIMEDOUT, "peer timeout"},
		{"host unreachable", opErr("write", syscall.EHOSTUNREACH), "peer timeout"},
		{"network unreachable", opErr("read", syscall.ENETUNREACH), "peer timeout"},
		{"timed out under TLS", fmt.Errorf("tls: %w", opErr("read", syscall.ETIMEDOUT)), "peer timeout"},
		{"idle timeout wrapping a time-out", fmt.Errorf("%w: %w", weft.ErrIdleTimeout, opErr("read", syscall.ETIMEDOUT)), "idle timeout"},
		{"handshake wrapping a time-out", fmt.Errorf("%w: %w", errHandshake, opErr("read", syscall.ETIMEDOUT)), "handshake failed"},
		{"deadline (not the peer)", os.ErrDeadlineExceeded, "error"},
		{"unexpected EOF", io.ErrUnexpectedEOF, "error"},
		{"context", context.DeadlineExceeded, "error"},
	} {
		if got := ReasonOf(c.err).String(); got != c.want {
			t.Errorf("%s: ReasonOf(%v) = %q, want %q", c.name, c.err, got, c.want)
		}
	}
}

// TestPeerResetReasonsListed: the new reason has a name, distinct from the
// others, and Snapshot.Closed has a key for it (zero before any close).
func TestPeerResetReasonsListed(t *testing.T) {
	s := &Server{Factory: echoFactory()}
	closed := s.Snapshot().Closed
	if len(closed) != int(numReasons) {
		t.Errorf("Snapshot.Closed has %d keys, want %d", len(closed), numReasons)
	}
	for _, name := range []string{"peer reset", "peer timeout"} {
		if n, ok := closed[name]; !ok || n != 0 {
			t.Errorf(`Snapshot.Closed[%q] = %d, %v; want 0, true`, name, n, ok)
		}
	}
}

// TestPeerTimeoutLoggedAtDebug: a connection whose client vanished
// (keep-alive or retransmission gave up: ETIMEDOUT; or the host became
// unreachable) is counted as "peer timeout" and logged at Debug, like a
// reset: on a public server with keep-alive on (the default) clients that
// vanish are routine, and Warn lines for them would drown real failures.
// The error is handed over by the Protocol (LoseConnectionWithReason), on
// both engines; TestPeerTimeoutRealSocket has the kernel make a real one.
func TestPeerTimeoutLoggedAtDebug(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			rec := &recordHandler{}
			timedOut := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ETIMEDOUT)}
			f := weft.FactoryFunc(func(net.Addr) weft.Protocol { return &reasonCloser{reason: timedOut} })
			s := &Server{Factory: f, Logger: slog.New(rec), Engine: engine(t)}
			addr := serve(t, s)
			c := dial(t, addr)
			readAll(t, c)
			wantQuietClose(t, s, rec, "peer timeout")
		})
	}
}

// reasonCloser closes its connection at once with reason.
type reasonCloser struct{ reason error }

func (p *reasonCloser) ConnectionMade(t weft.Transport) { weft.LoseConnectionWithReason(t, p.reason) }
func (p *reasonCloser) DataReceived([]byte)             {}
func (p *reasonCloser) ConnectionLost(error)            {}
