package server

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// listenUnix listens on a fresh unix socket path in a temporary directory.
func listenUnix(t *testing.T) (net.Listener, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return l, path
}

// dialUnixFrom connects to path from a client socket bound to the (relative,
// in the current directory) path name.
func dialUnixFrom(t *testing.T, path, name string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.UnixAddr{Name: name, Net: "unix"}}
	c, err := d.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUnixPeerIsNotAnIPPeer: a unix-socket client whose socket is bound to a
// path that reads as "IP:port" is not an IP peer: it must not count against
// MaxConnsPerPeer of that IP (the docs: unix-socket peers are not limited),
// so a local client cannot lock a remote address out. With the engine, the
// TCP listener is on the descriptor accept path and the unix one on the
// net.Conn path, counting against the same peers.
func TestUnixPeerIsNotAnIPPeer(t *testing.T) { onEngines(t, testUnixPeerIsNotAnIPPeer) }

func testUnixPeerIsNotAnIPPeer(t *testing.T, engine *weft.Engine) {
	t.Chdir(t.TempDir())
	s := &Server{Factory: echoFactory(), MaxConnsPerPeer: 1, RejectMessage: []byte("per peer\r\n"), Engine: engine}
	addr := serve(t, s)
	ul, upath := listenUnix(t)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ul) }()
	t.Cleanup(func() { s.Close(); <-done })

	// Two unix clients, both bound to "127.0.0.1:1": neither is limited.
	u1 := dialUnixFrom(t, upath, "127.0.0.1:1")
	roundTrip(t, u1, "unix one")
	u2 := dialUnixFrom(t, upath, "127.0.0.2:1")
	roundTrip(t, u2, "unix two")
	// The real 127.0.0.1 still has its one connection.
	roundTrip(t, dial(t, addr, "127.0.0.1"), "tcp from 127.0.0.1")
	wantFDPath(t, s)
	if n := s.Snapshot().Rejected["per peer"]; n != 0 {
		t.Errorf("rejected per peer = %d, want 0", n)
	}
}

// TestUnixPeerNotTrustedAsIP: on a PROXY listener over a unix socket, a local
// client that binds its socket to a path reading "127.0.0.1:1" is not a
// trusted 127.0.0.1 source: its PROXY header is refused, not obeyed (else
// any local user could claim any address).
func TestUnixPeerNotTrustedAsIP(t *testing.T) {
	if trusted([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, &net.UnixAddr{Name: "127.0.0.1:1", Net: "unix"}) {
		t.Error("a unix address named 127.0.0.1:1 is trusted as 127.0.0.0/8")
	}
	if ip := ipOf(&net.UnixAddr{Name: "10.1.2.3:4", Net: "unix"}); ip.IsValid() {
		t.Errorf("ipOf(unix 10.1.2.3:4) = %v, want none", ip)
	}
	t.Chdir(t.TempDir())
	s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} })}
	ul, upath := listenUnix(t)
	done := make(chan error, 1)
	go func() { done <- s.ServeProxy(ul, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}) }()
	t.Cleanup(func() { s.Close(); <-done })
	c := dialUnixFrom(t, upath, "127.0.0.1:1")
	if _, err := c.Write(proxyHeader(t, 2, "203.0.113.9:4444")); err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, c)); got != "" {
		t.Fatalf("spoofed PROXY header over unix served: %q", got)
	}
	waitFor(t, "untrusted proxy counted", func() bool { return s.Snapshot().Rejected["untrusted proxy"] == 1 })
}

// TestTrustedMappedPrefix: a trusted prefix written in its IPv4-mapped IPv6
// form (::ffff:127.0.0.1/128) trusts the IPv4 peer 127.0.0.1, as the
// peer's own address is compared mapped or not.
func TestTrustedMappedPrefix(t *testing.T) {
	peer := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	for _, p := range []string{"::ffff:127.0.0.1/128", "::ffff:127.0.0.0/104", "127.0.0.0/8"} {
		if !trusted([]netip.Prefix{netip.MustParsePrefix(p)}, peer) {
			t.Errorf("%s does not trust %v", p, peer)
		}
	}
	if trusted([]netip.Prefix{netip.MustParsePrefix("::/8")}, peer) {
		t.Error("::/8 trusts 127.0.0.1")
	}
	s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} })}
	addr := serveProxy(t, s, "::ffff:127.0.0.1/128")
	c := dial(t, addr)
	if _, err := c.Write(proxyHeader(t, 1, "203.0.113.9:4444")); err != nil {
		t.Fatal(err)
	}
	want := "you are 203.0.113.9:4444\n"
	if got := string(readN(t, c, len(want))); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestPublishExpvarConcurrent: PublishExpvar under the same name from many
// goroutines at once publishes it once and returns an error to the others,
// never expvar's panic.
func TestPublishExpvarConcurrent(t *testing.T) {
	s := &Server{Factory: echoFactory()}
	for round := range 2000 {
		name := fmt.Sprintf("weft-review-expvar-%d", expvarSeq.Add(1))
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, panics := 0, 0
		start := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				defer func() {
					if recover() != nil {
						mu.Lock()
						panics++
						mu.Unlock()
					}
				}()
				<-start
				if s.PublishExpvar(name) == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if panics != 0 || ok != 1 {
			t.Fatalf("round %d: %d published, %d panics; want 1 and 0", round, ok, panics)
		}
		if expvar.Get(name) == nil {
			t.Fatalf("round %d: not published", round)
		}
	}
}

// ctxStarter is a Factory whose Start waits for its context to end (or to be
// released) and returns the context's error, as a well-behaved Start does.
type ctxStarter struct {
	weft.Factory
	entered chan struct{}
}

func (f *ctxStarter) Start(ctx context.Context) error {
	close(f.entered)
	<-ctx.Done()
	return ctx.Err()
}

// TestRunCancelledDuringFactoryStart: a shutdown asked for by Run's ctx
// while the Factory's Start is running (and returns its ctx's error, as it
// should) is a shutdown, not a failure: Run returns nil and Serve
// ErrServerClosed. With the engine, Run's TCP listener was prepared for the
// descriptor accept path before Start (its duplicate descriptor is closed).
func TestRunCancelledDuringFactoryStart(t *testing.T) {
	onEngines(t, testRunCancelledDuringFactoryStart)
}

func testRunCancelledDuringFactoryStart(t *testing.T, engine *weft.Engine) {
	f := &ctxStarter{Factory: echoFactory(), entered: make(chan struct{})}
	s := &Server{Factory: f, Engine: engine}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, 0, l) }()
	<-f.entered
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after its ctx ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}

	f2 := &ctxStarter{Factory: echoFactory(), entered: make(chan struct{})}
	s2 := &Server{Factory: f2, Engine: engine}
	l2, _ := listenFor(t, engine)
	serveErr := make(chan error, 1)
	go func() { serveErr <- s2.Serve(l2) }()
	<-f2.entered
	s2.Close()
	if err := <-serveErr; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve closed during Factory.Start = %v, want ErrServerClosed", err)
	}
}

// TestListenAfterClose: Listen after Close returns ErrServerClosed at once,
// whatever the endpoint: also one that names a host (resolved with the
// server's context) or a unix path that exists (probed with it).
func TestListenAfterClose(t *testing.T) {
	stale := filepath.Join(t.TempDir(), "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // leaves a stale socket file
	s := &Server{Factory: echoFactory()}
	s.Close()
	for _, desc := range []string{
		"tcp:0:interface=127.0.0.1",
		"unix:" + stale + ":lockfile=0",
	} {
		if err := s.Listen(desc); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Listen(%q) after Close = %v, want ErrServerClosed", desc, err)
		}
	}
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client = dial(t, l.Addr().String())
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server, client
}

// TestQueuedAtShutdownIsShutdown: Shutdown closes a queued connection's
// socket; a slot freed meanwhile (a running connection ending on Shutdown's
// word) must not take that closed socket for a client that hung up: the
// queued connection ends with reason shutdown, not queue hangup.
func TestQueuedAtShutdownIsShutdown(t *testing.T) {
	s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("127.0.0.1")
	if adm, _ := s.admit(1, ip, nil); adm != admitRun {
		t.Fatalf("first admission %v", adm)
	}
	nc, _ := tcpPair(t)
	adm, w := s.admit(2, ip, nc)
	if adm != admitQueued {
		t.Fatalf("second admission %v, want queued", adm)
	}
	s.mu.Lock()
	s.pending[2] = nc
	s.mu.Unlock()
	s.beginClose(false) // closes nc, as Shutdown does
	s.releaseSlot(ip, false)
	if err := s.wait(w); !errors.Is(err, weft.ErrServerShutdown) {
		t.Fatalf("queued connection at shutdown ended with %v, want ErrServerShutdown", err)
	}
	if n := s.Snapshot().Queued; n != 0 {
		t.Errorf("Queued = %d, want 0", n)
	}
}

// TestShutdownExpiredContextIdle: Shutdown with a context already done, on a
// server with nothing to drain, returns nil: nothing was cut. With the
// engine, on a TCP listener on the descriptor accept path.
func TestShutdownExpiredContextIdle(t *testing.T) { onEngines(t, testShutdownExpiredContextIdle) }

func testShutdownExpiredContextIdle(t *testing.T, engine *weft.Engine) {
	for i := range 20 {
		s := &Server{Factory: echoFactory(), Engine: engine}
		l, _ := listenFor(t, engine)
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		waitFor(t, "listening", func() bool { return len(s.Addrs()) == 1 })
		wantFDPath(t, s)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("run %d: Shutdown(done ctx) of an idle server = %v, want nil", i, err)
		}
		<-done
	}
}

// lateListener hands out the connections sent on conns even after Close
// (as a kernel listener does for one accepted in the instant before its
// close), and fails only once conns is closed.
type lateListener struct{ conns chan net.Conn }

func (l *lateListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l *lateListener) Close() error   { return nil }
func (l *lateListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// closedSum adds up Snapshot.Closed.
func closedSum(s *Server) int64 {
	var n int64
	for _, v := range s.Snapshot().Closed {
		n += v
	}
	return n
}

// TestAcceptedWhileClosingIsCounted: a connection accepted just as the
// server closes is closed at once, and counted in Closed (every accepted
// connection, once), so that Accepted - sum(Closed) returns to 0.
func TestAcceptedWhileClosingIsCounted(t *testing.T) {
	s := &Server{Factory: echoFactory()}
	l := &lateListener{conns: make(chan net.Conn)}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	waitFor(t, "listening", func() bool { return len(s.Addrs()) == 1 })
	// Close waits for Serve, which this listener keeps in Accept until it
	// handed over the late connection.
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	waitFor(t, "closing", s.isClosing)
	c1, c2 := net.Pipe()
	defer c2.Close()
	l.conns <- c1
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
	<-closed
	snap := s.Snapshot()
	if snap.Accepted != 1 || closedSum(s) != 1 || snap.Closed["shutdown"] != 1 {
		t.Fatalf("Accepted %d, Closed %v; want 1 and shutdown 1", snap.Accepted, snap.Closed)
	}
}

// blockingFactory blocks BuildProtocol until released.
type blockingFactory struct {
	entered, release chan struct{}
}

func (f *blockingFactory) BuildProtocol(net.Addr) weft.Protocol {
	close(f.entered)
	<-f.release
	return &echo{}
}

// TestPendingClearedWhenClosedBeforeRunning: a connection whose Protocol was
// built while the server closed is closed, and forgotten: it does not stay
// in the server's pending set (holding its net.Conn). With the engine, on the
// descriptor accept path, where the connection is set up (BuildProtocol) on
// a setup goroutine and is never pending.
func TestPendingClearedWhenClosedBeforeRunning(t *testing.T) {
	onEngines(t, testPendingClearedWhenClosedBeforeRunning)
}

func testPendingClearedWhenClosedBeforeRunning(t *testing.T, engine *weft.Engine) {
	f := &blockingFactory{entered: make(chan struct{}), release: make(chan struct{})}
	s := &Server{Factory: f, Engine: engine}
	l, connect := listenFor(t, engine)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	c := connect()
	defer c.Close()
	<-f.entered
	wantFDPath(t, s)
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	waitFor(t, "closing", s.isClosing)
	close(f.release)
	<-closed
	<-done
	s.mu.Lock()
	n := len(s.pending)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d connections left pending after Close", n)
	}
	if snap := s.Snapshot(); snap.Active != 0 || snap.Closed["shutdown"] != 1 {
		t.Fatalf("Active %d, Closed %v", snap.Active, snap.Closed)
	}
}
