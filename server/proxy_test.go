package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/weftkit/weft"
	"github.com/weftkit/weft/endpoint"
	"github.com/weftkit/weft/internal/testenv"
)

// whoami writes the remote address its Transport reports, then echoes.
type whoami struct{ echo }

func (w *whoami) ConnectionMade(t weft.Transport) {
	w.t = t
	t.Write([]byte("you are " + t.RemoteAddr().String() + "\n"))
}

func serveProxy(t *testing.T, s *Server, trusted ...string) string {
	t.Helper()
	var prefixes []netip.Prefix
	for _, p := range trusted {
		prefixes = append(prefixes, netip.MustParsePrefix(p))
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ServeProxy(l, prefixes) }()
	t.Cleanup(func() { s.Close(); <-done })
	return l.Addr().String()
}

func proxyHeader(t *testing.T, version byte, src string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(version,
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort("192.0.2.1:80")))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProxyHeader: from a trusted source, a v1 or v2 header sets the
// address the Protocol sees, and bytes sent with the header are delivered.
func TestProxyHeader(t *testing.T) {
	for _, v := range []byte{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} }), MaxConnsPerPeer: 1}
			addr := serveProxy(t, s, "127.0.0.1/32")
			c := dial(t, addr)
			msg := append(proxyHeader(t, v, "203.0.113.7:4242"), "and data\n"...)
			c.Write(msg)
			want := "you are 203.0.113.7:4242\nand data\n"
			if got := string(readN(t, c, len(want))); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			// The per-peer limit applies to the PROXY source, not to
			// 127.0.0.1: another client behind the same proxy is served.
			d := dial(t, addr)
			d.Write(proxyHeader(t, v, "203.0.113.8:1"))
			want = "you are 203.0.113.8:1\n"
			if got := string(readN(t, d, len(want))); got != want {
				t.Fatalf("second client: got %q, want %q", got, want)
			}
		})
	}
}

// TestProxyUntrusted: a direct client from outside the trusted prefixes is
// served with its own address, but one that sends a PROXY header is
// refused; a trusted source that stalls mid-header is closed at the
// handshake timeout, and a garbled header is refused. The handshake
// timeout leaves room for a client delayed between its connect and its write
// on a loaded machine: past it, an untrusted client's header would be served
// as data, and a trusted one's counted as a timeout.
func TestProxyUntrusted(t *testing.T) {
	s := &Server{Factory: echoFactory(), HandshakeTimeout: time.Second}
	addr := serveProxy(t, s, "10.0.0.0/8", "127.0.0.2/32")
	direct := dial(t, addr)
	roundTrip(t, direct, "PROXY-less hello")
	roundTrip(t, dial(t, addr), "\r\n\r\nnot quite a signature")
	for _, v := range []byte{1, 2} {
		liar := dial(t, addr)
		liar.Write(append(proxyHeader(t, v, "198.51.100.1:1"), "data\n"...))
		if got := readAll(t, liar); len(got) != 0 {
			t.Fatalf("untrusted v%d header: got %q, want refusal", v, got)
		}
	}
	waitFor(t, "untrusted refusals counted", func() bool { return s.Snapshot().Rejected["untrusted proxy"] == 2 })

	stall := dial(t, addr, "127.0.0.2")
	stall.Write(proxyHeader(t, 2, "198.51.100.1:1")[:14]) // and then nothing
	if got := readAll(t, stall); len(got) != 0 {
		t.Fatalf("stalled header: got %q", got)
	}
	bad := dial(t, addr, "127.0.0.2")
	bad.Write([]byte("PROXY TCP4 not-an-address 1.2.3.4 1 2\r\n"))
	if got := readAll(t, bad); len(got) != 0 {
		t.Fatalf("garbled header: got %q", got)
	}
	waitFor(t, "timeout and failure counted", func() bool {
		snap := s.Snapshot()
		return snap.Closed["handshake timeout"] == 1 && snap.Closed["handshake failed"] == 1
	})
}

// TestHAProxy puts a real haproxy with send-proxy-v2 in front of a weft
// server: a client connecting from 127.0.0.5 through haproxy is seen as
// 127.0.0.5 (the TCP peer is haproxy on 127.0.0.1); the same client sending
// a PROXY header directly to weft is refused. haproxy's frontend socket is
// bound here (port 0) and inherited (fd@3), so no other socket can take its
// port before haproxy binds it.
func TestHAProxy(t *testing.T) {
	haproxy := testenv.LookPath(t, "haproxy", "haproxy")
	t.Run("trusted 127.0.0.1", func(t *testing.T) {
		s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} })}
		testHAProxy(t, haproxy, serveProxy(t, s, "127.0.0.1/32"), false)
	})
	// Twisted's haproxy: endpoint type trusts every source: the header of a
	// client that reaches the port directly is believed too.
	t.Run("haproxy: endpoint", func(t *testing.T) {
		s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} })}
		ep, err := endpoint.ParseServer("haproxy:tcp:0:interface=127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		l, serve, err := s.OpenEndpoint(ep)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- serve() }()
		t.Cleanup(func() { s.Close(); <-done })
		testHAProxy(t, haproxy, l.Addr().String(), true)
	})
}

// testHAProxy runs a real haproxy with send-proxy-v2 in front of the PROXY
// listener at backend, checks a client is seen with its own address through
// it, then sends a PROXY header directly: believed if anyTrusted, else
// refused.
func testHAProxy(t *testing.T, haproxy, backend string, anyTrusted bool) {

	fl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := fl.Addr().String()
	frontFile, err := fl.(*net.TCPListener).File()
	fl.Close() // frontFile keeps the socket
	if err != nil {
		t.Fatal(err)
	}
	defer frontFile.Close()
	cfg := fmt.Sprintf(`global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind fd@3
    default_backend be
backend be
    server weft %s send-proxy-v2
`, backend)
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(haproxy, "-f", path, "-db")
	cmd.ExtraFiles = []*os.File{frontFile} // fd 3
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	frontFile.Close() // haproxy has its own copy
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	}()
	var c net.Conn
	waitFor(t, "a connection to haproxy's frontend", func() bool {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 5)}}
		var err error
		c, err = d.Dial("tcp4", front)
		return err == nil
	})
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("through haproxy: %v", err)
	}
	got := string(buf[:n])
	if !strings.HasPrefix(got, "you are 127.0.0.5:") {
		t.Fatalf("through haproxy the protocol saw %q, want 127.0.0.5 (the client)", got)
	}
	if want := c.LocalAddr().String(); got != "you are "+want+"\n" {
		t.Errorf("protocol saw %q, want the client's own address %s", got, want)
	}
	roundTrip(t, c, "echo through haproxy\n")

	liar := dial(t, backend, "127.0.0.5")
	liar.Write(append(proxyHeader(t, 2, "198.51.100.1:1"), "hi\n"...))
	if !anyTrusted {
		if got := readAll(t, liar); len(got) != 0 {
			t.Fatalf("untrusted PROXY header: got %q, want refusal", got)
		}
		return
	}
	liar.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(liar).ReadString('\n'); line != "you are 198.51.100.1:1\n" {
		t.Fatalf("a direct PROXY header on a haproxy: endpoint: got %q (%v), want it believed", line, err)
	}
}

// TestProxyUntrustedSilent: on a PROXY listener, a silent client from an
// untrusted source (a server-speaks-first protocol) gets its greeting once
// HandshakeTimeout has passed without a header (fake time).
func TestProxyUntrustedSilent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} }), HandshakeTimeout: 3 * time.Second}
		l := newPipeListener()
		done := make(chan error, 1)
		go func() { done <- s.ServeProxy(l, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}) }()
		c := l.Dial()
		start := time.Now()
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "you are pipe\n" {
			t.Fatalf("greeting: %q, %v", buf[:n], err)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("greeting after %v, want the 3s handshake timeout", waited)
		}
		c.Close()
		s.Close()
		<-done
	})
}

// TestProxyTrustedSilent: a trusted source that sends nothing at all is a
// direct client (ServeProxy's doc), like an untrusted one: after
// HandshakeTimeout it is served, and a server-speaks-first protocol greets
// it. It was closed as a handshake timeout.
func TestProxyTrustedSilent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} }), HandshakeTimeout: 3 * time.Second}
		l := serveTrustedPipe(t, s)
		c := l.Dial()
		defer c.Close()
		start := time.Now()
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "you are 127.0.0.1:1234\n" {
			t.Fatalf("greeting: %q, %v", buf[:n], err)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("greeting after %v, want the 3s handshake timeout", waited)
		}
	})
}

// TestProxyTrustedConnectThenClose: a trusted source that connects and
// closes without a byte (a load balancer's TCP health check) is a direct
// client that left: served, its close clean. It was counted and logged at
// Warn as a bad PROXY header (EOF).
func TestProxyTrustedConnectThenClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: echoFactory(), HandshakeTimeout: 3 * time.Second}
		l := serveTrustedPipe(t, s)
		l.Dial().Close()
		synctest.Wait()
		snap := s.Snapshot()
		total := int64(0)
		for _, n := range snap.Closed {
			total += n
		}
		if snap.Closed["clean"] != 1 || total != 1 {
			t.Errorf("closed %v; want one clean close", snap.Closed)
		}
	})
}

// TestProxyTrustedDirectShortFirstMessage: a trusted source that sends no
// header is served as a direct client, even when its first message is
// shorter than a v2 signature and begins like one ("P", "\r") and it then
// waits for the reply: it must not wait HandshakeTimeout and be closed once
// its bytes cannot be a signature.
func TestProxyTrustedDirectShortFirstMessage(t *testing.T) {
	for _, msg := range []string{"PING\n", "\r\n\r\nX", "PROXZ\n", "POST / HTTP/1.0\r\n\r\n"} {
		t.Run(fmt.Sprintf("%q", msg), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), HandshakeTimeout: 3 * time.Second}
				l := serveTrustedPipe(t, s)
				c := l.Dial()
				defer c.Close()
				start := time.Now()
				if _, err := c.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, len(msg))
				_, err := io.ReadFull(c, buf)
				if err != nil || string(buf) != msg {
					t.Fatalf("echo of %q: got %q, %v after %v", msg, buf, err, time.Since(start))
				}
				if waited := time.Since(start); waited != 0 {
					t.Errorf("echo after %v, want at once", waited)
				}
			})
		})
	}
}

// serveTrustedPipe serves s on a pipe listener behind PROXY, trusting the
// address its connections claim (127.0.0.1: a pipe's address is no IP), until
// the test ends.
func serveTrustedPipe(t *testing.T, s *Server) *pipeListener {
	l := newPipeListener()
	done := make(chan error, 1)
	go func() {
		done <- s.ServeProxy(tcpAddrListener{l}, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	}()
	t.Cleanup(func() { s.Close(); <-done })
	return l
}

// tcpAddrListener makes the connections of a pipeListener report TCP
// addresses (client 127.0.0.1:1234), so that PROXY trust applies to them.
type tcpAddrListener struct{ *pipeListener }

func (l tcpAddrListener) Accept() (net.Conn, error) {
	c, err := l.pipeListener.Accept()
	if err != nil {
		return nil, err
	}
	return tcpAddrConn{c}, nil
}

type tcpAddrConn struct{ net.Conn }

func (tcpAddrConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}
}
