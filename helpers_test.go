package weft_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(idleClientEnv); spec != "" {
		idleClient(spec)
	}
	if e, err := weft.NewEngine(); err == nil {
		testEngine = e
	}
	code := m.Run()
	// The shared engine is closed before the leak check, which must see
	// none of its goroutines. (goleak's Cleanup option runs after the
	// check, and replaces its os.Exit: a leak would not fail the run.)
	if testEngine != nil {
		testEngine.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// transports are the two kinds of connection every contract test runs over:
// net.Pipe (the generic path) and loopback TCP (the socket path).
var transports = []struct {
	name string
	pair func(t testing.TB) (server, client net.Conn)
}{
	{"pipe", pipePair},
	{"tcp", tcpPair},
	{"epoll", enginePair},
}

// testEngine drives the server side of the "epoll" transport: the contract
// tests run unchanged against both engines.
var testEngine *weft.Engine

// engineConn marks a server connection to be served by testEngine.
type engineConn struct{ *net.TCPConn }

func enginePair(t testing.TB) (net.Conn, net.Conn) {
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	s, c := tcpPair(t)
	return engineConn{s.(*net.TCPConn)}, c
}

func pipePair(t testing.TB) (net.Conn, net.Conn) {
	s, c := net.Pipe()
	t.Cleanup(func() { s.Close(); c.Close() })
	return s, c
}

func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	s, c := dialPair(t, nil, nil, "tcp", "127.0.0.1:0")
	t.Cleanup(func() { s.Close(); c.Close() })
	return s, c
}

// dialPair returns the two ends of a connection: a listener made with lc
// (nil: the defaults) on network and address accepts it, d (nil: the
// defaults) dials it. The caller closes both ends.
func dialPair(t testing.TB, lc *net.ListenConfig, d *net.Dialer, network, address string) (server, client net.Conn) {
	t.Helper()
	if lc == nil {
		lc = &net.ListenConfig{}
	}
	if d == nil {
		d = &net.Dialer{}
	}
	l, err := lc.Listen(context.Background(), network, address)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		s, _ := l.Accept()
		ch <- s
	}()
	c, err := d.Dial(network, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-ch
	if s == nil {
		c.Close()
		t.Fatal("accept failed")
	}
	return s, c
}

// recorder is a Protocol that records its callbacks and checks that they are
// never concurrent and come in the contract's order.
type recorder struct {
	t        testing.TB
	inCall   atomic.Int32
	mu       sync.Mutex
	tr       weft.Transport
	made     int
	data     []byte
	lost     int
	reason   error
	madeCh   chan struct{} // closed when the first ConnectionMade returns
	dataCh   chan struct{} // signalled after each DataReceived
	lostCh   chan struct{}
	onMade   func(t weft.Transport)
	onData   func(t weft.Transport, d []byte)
	overlaps atomic.Int32
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, madeCh: make(chan struct{}), dataCh: make(chan struct{}, 1), lostCh: make(chan struct{})}
}

func (r *recorder) enter() {
	if r.inCall.Add(1) != 1 {
		r.overlaps.Add(1)
	}
}
func (r *recorder) leave() { r.inCall.Add(-1) }

func (r *recorder) ConnectionMade(t weft.Transport) {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	r.made++
	r.tr = t
	n := r.made
	bad := r.lost > 0 || len(r.data) > 0
	r.mu.Unlock()
	if bad {
		r.t.Error("ConnectionMade after other callbacks")
	}
	if n != 1 {
		r.t.Errorf("ConnectionMade called %d times", n)
		return
	}
	if r.onMade != nil {
		r.onMade(t)
	}
	close(r.madeCh) // after onMade: waitMade's caller may undo what it did
}

func (r *recorder) DataReceived(d []byte) {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	bad := r.made != 1 || r.lost > 0
	r.data = append(r.data, d...)
	r.mu.Unlock()
	select {
	case r.dataCh <- struct{}{}:
	default: // a signal is pending already
	}
	if bad {
		r.t.Error("DataReceived outside ConnectionMade..ConnectionLost")
	}
	if r.onData != nil {
		r.onData(r.tr, d)
	}
}

func (r *recorder) ConnectionLost(reason error) {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	r.lost++
	r.reason = reason
	n := r.lost
	r.mu.Unlock()
	if n != 1 {
		r.t.Errorf("ConnectionLost called %d times", n)
		return
	}
	close(r.lostCh)
}

func (r *recorder) received() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.data...)
}

// waitReceived waits until the recorder received want, or something that
// is not a beginning of want, or 10 s passed; it returns what was received.
func (r *recorder) waitReceived(want string) string {
	timeout := time.After(10 * time.Second)
	for {
		got := string(r.received())
		if got == want || !strings.HasPrefix(want, got) {
			return got
		}
		select {
		case <-r.dataCh:
		case <-timeout:
			return string(r.received())
		}
	}
}

func (r *recorder) waitLost(t testing.TB) error {
	t.Helper()
	select {
	case <-r.lostCh:
	case <-time.After(10 * time.Second):
		t.Fatal("ConnectionLost not called within 10s")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason
}

func (r *recorder) transport() weft.Transport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tr
}

// serve runs p over conn on a goroutine and returns a channel with Serve's
// result.
func serve(conn net.Conn, p weft.Protocol, opts *weft.Options) <-chan error {
	if _, ok := conn.(engineConn); ok {
		o := weft.Options{}
		if opts != nil {
			o = *opts
		}
		o.Engine = testEngine
		opts = &o
	}
	ch := make(chan error, 1)
	go func() { ch <- weft.Serve(conn, p, opts) }()
	return ch
}

// waitMade waits until the recorder's ConnectionMade, onMade included, has
// returned, and returns its Transport.
func waitMade(t testing.TB, r *recorder) weft.Transport {
	t.Helper()
	select {
	case <-r.madeCh:
	case <-time.After(10 * time.Second):
		t.Fatal("ConnectionMade not called within 10s")
	}
	return r.transport()
}
