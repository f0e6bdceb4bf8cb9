//go:build linux

package client

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
)

// The StartTLS hand-off in the client role: a dialled connection on the
// readiness engine whose Protocol calls StartTLS leaves the engine for a
// goroutine of its own, which runs the handshake as a TLS client. These
// tests drive it against a loopback crypto/tls server speaking a tiny
// STARTTLS protocol.

// hoBound bounds every wait of these tests.
const hoBound = 10 * time.Second

// hoCert makes a self-signed certificate: the server's config, and a client
// config that trusts it.
func hoCert(t testing.TB) (srv, cli *tls.Config) { return testenv.TLSConfigs(t) }

// hoServer is a loopback server that runs handle for each connection (i
// counts them from 1) on a goroutine of its own, with a deadline of
// hoBound on the connection. Errors the handlers report are collected.
type hoServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	n    int
	errs []string
}

func newHoServer(t *testing.T, handle func(s *hoServer, i int, c net.Conn)) *hoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &hoServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(hoBound))
			s.mu.Lock()
			s.n++
			i := s.n
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(s, i, c)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *hoServer) endpoint() string { return "tcp:" + s.ln.Addr().String() }

func (s *hoServer) errorf(format string, v ...any) {
	s.mu.Lock()
	s.errs = append(s.errs, fmt.Sprintf(format, v...))
	s.mu.Unlock()
}

func (s *hoServer) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// close stops accepting and waits for the handlers (each bounded by its
// connection's deadline), which close their connections.
func (s *hoServer) close() {
	s.ln.Close()
	s.wg.Wait()
}

// check reports the handlers' errors.
func (s *hoServer) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		t.Errorf("server: %s", e)
	}
}

// hoStart reads the client's "STARTTLS\r\n" (exactly: no read-ahead, so
// that nothing of the TLS stream is taken) and answers "220 go\r\n"
// followed by extra, in one write.
func hoStart(s *hoServer, c net.Conn, extra string) bool {
	cmd := make([]byte, len("STARTTLS\r\n"))
	if _, err := io.ReadFull(c, cmd); err != nil {
		s.errorf("reading STARTTLS: %v", err)
		return false
	}
	if string(cmd) != "STARTTLS\r\n" {
		s.errorf("command %q, want STARTTLS", cmd)
		return false
	}
	if _, err := c.Write([]byte("220 go\r\n" + extra)); err != nil {
		s.errorf("writing 220: %v", err)
		return false
	}
	return true
}

// hoEcho answers each line over tc with "echo:" and the line, until the
// client's close_notify (io.EOF), and returns the lines it received.
func hoEcho(s *hoServer, tc *tls.Conn) []string {
	var got []string
	br := bufio.NewReader(tc)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.errorf("reading over TLS after %q: %v", got, err)
			} else if line != "" {
				s.errorf("partial line %q at the end", line)
			}
			return got
		}
		line = strings.TrimSuffix(line, "\r\n")
		got = append(got, line)
		if _, err := tc.Write([]byte("echo:" + line + "\r\n")); err != nil {
			s.errorf("writing echo of %q: %v", line, err)
			return got
		}
	}
}

// hoClient is the client's line protocol: it sends STARTTLS, switches with
// the codec's StartTLS on "220 go", then sends its lines over TLS — all of
// them in the callback that switches (pipeline), or each after the echo of
// the one before — and closes once every echo has come back.
type hoClient struct {
	cfg      *tls.Config
	lines    []string
	pipeline bool

	t      codec.FrameTransport
	secure bool
	next   int // the next line whose echo is awaited

	mu     sync.Mutex
	frames []string // every frame received, "clear:" or "tls:" prefixed
	tlsErr error    // StartTLS's error
	reason error
	lost   chan struct{}
}

func newHoClient(cfg *tls.Config, pipeline bool, lines ...string) *hoClient {
	return &hoClient{cfg: cfg, lines: lines, pipeline: pipeline, lost: make(chan struct{})}
}

func (h *hoClient) ConnectionMade(t codec.FrameTransport) {
	h.t = t
	t.SendFrame([]byte("STARTTLS"))
}

func (h *hoClient) FrameReceived(f []byte) {
	h.mu.Lock()
	if h.secure {
		h.frames = append(h.frames, "tls:"+string(f))
	} else {
		h.frames = append(h.frames, "clear:"+string(f))
	}
	h.mu.Unlock()
	if !h.secure {
		if string(f) != "220 go" {
			return // recorded: the test says it was not wanted
		}
		if err := h.t.StartTLS(h.cfg); err != nil {
			h.mu.Lock()
			h.tlsErr = err
			h.mu.Unlock()
			h.t.Abort()
			return
		}
		h.secure = true
		switch {
		case len(h.lines) == 0:
			h.t.LoseConnection()
		case h.pipeline:
			for _, l := range h.lines {
				h.t.SendFrame([]byte(l))
			}
		default:
			h.t.SendFrame([]byte(h.lines[0]))
		}
		return
	}
	if h.next < len(h.lines) && string(f) == "echo:"+h.lines[h.next] {
		h.next++
		switch {
		case h.next == len(h.lines):
			h.t.LoseConnection()
		case !h.pipeline:
			h.t.SendFrame([]byte(h.lines[h.next]))
		}
	}
}

func (h *hoClient) ConnectionLost(reason error) {
	h.mu.Lock()
	h.reason = reason
	h.mu.Unlock()
	close(h.lost)
}

// wait waits (bounded) for ConnectionLost and returns the frames received
// and its reason.
func (h *hoClient) wait(t *testing.T) ([]string, error) {
	t.Helper()
	select {
	case <-h.lost:
	case <-time.After(hoBound):
		h.mu.Lock()
		defer h.mu.Unlock()
		t.Fatalf("no ConnectionLost within %v; frames %q", hoBound, h.frames)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tlsErr != nil {
		t.Errorf("StartTLS = %v", h.tlsErr)
	}
	return append([]string(nil), h.frames...), h.reason
}

// wantEchoes checks that frames are the "220 go" in clear text and then the
// echo of every line, in order, over TLS.
func wantEchoes(t *testing.T, frames []string, lines []string) {
	t.Helper()
	want := []string{"clear:220 go"}
	for _, l := range lines {
		want = append(want, "tls:echo:"+l)
	}
	if strings.Join(frames, "|") != strings.Join(want, "|") {
		t.Errorf("frames %q, want %q", frames, want)
	}
}

func hoEngine(t *testing.T) *weft.Engine {
	t.Helper()
	e, err := weft.NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func hoLines(prefix string, n int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf("%s %d", prefix, i)
	}
	return l
}

// hoTLSEchoServer: STARTTLS, then a TLS server that echoes and records
// the lines it got (per connection number).
func hoTLSEchoServer(t *testing.T, srvCfg *tls.Config, got *sync.Map) *hoServer {
	return newHoServer(t, func(s *hoServer, i int, c net.Conn) {
		if !hoStart(s, c, "") {
			return
		}
		tc := tls.Server(c, srvCfg)
		if err := tc.Handshake(); err != nil {
			s.errorf("conn %d: handshake: %v", i, err)
			return
		}
		got.Store(i, hoEcho(s, tc))
		tc.Close()
	})
}

// 1. Dial on an engine, STARTTLS, lines over TLS both ways, close: every
// line arrives at both ends and ConnectionLost gets nil.
func TestClientHandoffDialEcho(t *testing.T) {
	for _, pipeline := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipeline=%v", pipeline), func(t *testing.T) {
			srvCfg, cliCfg := hoCert(t)
			var got sync.Map
			srv := hoTLSEchoServer(t, srvCfg, &got)
			e := hoEngine(t)
			lines := hoLines("line", 20)
			h := newHoClient(cliCfg, pipeline, lines...)
			ctx := t.Context()
			c, err := Dial(ctx, srv.endpoint(), codec.NewProtocol(codec.Line{}, h), &Options{Conn: &weft.Options{Engine: e}})
			if err != nil {
				t.Fatal(err)
			}
			frames, reason := h.wait(t)
			if reason != nil {
				t.Errorf("ConnectionLost(%v), want nil", reason)
			}
			if err := c.Wait(); err != nil {
				t.Errorf("Conn.Wait = %v, want nil", err)
			}
			wantEchoes(t, frames, lines)
			srv.close()
			srv.check(t)
			v, _ := got.Load(1)
			if s := asLines(v); strings.Join(s, "|") != strings.Join(lines, "|") {
				t.Errorf("server got %q over TLS, want %q", s, lines)
			}
		})
	}
}

// 2. The server sends clear-text junk right behind "220 go\r\n" (in the
// same write, or a moment later): it belongs to what the client reads as
// TLS, so it is never delivered as a line, and the handshake fails with a
// reason matching ErrHandshakeFailed (crypto/tls's record-header error).
func TestClientHandoffJunkAfter220(t *testing.T) {
	const junk = "x junk in clear text\r\n"
	for _, later := range []bool{false, true} {
		t.Run(fmt.Sprintf("later=%v", later), func(t *testing.T) {
			_, cliCfg := hoCert(t)
			srv := newHoServer(t, func(s *hoServer, i int, c net.Conn) {
				extra := junk
				if later {
					extra = ""
				}
				if !hoStart(s, c, extra) {
					return
				}
				if later {
					time.Sleep(50 * time.Millisecond)
					if _, err := c.Write([]byte(junk)); err != nil {
						s.errorf("writing junk: %v", err)
						return
					}
				}
				// Wait for the client to give up (its ClientHello, maybe,
				// then the end of the stream).
				io.Copy(io.Discard, c)
			})
			e := hoEngine(t)
			h := newHoClient(cliCfg, true, "never")
			_, err := Dial(t.Context(), srv.endpoint(), codec.NewProtocol(codec.Line{}, h), &Options{Conn: &weft.Options{Engine: e}})
			if err != nil {
				t.Fatal(err)
			}
			frames, reason := h.wait(t)
			if len(frames) != 1 || frames[0] != "clear:220 go" {
				t.Errorf("frames %q, want only the clear-text 220 (the junk is not a line)", frames)
			}
			if !errors.Is(reason, weft.ErrHandshakeFailed) {
				t.Errorf("ConnectionLost(%v), want an error matching ErrHandshakeFailed", reason)
			}
			var rh tls.RecordHeaderError
			if !errors.As(reason, &rh) {
				t.Errorf("ConnectionLost(%v): no tls.RecordHeaderError in it (the junk was not what failed the handshake)", reason)
			}
			srv.close()
			srv.check(t)
		})
	}
}

// 3. The client does not trust the server's certificate: ConnectionLost
// gets an error matching ErrHandshakeFailed (and the certificate error), and
// no goroutine is left behind.
func TestClientHandoffUntrustedCert(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	srvCfg, _ := hoCert(t)
	_, otherCfg := hoCert(t) // a root that did not sign the server's cert
	srvErr := make(chan error, 1)
	srv := newHoServer(t, func(s *hoServer, i int, c net.Conn) {
		if !hoStart(s, c, "") {
			return
		}
		tc := tls.Server(c, srvCfg)
		srvErr <- tc.Handshake()
	})
	e := hoEngine(t)
	h := newHoClient(otherCfg, true, "secret")
	_, err := Dial(t.Context(), srv.endpoint(), codec.NewProtocol(codec.Line{}, h), &Options{Conn: &weft.Options{Engine: e}})
	if err != nil {
		t.Fatal(err)
	}
	frames, reason := h.wait(t)
	if !errors.Is(reason, weft.ErrHandshakeFailed) {
		t.Errorf("ConnectionLost(%v), want an error matching ErrHandshakeFailed", reason)
	}
	var ce *tls.CertificateVerificationError
	if !errors.As(reason, &ce) {
		t.Errorf("ConnectionLost(%v): no *tls.CertificateVerificationError in it", reason)
	}
	if len(frames) != 1 || frames[0] != "clear:220 go" {
		t.Errorf("frames %q, want only the clear-text 220", frames)
	}
	select {
	case err := <-srvErr:
		if err == nil {
			t.Error("the server's handshake succeeded with a client that refused its certificate")
		}
	case <-time.After(hoBound):
		t.Fatal("the server's handshake did not end")
	}
	srv.close()
	srv.check(t)
	if err := goleak.Find(ignore,
		goleak.IgnoreAnyFunction("github.com/weftkit/weft.(*Engine).work"),
		goleak.IgnoreAnyFunction("github.com/weftkit/weft.(*Engine).poll"),
	); err != nil {
		t.Error(err)
	}
}

// hoFDs counts this process's open descriptors.
func hoFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// 4. The reconnecting client on an engine: every connection makes the
// STARTTLS switch; the server kills the first connection during the
// handshake and the second right after it; the client reconnects after
// its (small) backoff and the third connection completes the exchange.
// Three attempts, three connections; no goroutine or descriptor is left.
func TestClientHandoffReconnecting(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	fds := hoFDs(t)
	srvCfg, cliCfg := hoCert(t)
	lines := hoLines("r", 5)
	var got sync.Map
	srv := newHoServer(t, func(s *hoServer, i int, c net.Conn) {
		if !hoStart(s, c, "") {
			return
		}
		switch i {
		case 1: // during the handshake: read (part of) the ClientHello, hang up
			b := make([]byte, 5)
			if _, err := io.ReadFull(c, b); err != nil {
				s.errorf("conn 1: reading the ClientHello: %v", err)
			}
			return
		case 2: // right after it: the handshake, the first line, then hang up
			tc := tls.Server(c, srvCfg)
			if err := tc.Handshake(); err != nil {
				s.errorf("conn 2: handshake: %v", err)
				return
			}
			line, err := bufio.NewReader(tc).ReadString('\n')
			if err != nil || line != lines[0]+"\r\n" {
				s.errorf("conn 2: first line %q, %v", line, err)
			}
			return // closed without close_notify
		default:
			tc := tls.Server(c, srvCfg)
			if err := tc.Handshake(); err != nil {
				s.errorf("conn %d: handshake: %v", i, err)
				return
			}
			got.Store(i, hoEcho(s, tc))
			tc.Close()
		}
	})
	e, err := weft.NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var clients []*hoClient
	var attempts []int
	var lost []error
	third := make(chan *hoClient, 1)
	r := &Reconnecting{
		Endpoint: srv.endpoint(),
		Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol {
			h := newHoClient(cliCfg, false, lines...)
			mu.Lock()
			clients = append(clients, h)
			if len(clients) == 3 {
				third <- h
			}
			mu.Unlock()
			return codec.NewProtocol(codec.Line{}, h)
		}),
		Backoff:    &Exponential{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Multiplier: 2},
		MaxRetries: 10,
		Conn:       &weft.Options{Engine: e},
		OnConnecting: func(attempt int) {
			mu.Lock()
			attempts = append(attempts, attempt)
			mu.Unlock()
		},
		OnConnectFailed: func(err error, attempt int, _ time.Duration) {
			t.Errorf("attempt %d failed: %v", attempt, err)
		},
		OnConnectionLost: func(reason error, _ time.Duration) {
			mu.Lock()
			lost = append(lost, reason)
			mu.Unlock()
		},
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var h3 *hoClient
	select {
	case h3 = <-third:
	case <-time.After(hoBound):
		r.Stop()
		t.Fatalf("no third connection within %v (server accepted %d)", hoBound, srv.accepted())
	}
	frames, reason := h3.wait(t)
	if reason != nil {
		t.Errorf("third connection: ConnectionLost(%v), want nil", reason)
	}
	wantEchoes(t, frames, lines)
	// The third connection ended cleanly (the client closed it): stop
	// before the client's backoff makes a fourth.
	r.Stop()
	if err := r.Wait(); err != nil {
		t.Errorf("Run = %v after Stop", err)
	}
	srv.close()
	srv.check(t)
	e.Close()

	mu.Lock()
	if len(clients) < 3 {
		t.Fatalf("%d connections, want at least 3", len(clients))
	}
	f1, r1 := clients[0].wait(t)
	f2, r2 := clients[1].wait(t)
	if !errors.Is(r1, weft.ErrHandshakeFailed) {
		t.Errorf("first connection (killed during the handshake): ConnectionLost(%v), want ErrHandshakeFailed", r1)
	}
	if !errors.Is(r2, weft.ErrTLSTruncated) {
		t.Errorf("second connection (killed after the handshake): ConnectionLost(%v), want ErrTLSTruncated", r2)
	}
	if strings.Join(f1, "|") != "clear:220 go" || strings.Join(f2, "|") != "clear:220 go" {
		t.Errorf("frames of the killed connections %q and %q, want only the clear-text 220", f1, f2)
	}
	// Each connection was made (ConnectionMade returned), which resets the
	// count: every attempt is attempt 1. A fourth may have begun before
	// Stop (the third ended on its own).
	if n := len(attempts); n < 3 || n > 4 {
		t.Errorf("OnConnecting calls %v, want 3 (or 4 if a fourth began before Stop)", attempts)
	}
	for _, a := range attempts {
		if a != 1 {
			t.Errorf("OnConnecting attempts %v, want 1 each (every connection was made)", attempts)
			break
		}
	}
	if n := srv.accepted(); n != len(clients) {
		t.Errorf("server accepted %d connections, the factory built %d protocols", n, len(clients))
	}
	if len(lost) < 3 {
		t.Errorf("OnConnectionLost reasons %v, want 3 or more", lost)
	}
	mu.Unlock()
	if v, _ := got.Load(3); strings.Join(asLines(v), "|") != strings.Join(lines, "|") {
		t.Errorf("server got %q on the third connection, want %q", v, lines)
	}

	deadline := time.Now().Add(hoBound)
	var after int
	for {
		if after = hoFDs(t); after <= fds || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after > fds {
		t.Errorf("%d descriptors open before, %d after (10 s to settle)", fds, after)
	}
	var leak error
	for deadline := time.Now().Add(hoBound); ; {
		if leak = goleak.Find(ignore); leak == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if leak != nil {
		t.Error(leak)
	}
}

// 5. Fifty dialled clients on one engine switch to TLS at once against one
// server: each gets every echo and a clean close.
func TestClientHandoffManyClients(t *testing.T) {
	const n = 50
	srvCfg, cliCfg := hoCert(t)
	var got sync.Map
	srv := hoTLSEchoServer(t, srvCfg, &got)
	e := hoEngine(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	hs := make([]*hoClient, n)
	dialErr := make([]error, n)
	for i := range n {
		hs[i] = newHoClient(cliCfg, i%2 == 0, hoLines(fmt.Sprintf("c%d", i), 10)...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, dialErr[i] = Dial(t.Context(), srv.endpoint(), codec.NewProtocol(codec.Line{}, hs[i]), &Options{Conn: &weft.Options{Engine: e}})
		}()
	}
	close(start)
	wg.Wait()
	for i, h := range hs {
		if dialErr[i] != nil {
			t.Errorf("client %d: Dial = %v", i, dialErr[i])
			continue
		}
		frames, reason := h.wait(t)
		if reason != nil {
			t.Errorf("client %d: ConnectionLost(%v), want nil", i, reason)
		}
		wantEchoes(t, frames, h.lines)
	}
	srv.close()
	srv.check(t)
	total := 0
	got.Range(func(_, v any) bool { total += len(asLines(v)); return true })
	if total != n*10 {
		t.Errorf("server got %d lines over TLS, want %d", total, n*10)
	}
}

// asLines is the []string in v, or nil.
func asLines(v any) []string {
	s, _ := v.([]string)
	return s
}
