package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// lostReason echoes and sends the reason ConnectionLost got on reasons.
type lostReason struct {
	t       weft.Transport
	reasons chan<- error
}

func (p *lostReason) ConnectionMade(t weft.Transport) { p.t = t }
func (p *lostReason) DataReceived(b []byte)           { p.t.Write(b) }
func (p *lostReason) ConnectionLost(err error)        { p.reasons <- err }

// TestTLSTruncatedEndpoint: on a tls: listener, a client whose stream ends
// without close_notify (its socket closed, or half-closed) is reported to
// the Protocol as weft.ErrTLSTruncated and counted as "tls truncated"; what
// was echoed before still reaches a half-closed client. A client that
// closes with close_notify ends cleanly.
func TestTLSTruncatedEndpoint(t *testing.T) {
	srv, cli := testTLS(t)
	key := writePEM(t, srv)
	reasons := make(chan error, 3)
	s := &Server{Factory: factoryOf(func() *lostReason { return &lostReason{reasons: reasons} })}
	addr := listen(t, s, "tls:0:interface=127.0.0.1:privateKey="+key)
	for _, c := range []struct {
		name string
		end  func(tc *tls.Conn, raw net.Conn)
		want string
	}{
		{"close_notify", func(tc *tls.Conn, _ net.Conn) { tc.Close() }, "clean"},
		{"socket closed", func(_ *tls.Conn, raw net.Conn) { raw.Close() }, "tls truncated"},
		{"socket half-closed", func(_ *tls.Conn, raw net.Conn) { raw.(*net.TCPConn).CloseWrite() }, "tls truncated"},
	} {
		raw := dial(t, addr.String())
		tc := tls.Client(raw, cli)
		roundTrip(t, tc, "before the end")
		half := c.name == "socket half-closed"
		if half {
			tc.Write([]byte("echoed after\n"))
		}
		c.end(tc, raw)
		if half {
			if got, err := io.ReadAll(tc); string(got) != "echoed after\n" || err != nil {
				t.Errorf("%s: the client read %q, %v; want the echo, then a close_notify", c.name, got, err)
			}
		}
		err := <-reasons
		if got := ReasonOf(err).String(); got != c.want {
			t.Errorf("%s: ConnectionLost(%v), reason %q, want %q", c.name, err, got, c.want)
		}
		if c.want == "tls truncated" && !errors.Is(err, weft.ErrTLSTruncated) {
			t.Errorf("%s: ConnectionLost(%v), want weft.ErrTLSTruncated", c.name, err)
		}
	}
	waitFor(t, "closed counted", func() bool {
		snap := s.Snapshot()
		return snap.Closed["clean"] == 1 && snap.Closed["tls truncated"] == 2
	})
}

// pyTLSClient connects with CPython's ssl module (OpenSSL), sends "ping\n",
// reads the echo, then ends: with unwrap() (close_notify) or close() alone
// (no close_notify: Python's SSLSocket.close sends none).
const pyTLSClient = `
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s = ctx.wrap_socket(raw)
s.sendall(b"ping\n")
got = b""
while len(got) < 5:
    b = s.recv(5 - len(got))
    if not b:
        break
    got += b
if got != b"ping\n":
    sys.exit("echo: %r" % got)
if sys.argv[2] == "notify":
    s.unwrap().close()
else:
    s.close()
`

// TestTLSTruncatedOpenSSL: a real OpenSSL client (CPython's ssl) that
// closes its socket without close_notify is reported as "tls truncated";
// one that unwraps first (close_notify) as "clean".
func TestTLSTruncatedOpenSSL(t *testing.T) {
	py := testenv.Twisted(t) // Debian's /usr/bin/python3; only its ssl module is used
	srv, _ := testTLS(t)
	key := writePEM(t, srv)
	reasons := make(chan error, 2)
	s := &Server{Factory: factoryOf(func() *lostReason { return &lostReason{reasons: reasons} })}
	addr := listen(t, s, "tls:0:interface=127.0.0.1:privateKey="+key)
	for _, c := range []struct{ mode, want string }{{"notify", "clean"}, {"cut", "tls truncated"}} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		out, err := exec.CommandContext(ctx, py, "-c", pyTLSClient, strconv.Itoa(portOf(t, addr.String())), c.mode).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: python: %v\n%s", c.mode, err, out)
		}
		select {
		case err := <-reasons:
			if got := ReasonOf(err).String(); got != c.want {
				t.Errorf("%s: ConnectionLost(%v), reason %q, want %q", c.mode, err, got, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ConnectionLost not called", c.mode)
		}
	}
}

// startTLSAtOnce switches to TLS in ConnectionMade and reports its reason.
type startTLSAtOnce struct {
	cfg     *tls.Config
	reasons chan<- error
}

func (p *startTLSAtOnce) ConnectionMade(t weft.Transport) { t.StartTLS(p.cfg) }
func (p *startTLSAtOnce) DataReceived([]byte)             {}
func (p *startTLSAtOnce) ConnectionLost(err error)        { p.reasons <- err }

// TestStartTLSHandshakeFailedReason: a StartTLS handshake that fails (the
// client sends clear text where a ClientHello belongs) is counted as
// "handshake failed", as a TLS listener's is, and its reason matches
// weft.ErrHandshakeFailed; before, it was counted as "error".
func TestStartTLSHandshakeFailedReason(t *testing.T) {
	srv, _ := testTLS(t)
	reasons := make(chan error, 1)
	s := &Server{Factory: factoryOf(func() *startTLSAtOnce { return &startTLSAtOnce{cfg: srv, reasons: reasons} })}
	addr := serve(t, s)
	c := dial(t, addr)
	c.Write([]byte("HELLO THERE, THIS IS NOT TLS\r\n"))
	readToEOF(t, c)
	err := <-reasons
	if !errors.Is(err, weft.ErrHandshakeFailed) {
		t.Errorf("ConnectionLost(%v), want weft.ErrHandshakeFailed", err)
	}
	waitFor(t, "counted", func() bool { return s.Snapshot().Closed["handshake failed"] == 1 })
}
