package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// TestMaxConnsPerPeer: the third connection from 127.0.0.1 gets the message
// and EOF, while 127.0.0.2 is still served.
func TestMaxConnsPerPeer(t *testing.T) {
	const msg = "Too many connections from your address\r\n"
	s := &Server{Factory: echoFactory(), MaxConnsPerPeer: 2, RejectMessage: []byte(msg)}
	addr := serve(t, s)
	a, b := dial(t, addr, "127.0.0.1"), dial(t, addr, "127.0.0.1")
	roundTrip(t, a, "A")
	roundTrip(t, b, "B")
	c := dial(t, addr, "127.0.0.1")
	if got := string(readAll(t, c)); got != msg {
		t.Fatalf("third client from 127.0.0.1 received %q, want %q", got, msg)
	}
	other := dial(t, addr, "127.0.0.2")
	roundTrip(t, other, "another peer is served")
	if n := s.Snapshot().Rejected["per peer"]; n != 1 {
		t.Errorf("rejected per peer = %d, want 1", n)
	}
	a.Close()
	waitFor(t, "A's slot back", func() bool { return s.Snapshot().Active == 2 })
	roundTrip(t, dial(t, addr, "127.0.0.1"), "127.0.0.1 again")
}

// TestIdleTimeoutLoopback: a silent client is closed: it reads EOF, no bytes.
// (The timeout's exact length is checked in fake time by TestTimeoutsSynctest;
// here it leaves room for the first exchange on a loaded machine.)
func TestIdleTimeoutLoopback(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) { testIdleTimeoutLoopback(t, engine(t)) })
	}
}

func testIdleTimeoutLoopback(t *testing.T, engine *weft.Engine) {
	s := &Server{Factory: echoFactory(), IdleTimeout: 250 * time.Millisecond, Engine: engine}
	addr := serve(t, s)
	c := dial(t, addr)
	roundTrip(t, c, "one exchange")
	if got := readAll(t, c); len(got) != 0 {
		t.Fatalf("idle client received %q, want nothing then EOF", got)
	}
	waitFor(t, "idle timeout counted", func() bool { return s.Snapshot().Closed["idle timeout"] == 1 })
}

// TestTimeoutsSynctest drives the idle and TLS-handshake timeouts over
// net.Pipe in a synctest bubble: fake time, no sleeping.
func TestTimeoutsSynctest(t *testing.T) {
	srvTLS, _ := testTLS(t)
	for _, tc := range []struct {
		name   string
		s      *Server
		tls    bool
		reason string
	}{
		{"idle", &Server{Factory: echoFactory(), IdleTimeout: time.Minute}, false, "idle timeout"},
		{"tls-handshake", &Server{Factory: echoFactory(), HandshakeTimeout: 7 * time.Second}, true, "handshake timeout"},
		{"tls-handshake-default", &Server{Factory: echoFactory()}, true, "handshake timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pl := newPipeListener()
				var l net.Listener = pl
				if tc.tls {
					l = tls.NewListener(pl, srvTLS)
				}
				done := make(chan error, 1)
				go func() { done <- tc.s.Serve(l) }()
				c := pl.Dial()
				start := time.Now()
				b, err := io.ReadAll(c)
				if len(b) != 0 || err != nil {
					t.Fatalf("client read %q, %v; want EOF and no bytes", b, err)
				}
				limit := tc.s.IdleTimeout + tc.s.HandshakeTimeout
				if limit == 0 {
					limit = DefaultHandshakeTimeout
				}
				if waited := time.Since(start); waited != limit {
					t.Errorf("closed after %v of fake time, want %v", waited, limit)
				}
				synctest.Wait()
				if n := tc.s.Snapshot().Closed[tc.reason]; n != 1 {
					t.Errorf("closed[%q] = %d, want 1", tc.reason, n)
				}
				c.Close()
				tc.s.Close()
				if err := <-done; !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve = %v", err)
				}
			})
		})
	}
}

// TestTLSHandshakeTimeoutLoopback: a client that never says hello is closed
// after HandshakeTimeout with no byte sent; a real TLS client is echoed.
func TestTLSHandshakeTimeoutLoopback(t *testing.T) {
	srvTLS, cliTLS := testTLS(t)
	s := &Server{Factory: echoFactory(), HandshakeTimeout: time.Second}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(tls.NewListener(l, srvTLS)) }()
	defer func() { s.Close(); <-done }()

	mute := dial(t, l.Addr().String())
	if got := readAll(t, mute); len(got) != 0 {
		t.Fatalf("mute client received %q, want EOF only", got)
	}
	tc, err := tls.Dial("tcp4", l.Addr().String(), cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	roundTrip(t, tc, "over TLS")
	waitFor(t, "handshake timeout counted", func() bool { return s.Snapshot().Closed["handshake timeout"] == 1 })
}

// TestValidate: every invalid field is named; the zero Server with a Factory
// is valid.
func TestValidate(t *testing.T) {
	f := echoFactory()
	for i, tc := range []struct {
		s    *Server
		want string // "" = valid
	}{
		{&Server{Factory: f}, ""},
		{&Server{}, "Server.Factory"},
		{&Server{Factory: f, MaxConns: -1}, "Server.MaxConns"},
		{&Server{Factory: f, Overflow: 7}, "Server.Overflow"},
		{&Server{Factory: f, MaxQueue: -1}, "Server.MaxQueue"},
		{&Server{Factory: f, QueueTimeout: -1}, "Server.QueueTimeout"},
		{&Server{Factory: f, MaxConnsPerPeer: -1}, "Server.MaxConnsPerPeer"},
		{&Server{Factory: f, IdleTimeout: -1}, "Server.IdleTimeout"},
		{&Server{Factory: f, HandshakeTimeout: -1}, "Server.HandshakeTimeout"},
		{&Server{Factory: f, MaxHandshakes: -1}, "server: invalid configuration: Server.MaxHandshakes -1 is negative"},
		{&Server{Factory: f, MaxLingering: -2}, "server: invalid configuration: Server.MaxLingering -2 is negative"},
		{&Server{Factory: f, Overflow: QueueFIFO, OverflowFactory: f}, "Server.OverflowFactory"},
		{&Server{Factory: f, HighWater: 10, LowWater: 20}, "server: invalid configuration: Server.LowWater 20 exceeds HighWater 10"},
		{&Server{Factory: f, MaxWriteBuffer: -5}, "server: invalid configuration: Server.MaxWriteBuffer -5 is negative"},
		{&Server{Factory: f, ReadBufferSize: -1}, "Server.ReadBufferSize"},
	} {
		err := tc.s.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("case %d: unexpected error %v", i, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidConfig)):
			t.Errorf("case %d: error %v, want one naming %s", i, err, tc.want)
		}
	}
	s := &Server{}
	l := newPipeListener()
	if err := s.Serve(l); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Serve with no Factory = %v", err)
	}
	// A nil listener is an error, not a panic.
	s = &Server{Factory: f}
	if err := s.Serve(nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Serve(nil) = %v", err)
	}
	if err := s.ServeProxy(nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ServeProxy(nil) = %v", err)
	}
	s.Close()
}

// TestRefused: a Factory returning nil refuses the connection (EOF at once).
// With the engine, on the descriptor accept path (runFD closes the
// descriptor).
func TestRefused(t *testing.T) {
	onEngines(t, func(t *testing.T, engine *weft.Engine) {
		s := &Server{Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol { return nil }), Engine: engine}
		addr := serve(t, s)
		if got := readAll(t, dial(t, addr)); len(got) != 0 {
			t.Fatalf("refused client got %q", got)
		}
		wantFDPath(t, s)
		waitFor(t, "refusal counted", func() bool {
			snap := s.Snapshot()
			return snap.Rejected["refused"] == 1 && snap.Closed["rejected"] == 1
		})
		if n := s.Snapshot().Active; n != 0 {
			t.Errorf("active %d after the refusal, want 0", n)
		}
	})
}
