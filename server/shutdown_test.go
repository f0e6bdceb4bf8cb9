package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// lineEcho echoes lines and says "bye" when the server shuts down.
type lineEcho struct {
	t   weft.Transport
	buf []byte
}

func (p *lineEcho) ConnectionMade(t weft.Transport) { p.t = t }
func (p *lineEcho) DataReceived(b []byte) {
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			return
		}
		p.t.Write([]byte("echo " + string(p.buf[:i+1])))
		p.buf = p.buf[i+1:]
	}
}
func (p *lineEcho) ConnectionLost(error) {}
func (p *lineEcho) Shutdown()            { p.t.Write([]byte("bye\n")) }

// TestShutdownUnderLoad: 200 clients mid-conversation; Shutdown tells each
// protocol, every response already written reaches its client (the bytes the
// server wrote equal the bytes the clients read), every client ends with
// "bye", and Shutdown returns nil.
func TestShutdownUnderLoad(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) { testShutdownUnderLoad(t, engine(t)) })
	}
}

func testShutdownUnderLoad(t *testing.T, engine *weft.Engine) {
	const clients = 200
	s := &Server{Factory: factoryOf(func() *lineEcho { return &lineEcho{} }), Engine: engine}
	addr := serve(t, s)
	var received atomic.Int64
	var started sync.WaitGroup
	started.Add(clients)
	errs := make(chan error, clients)
	for i := range clients {
		go func() { errs <- converse(addr, i, &received, &started) }()
	}
	started.Wait()
	waitFor(t, "200 active", func() bool { return s.Len() == clients })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	snap := s.Snapshot()
	if snap.BytesOut != received.Load() {
		t.Errorf("server wrote %d bytes, clients received %d", snap.BytesOut, received.Load())
	}
	if snap.Closed["clean"] != clients {
		t.Errorf("closed = %v, want %d clean", snap.Closed, clients)
	}
}

// converse exchanges numbered lines in lockstep until the server says bye,
// checking every response, then reads to the end of the stream.
func converse(addr string, id int, received *atomic.Int64, started *sync.WaitGroup) error {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		started.Done()
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for n := 0; ; n++ {
		line := fmt.Sprintf("client %d line %d\n", id, n)
		_, werr := c.Write([]byte(line))
		got, err := r.ReadString('\n')
		received.Add(int64(len(got)))
		if n == 0 {
			started.Done()
		}
		switch {
		case got == "bye\n":
			rest, _ := r.ReadString(0)
			received.Add(int64(len(rest)))
			if rest != "" {
				return fmt.Errorf("client %d: %q after bye", id, rest)
			}
			return nil
		case err != nil:
			return fmt.Errorf("client %d: after %d lines: %v (write: %v)", id, n, err, werr)
		case got != "echo "+line:
			return fmt.Errorf("client %d: got %q, want echo of %q", id, got, line)
		}
	}
}

// hog reads nothing; the test fills its output so that it cannot drain.
type hog struct{ t weft.Transport }

func (p *hog) ConnectionMade(t weft.Transport) { p.t = t; t.PauseReading() }
func (p *hog) DataReceived([]byte)             {}
func (p *hog) ConnectionLost(error)            {}

// TestShutdownDeadline: a connection whose output cannot drain (the client
// never reads) is closed with ErrServerShutdown when the context ends, and
// Shutdown returns the context's error. With the engine, on the descriptor
// accept path.
func TestShutdownDeadline(t *testing.T) { onEngines(t, testShutdownDeadline) }

func testShutdownDeadline(t *testing.T, engine *weft.Engine) {
	reasons := make(chan error, 1)
	s := &Server{Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol {
		return &lostRecorder{Protocol: &hog{}, reasons: reasons}
	}), MaxWriteBuffer: 64 << 20, HighWater: 32 << 20, Engine: engine}
	addr := serve(t, s)
	c := dial(t, addr)
	waitFor(t, "active", func() bool { return s.Len() == 1 })
	wantFDPath(t, s)
	// Fill the socket buffers: the client never reads.
	s.Range(func(cn *Conn) bool {
		cn.Transport().Write(make([]byte, 16<<20))
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if err := <-reasons; !errors.Is(err, weft.ErrServerShutdown) {
		t.Errorf("ConnectionLost(%v), want ErrServerShutdown", err)
	}
	if n := s.Snapshot().Closed["shutdown"]; n != 1 {
		t.Errorf("closed shutdown = %d, want 1", n)
	}
	_ = c
}

type lostRecorder struct {
	weft.Protocol
	reasons chan error
}

func (p *lostRecorder) ConnectionLost(err error) { p.Protocol.ConnectionLost(err); p.reasons <- err }

// failingListener fails Accept with EMFILE a number of times, then hands out
// pipe connections.
type failingListener struct {
	*pipeListener
	fails int
	calls []time.Time
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.calls = append(l.calls, time.Now())
	if len(l.calls) <= l.fails {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errEMFILE)}
	}
	return l.pipeListener.Accept()
}

// TestAcceptBackoff: EMFILE is retried after 5, 10, 20 ... ms capped at 1 s
// (fake time), and serving resumes afterwards.
func TestAcceptBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &failingListener{pipeListener: newPipeListener(), fails: 10}
		s := &Server{Factory: echoFactory()}
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		c := l.Dial()
		c.Write([]byte("served"))
		b := make([]byte, 6)
		if _, err := c.Read(b); err != nil || string(b) != "served" {
			t.Fatalf("after the errors: %q, %v", b, err)
		}
		c.Close()
		s.Close()
		<-done
		want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
		for i, w := range want {
			if got := l.calls[i+1].Sub(l.calls[i]); got != w*time.Millisecond {
				t.Errorf("retry %d after %v, want %v", i+1, got, w*time.Millisecond)
			}
		}
		if n := s.Snapshot().AcceptErrors; n != 10 {
			t.Errorf("AcceptErrors = %d, want 10", n)
		}
	})
}

// TestFactoryStartStop: Start runs once before the first listener, Stop once
// after the last one, whatever the number of listeners. With the engine, on
// loopback TCP listeners (pipes are no sockets: an engine would not take
// them), so on the descriptor accept path, whose connections hold the
// listeners' references.
func TestFactoryStartStop(t *testing.T) { onEngines(t, testFactoryStartStop) }

func testFactoryStartStop(t *testing.T, engine *weft.Engine) {
	f := &countingFactory{Factory: echoFactory()}
	s := &Server{Factory: f, Engine: engine}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var dials []func() net.Conn
	for range 3 {
		l, connect := listenFor(t, engine)
		dials = append(dials, connect)
		wg.Add(1)
		go func() { defer wg.Done(); s.Serve(l) }()
	}
	// Each listener serves (an echo through it) only once past the
	// Factory's Start: a listener is registered before it (seen once
	// under load: "starts 0 stops 0" right after 3 were registered).
	for _, connect := range dials {
		c := connect()
		roundTrip(t, c, "through this listener")
		c.Close()
	}
	wantFDPath(t, s)
	if f.starts.Load() != 1 || f.stops.Load() != 0 {
		t.Fatalf("starts %d stops %d, want 1 and 0", f.starts.Load(), f.stops.Load())
	}
	s.Close()
	wg.Wait()
	if f.starts.Load() != 1 || f.stops.Load() != 1 {
		t.Fatalf("starts %d stops %d, want 1 and 1", f.starts.Load(), f.stops.Load())
	}
	s.stopFactory() // never negative, never a second Stop
	if f.stops.Load() != 1 {
		t.Fatalf("stops = %d after an extra stop", f.stops.Load())
	}
}

type countingFactory struct {
	weft.Factory
	starts, stops atomic.Int32
}

func (f *countingFactory) Start(context.Context) error { f.starts.Add(1); return nil }
func (f *countingFactory) Stop()                       { f.stops.Add(1) }

// TestServeAfterClose: once closed, a Server refuses new listeners (closing
// them) and Shutdown/Close are harmless to repeat.
func TestServeAfterClose(t *testing.T) {
	s := &Server{Factory: echoFactory()}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	l := newPipeListener()
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the listener was not closed: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after Close = %v", err)
	}
	s.Close()
}

// orderCheck counts Shutdown calls that come before ConnectionMade.
type orderCheck struct {
	made  bool
	early *atomic.Int32
}

func (p *orderCheck) ConnectionMade(weft.Transport) { p.made = true }
func (p *orderCheck) DataReceived([]byte)           {}
func (p *orderCheck) ConnectionLost(error)          {}
func (p *orderCheck) Shutdown() {
	if !p.made {
		p.early.Add(1)
	}
}

// TestShutdownRacingConnects: connections arriving while Shutdown runs are
// closed or told, but a Protocol's Shutdown hook never runs before its
// ConnectionMade, and Shutdown still returns with everything drained. With
// the engine, on the descriptor accept path (a connection being set up when
// Shutdown begins is told once ConnectionMade returned, or closed).
func TestShutdownRacingConnects(t *testing.T) { onEngines(t, testShutdownRacingConnects) }

func testShutdownRacingConnects(t *testing.T, engine *weft.Engine) {
	var early atomic.Int32
	s := &Server{Factory: factoryOf(func() *orderCheck { return &orderCheck{early: &early} }), Engine: engine}
	addr := serve(t, s)
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
			if err != nil {
				return // the listener closed first
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, c)
			c.Close()
		}()
	}
	waitFor(t, "a few connections", func() bool { return s.Snapshot().Accepted >= 10 })
	wantFDPath(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	wg.Wait()
	if n := early.Load(); n != 0 {
		t.Errorf("%d Shutdown hooks ran before ConnectionMade", n)
	}
	if snap := s.Snapshot(); snap.Active != 0 {
		t.Errorf("%d still active after Shutdown", snap.Active)
	}
}

// quitter answers a graceful shutdown with output the client never reads,
// then LoseConnection: its close reason stays nil until the deadline.
type quitter struct{ t weft.Transport }

func (p *quitter) ConnectionMade(t weft.Transport) { p.t = t; t.PauseReading() }
func (p *quitter) DataReceived([]byte)             {}
func (p *quitter) ConnectionLost(error)            {}
func (p *quitter) Shutdown() {
	p.t.Write(make([]byte, 16<<20))
	p.t.LoseConnection()
}

// TestShutdownDeadlineAfterLoseConnection: a connection that began a clean
// close (LoseConnection) but could not drain by the deadline is counted and
// reported as closed by the shutdown, not as a clean close. With the engine,
// on the descriptor accept path.
func TestShutdownDeadlineAfterLoseConnection(t *testing.T) {
	onEngines(t, testShutdownDeadlineAfterLoseConnection)
}

func testShutdownDeadlineAfterLoseConnection(t *testing.T, engine *weft.Engine) {
	s := &Server{
		Factory:        weft.FactoryFunc(func(net.Addr) weft.Protocol { return &quitter{} }),
		MaxWriteBuffer: 64 << 20, HighWater: 32 << 20, Engine: engine,
	}
	addr := serve(t, s)
	c := dial(t, addr)
	defer c.Close()
	waitFor(t, "active", func() bool { return s.Len() == 1 })
	wantFDPath(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	snap := s.Snapshot()
	if snap.Closed["shutdown"] != 1 || snap.Closed["clean"] != 0 {
		t.Errorf("closed %v, want one shutdown and no clean close", snap.Closed)
	}
}

// TestCloseDuringHandshake: a connection still in its TLS handshake, its
// PROXY header or the sniffing of an untrusted client's first bytes when the
// server closes is counted as closed by the shutdown (reason "shutdown"),
// not as a failed handshake or an error (which are also logged at Warn).
func TestCloseDuringHandshake(t *testing.T) {
	srvTLS, _ := testTLS(t)
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	for _, tc := range []struct {
		name  string
		serve func(s *Server, l *pipeListener) error
		first []byte // what the client sends before it stalls
	}{
		{"tls", func(s *Server, l *pipeListener) error { return s.Serve(tls.NewListener(l, srvTLS)) }, nil},
		{"proxy-header", func(s *Server, l *pipeListener) error { return s.ServeProxy(tcpAddrListener{l}, trusted) },
			proxyHeader(t, 2, "203.0.113.7:4242")[:14]},
		{"untrusted-sniff", func(s *Server, l *pipeListener) error {
			return s.ServeProxy(tcpAddrListener{l}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		}, []byte("PROX")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: echoFactory()}
				l := newPipeListener()
				done := make(chan error, 1)
				go func() { done <- tc.serve(s, l) }()
				c := l.Dial()
				defer c.Close()
				if len(tc.first) > 0 {
					go c.Write(tc.first)
				}
				synctest.Wait() // the server waits for the rest of the handshake
				if n := s.Snapshot().Accepted; n != 1 {
					t.Fatalf("accepted %d, want 1", n)
				}
				s.Close()
				if err := <-done; !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve = %v", err)
				}
				if closed := s.Snapshot().Closed; closed["shutdown"] != 1 {
					t.Errorf("closed %v, want one shutdown", closed)
				}
			})
		})
	}
}

// TestFactoryNotStartedAfterClose: a listener whose Serve registered it
// before Close, but reached the Factory's Start only after Close and after
// the other listeners had stopped the Factory, started it again, then
// stopped it again: Start after Stop, on a closed Server
// (TestFactoryStartStop saw "starts 2 stops 2, want 1 and 1" once in a few
// loaded runs). The Factory is not started once Close or Shutdown began.
func TestFactoryNotStartedAfterClose(t *testing.T) {
	f := &countingFactory{Factory: echoFactory()}
	s := &Server{Factory: f}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.startFactory(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("startFactory after Close = %v, want ErrServerClosed", err)
	}
	if f.starts.Load() != 0 || f.stops.Load() != 0 {
		t.Errorf("starts %d stops %d after Close, want 0 and 0", f.starts.Load(), f.stops.Load())
	}
}
