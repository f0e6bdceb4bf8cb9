package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/client"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/server"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// engines runs f without an engine (a goroutine per connection) and, where
// there is one, with the readiness engine, which hands each connection that
// asks for STARTTLS to a goroutine of its own.
func engines(t *testing.T, f func(t *testing.T, e *weft.Engine)) {
	t.Run("goroutines", func(t *testing.T) { f(t, nil) })
	t.Run("engine", func(t *testing.T) {
		e, err := weft.NewEngine()
		if err != nil {
			t.Skipf("no readiness engine here: %v", err)
		}
		t.Cleanup(func() { e.Close() })
		f(t, e)
	})
}

// startServer serves the greeter on a loopback port, on e if not nil.
func startServer(t *testing.T, e *weft.Engine) (addr string, pool *x509.CertPool) {
	t.Helper()
	cert, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	srv := &server.Server{Engine: e, Factory: Factory(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return l.Addr().String(), pool
}

// TestOpenSSLStartTLS: a real client, `openssl s_client -starttls smtp`, reads
// the greeting, sends EHLO, sees STARTTLS offered, upgrades, and the session
// continues over TLS.
func TestOpenSSLStartTLS(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl", "openssl")
	engines(t, func(t *testing.T, e *weft.Engine) { openSSLSession(t, openssl, e) })
}

func openSSLSession(t *testing.T, openssl string, e *weft.Engine) {
	addr, _ := startServer(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-starttls", "smtp", "-connect", addr,
		"-crlf", "-quiet", "-nocommands", "-verify_quiet")
	cmd.Stdin = strings.NewReader("EHLO openssl\nNOOP\nQUIT\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl s_client: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	want := "250 weft greets openssl over TLS\r\n250 OK\r\n221 Bye\r\n"
	if string(out) != want {
		t.Fatalf("session over TLS:\n%q\nwant\n%q\nstderr:\n%s", out, want, stderr.String())
	}
}

// weftClient is the client side of the conversation on weft's own codec.
type weftClient struct {
	pool *x509.CertPool
	t    codec.FrameTransport
	got  []string
	done chan []string
	err  error
}

func (c *weftClient) ConnectionMade(t codec.FrameTransport) { c.t = t }
func (c *weftClient) FrameReceived(line []byte) {
	s := string(line)
	c.got = append(c.got, s)
	switch s {
	case "220 weft ESMTP ready":
		c.t.SendFrame([]byte("EHLO weft"))
	case "250 STARTTLS":
		c.t.SendFrame([]byte("STARTTLS"))
	case "220 Go ahead":
		c.err = c.t.StartTLS(&tls.Config{RootCAs: c.pool, ServerName: "127.0.0.1"})
		c.t.SendFrame([]byte("EHLO weft")) // goes out over TLS
	case "250 weft greets weft over TLS":
		c.t.SendFrame([]byte("QUIT"))
	}
}
func (c *weftClient) ConnectionLost(error) { c.done <- c.got }

// TestWeftClientStartTLS: a weft client does STARTTLS against the greeter;
// with an engine, both sides leave it for the switch (the client in the
// client role).
func TestWeftClientStartTLS(t *testing.T) {
	engines(t, weftClientSession)
}

func weftClientSession(t *testing.T, e *weft.Engine) {
	addr, pool := startServer(t, e)
	h := &weftClient{pool: pool, done: make(chan []string, 1)}
	host, port, _ := net.SplitHostPort(addr)
	conn, err := client.Dial(context.Background(), "tcp:"+host+":"+port, codec.NewProtocol(codec.Line{}, h), &client.Options{Conn: &weft.Options{Engine: e}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	select {
	case got = <-h.done:
	case <-time.After(10 * time.Second):
		conn.Close()
		t.Fatal("conversation did not finish")
	}
	if h.err != nil {
		t.Fatalf("StartTLS: %v", h.err)
	}
	want := []string{"220 weft ESMTP ready", "250-weft greets weft", "250 STARTTLS", "220 Go ahead",
		"250 weft greets weft over TLS", "221 Bye"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	conn.Wait()
}
