package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	// The package's tests choose their engine: a Server with a nil Engine
	// is served by a goroutine per connection here (the "goroutine" runs of
	// onEngines), not by the server's own readiness engine, which its own
	// tests turn on (withOwnEngine, TestOwnEngine*).
	newOwnEngine = noOwnEngine
	goleak.VerifyTestMain(m)
}

// noOwnEngine is newOwnEngine in this package's tests, unless a test asks
// for the server's own engine (withOwnEngine).
func noOwnEngine() (*weft.Engine, error) { return nil, weft.ErrNotSupported }

// withOwnEngine restores the server's own engine (Engine nil, NoEngine
// false) for the calling test; made counts the engines made. The tests of
// this package run one at a time (none calls t.Parallel).
func withOwnEngine(t *testing.T) (made *atomic.Int32) {
	made = new(atomic.Int32)
	newOwnEngine = func() (*weft.Engine, error) {
		e, err := weft.NewEngine()
		if err == nil {
			made.Add(1)
		}
		return e, err
	}
	t.Cleanup(func() { newOwnEngine = noOwnEngine })
	return made
}

// echo writes back every byte it receives.
type echo struct{ t weft.Transport }

func (e *echo) ConnectionMade(t weft.Transport) { e.t = t }
func (e *echo) DataReceived(b []byte)           { e.t.Write(b) }
func (e *echo) ConnectionLost(error)            {}

func echoFactory() weft.Factory {
	return weft.FactoryFunc(func(net.Addr) weft.Protocol { return &echo{} })
}

// greeter writes msg on connect and then echoes.
type greeter struct {
	echo
	msg string
}

func (g *greeter) ConnectionMade(t weft.Transport) { g.t = t; t.Write([]byte(g.msg)) }

// serve starts s on a fresh loopback listener and closes it at cleanup
// (checking that Serve returned ErrServerClosed).
func serve(t *testing.T, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveWith(t, s, func() error { return s.Serve(l) })
	return l.Addr().String()
}

// serveWith runs run (s.Serve or s.ServeProxy on a listener of the
// caller's) on a goroutine, and at cleanup closes s and checks that run
// returned ErrServerClosed.
func serveWith(t *testing.T, s *Server, run func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- run() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
}

// dial connects from 127.0.0.1 (or from the given source IP).
func dial(t *testing.T, addr string, src ...string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if len(src) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src[0])}
	}
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and expects it echoed.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading echo of %q: %v", msg, err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// readAll reads until EOF (or a reset) within 5 s and returns what came.
func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !isReset(err) {
		t.Fatalf("read: %v", err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("no EOF within 5 s (got %q)", b)
	}
	return b
}

// readToEOF reads until a clean end of stream within 5 s and returns what
// came; a reset fails the test (for a message that must reach the client
// whole, as a reject message must even when the client had sent bytes).
func readToEOF(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read %q, then %v; want a clean EOF", b, err)
	}
	return b
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read"
}

// silent asserts that nothing arrives on c for a short while (the only way
// to observe absence); it restores no deadline.
func silent(t *testing.T, c net.Conn, who string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var b [1]byte
	n, err := c.Read(b[:])
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: got %d bytes, err %v; want nothing while queued", who, n, err)
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForUpTo(t, 10*time.Second, what, cond)
}

// waitForUpTo polls cond until it holds or d passes.
func waitForUpTo(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// pattern returns n bytes identifying who, so that misordering shows.
func pattern(who byte, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		b.WriteByte(who)
		b.WriteString(string(rune('0' + i%10)))
	}
	return b.Bytes()[:n]
}

// sendSmall writes p in 64-byte writes.
func sendSmall(t *testing.T, c net.Conn, p []byte) {
	t.Helper()
	for len(p) > 0 {
		n := min(64, len(p))
		if _, err := c.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
}

// readN reads exactly n bytes within 10 s.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

// pipeListener is testenv.PipeListener: an in-memory net.Listener over
// net.Pipe, usable inside a synctest bubble.
type pipeListener = testenv.PipeListener

func newPipeListener() *pipeListener { return testenv.NewPipeListener() }

// testTLS returns a server config with a fresh self-signed certificate and a
// client config that trusts it.
func testTLS(t *testing.T) (server, client *tls.Config) { return testenv.TLSConfigs(t) }

func factoryOf[P weft.Protocol](build func() P) weft.Factory {
	return weft.FactoryFunc(func(net.Addr) weft.Protocol { return build() })
}

// engines returns the runtimes to run a test against: goroutine per
// connection (nil) and, where supported, a readiness engine (closed at
// cleanup, after the servers that cleanup registered later).
func engines(t *testing.T) map[string]func(t *testing.T) *weft.Engine {
	return map[string]func(t *testing.T) *weft.Engine{
		"goroutine": func(*testing.T) *weft.Engine { return nil },
		"engine":    newEngine,
	}
}

// newEngine returns a readiness engine closed at cleanup, or skips the test
// where there is none.
func newEngine(t *testing.T) *weft.Engine {
	t.Helper()
	e, err := weft.NewEngine()
	if errors.Is(err, weft.ErrNotSupported) {
		t.Skip("no readiness engine on this platform")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}
