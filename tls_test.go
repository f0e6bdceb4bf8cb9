package weft_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// startTLSRun is what postedStartTLS leaves for the test to look at.
type startTLSRun struct {
	client *tls.Conn      // the peer's TLS side, after the clear-text reply
	r      *recorder      // the served Protocol
	tr     weft.Transport // its Transport
	done   <-chan error   // Serve's result
}

// postedStartTLS serves a recorder over pair (reading paused from
// ConnectionMade if paused) and answers a STARTTLS from posted work: "220 go
// ahead" in clear text, StartTLS, "secret\n" over TLS, then then (if not
// nil). The work is posted from another goroutine if fromGoroutine, else from
// the test's. It checks StartTLS's error and the clear-text reply, and
// returns the peer's TLS side, which has not read "secret\n" yet.
func postedStartTLS(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn), paused, fromGoroutine bool, then func(weft.Transport)) startTLSRun {
	t.Helper()
	cfg, pool := testCert(t)
	s, c := pair(t)
	r := newRecorder(t)
	if paused {
		r.onMade = func(t weft.Transport) { t.PauseReading() }
	}
	conn := weft.NewConn(s, r, withEngine(s, nil))
	done := make(chan error, 1)
	go func() { done <- conn.Serve() }()
	tr := waitMade(t, r)
	errc := make(chan error, 1)
	work := func() {
		tr.Write([]byte("220 go ahead\r\n"))
		err := tr.StartTLS(cfg)
		tr.Write([]byte("secret\n"))
		if then != nil {
			then(tr)
		}
		errc <- err
	}
	if fromGoroutine {
		go conn.Post(work)
	} else {
		conn.Post(work)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line := make([]byte, len("220 go ahead\r\n"))
	if _, err := io.ReadFull(c, line); err != nil || string(line) != "220 go ahead\r\n" {
		t.Fatalf("clear reply %q, %v", line, err)
	}
	return startTLSRun{tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}), r, tr, done}
}

// readSecret reads postedStartTLS's "secret\n" over TLS.
func (run startTLSRun) readSecret(t *testing.T) {
	t.Helper()
	got := make([]byte, len("secret\n"))
	if _, err := io.ReadFull(run.client, got); err != nil || string(got) != "secret\n" {
		t.Fatalf("over TLS %q, %v", got, err)
	}
}

// testCert makes a self-signed certificate for 127.0.0.1 (and localhost)
// and a pool that trusts it.
func testCert(t testing.TB) (*tls.Config, *x509.CertPool) {
	srv, cli := testenv.TLSConfigs(t)
	return srv, cli.RootCAs
}

// starttlsServer answers "STARTTLS" with "220 go ahead" in clear text, then
// speaks TLS; after the switch it echoes, prefixed with "tls:". It hands the
// bytes after the command to TLS.
type starttlsServer struct {
	cfg    *tls.Config
	t      weft.Transport
	secure bool
	errc   chan error
}

func (s *starttlsServer) ConnectionMade(t weft.Transport) { s.t = t; t.Write([]byte("220 hello\r\n")) }
func (s *starttlsServer) DataReceived(d []byte) {
	if s.secure {
		s.t.Write(append([]byte("tls:"), d...))
		return
	}
	rest, ok := bytes.CutPrefix(d, []byte("STARTTLS\r\n"))
	if !ok {
		s.t.Write([]byte("500 say STARTTLS\r\n"))
		return
	}
	s.t.Write([]byte("220 go ahead\r\n")) // before StartTLS: clear text
	s.errc <- weft.StartTLS(s.t, s.cfg, rest)
	s.t.Write([]byte("secret\n")) // after StartTLS: over TLS
	s.secure = true
}
func (s *starttlsServer) ConnectionLost(error) {}

// TestStartTLSServer: output queued before StartTLS goes out in clear, output
// after it over TLS, and the conversation continues over TLS; the peer's
// close_notify ends it cleanly. On both engines.
func TestStartTLSServer(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tr := range tcpAndEngine {
		t.Run(tr.name, func(t *testing.T) {
			s, c := tr.pair(t)
			c.SetDeadline(time.Now().Add(10 * time.Second)) // fail, not hang
			p := &starttlsServer{cfg: cfg, errc: make(chan error, 1)}
			done := serve(s, p, nil)
			br := bufio.NewReader(c)
			if line, _ := br.ReadString('\n'); line != "220 hello\r\n" {
				t.Fatalf("greeting %q", line)
			}
			c.Write([]byte("STARTTLS\r\n"))
			if line, _ := br.ReadString('\n'); line != "220 go ahead\r\n" {
				t.Fatalf("reply %q", line)
			}
			if err := <-p.errc; err != nil {
				t.Fatal(err)
			}
			if br.Buffered() != 0 {
				t.Fatalf("%d bytes after 220 arrived in clear text", br.Buffered())
			}
			tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			tbr := bufio.NewReader(tc)
			if line, err := tbr.ReadString('\n'); line != "secret\n" {
				t.Fatalf("first TLS line %q, %v", line, err)
			}
			tc.Write([]byte("ping\n"))
			if line, _ := tbr.ReadString('\n'); line != "tls:ping\n" {
				t.Fatalf("echo over TLS %q", line)
			}
			tc.Close()
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v after the peer's close_notify, want nil", err)
			}
		})
	}
}

// TestStartTLSPipelined: the client sends the command and its TLS ClientHello
// in one write; the bytes after the command, received in the same read, are
// handed to TLS and never seen as clear text. On both engines.
func TestStartTLSPipelined(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tr := range tcpAndEngine {
		t.Run(tr.name, func(t *testing.T) {
			s, c := tr.pair(t)
			c.SetDeadline(time.Now().Add(10 * time.Second)) // fail, not hang
			p := &starttlsServer{cfg: cfg, errc: make(chan error, 1)}
			done := serve(s, p, nil)
			br := bufio.NewReader(c)
			if line, _ := br.ReadString('\n'); line != "220 hello\r\n" {
				t.Fatalf("greeting %q", line)
			}
			// The first write of the TLS client (its ClientHello) goes out
			// glued to the command; its first read takes the server's clear
			// reply off first.
			pc := &gluedConn{Conn: c, prefix: []byte("STARTTLS\r\n"), r: br}
			tc := tls.Client(pc, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			if err := tc.Handshake(); err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if pc.clear != "220 go ahead\r\n" {
				t.Fatalf("clear reply %q", pc.clear)
			}
			if err := <-p.errc; err != nil {
				t.Fatal(err)
			}
			tbr := bufio.NewReader(tc)
			if line, err := tbr.ReadString('\n'); line != "secret\n" {
				t.Fatalf("first TLS line %q, %v", line, err)
			}
			tc.Write([]byte("pipelined\n"))
			if line, _ := tbr.ReadString('\n'); line != "tls:pipelined\n" {
				t.Fatalf("echo over TLS %q", line)
			}
			tc.Close()
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v after the peer's close_notify, want nil", err)
			}
		})
	}
}

// gluedConn prefixes its first write, and before its first read takes one
// clear-text line off r.
type gluedConn struct {
	net.Conn
	prefix []byte
	r      *bufio.Reader
	clear  string
	read   bool
}

func (g *gluedConn) Write(p []byte) (int, error) {
	if g.prefix != nil {
		b := append(g.prefix, p...)
		g.prefix = nil
		_, err := g.Conn.Write(b)
		return len(p), err
	}
	return g.Conn.Write(p)
}

func (g *gluedConn) Read(p []byte) (int, error) {
	if !g.read {
		g.read = true
		line, err := g.r.ReadString('\n')
		g.clear = line
		if err != nil {
			return 0, err
		}
	}
	return g.r.Read(p)
}

// TestStartTLSClientRole: a dialled connection (Options.Client) takes the
// client role against a Go TLS server, on both engines (the served end of
// the pair is the dialled one here: TCP is symmetric once connected).
func TestStartTLSClientRole(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tr := range tcpAndEngine {
		t.Run(tr.name, func(t *testing.T) {
			dialled, srv := tr.pair(t)
			got := make(chan string, 1)
			p := &funcProto{
				made: func(tr weft.Transport) {
					if err := tr.StartTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
						t.Error(err)
					}
					tr.Write([]byte("hello over tls\n"))
				},
				data: func(tr weft.Transport, d []byte) { got <- string(d); tr.LoseConnection() },
			}
			done := serve(dialled, p, &weft.Options{Client: true})
			srv.SetDeadline(time.Now().Add(10 * time.Second)) // fail, not hang
			ts := tls.Server(srv, cfg)
			br := bufio.NewReader(ts)
			line, err := br.ReadString('\n')
			if err != nil || line != "hello over tls\n" {
				t.Fatalf("server read %q, %v", line, err)
			}
			if _, err := ts.Write([]byte("welcome")); err != nil {
				t.Fatal(err)
			}
			select {
			case g := <-got:
				if g != "welcome" {
					t.Fatalf("client got %q", g)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the client received nothing over TLS")
			}
			// LoseConnection over TLS: a close_notify, then the end.
			if rest, err := io.ReadAll(br); len(rest) != 0 || err != nil {
				t.Errorf("server read %q, %v after the client's LoseConnection; want a clean end", rest, err)
			}
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
			// Refused: the connection is closed, and speaks TLS already.
			if err := p.tr.StartTLS(&tls.Config{}); !errors.Is(err, weft.ErrClosed) && !errors.Is(err, weft.ErrTLSActive) {
				t.Fatalf("StartTLS after close = %v, want ErrClosed or ErrTLSActive", err)
			}
		})
	}
}

// TestStartTLSTwice: a second StartTLS is refused with ErrTLSActive, on
// every transport; the Abort after them ends the connection with
// ErrAborted.
func TestStartTLSTwice(t *testing.T) {
	cfg, _ := testCert(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			s, _ := tr.pair(t)
			errs := make(chan error, 2)
			p := &funcProto{made: func(tr weft.Transport) {
				errs <- tr.StartTLS(cfg)
				errs <- tr.StartTLS(cfg)
				tr.Abort()
			}}
			if err := waitServe(t, serve(s, p, nil)); !errors.Is(err, weft.ErrAborted) {
				t.Errorf("Serve = %v, want ErrAborted", err)
			}
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			if err := <-errs; !errors.Is(err, weft.ErrTLSActive) {
				t.Fatalf("second StartTLS: %v", err)
			}
		})
	}
}
