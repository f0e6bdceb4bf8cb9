package endpoint

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// lostWith records what it received and the reason ConnectionLost got.
type lostWith struct {
	got    []byte
	reason chan error
}

func (p *lostWith) ConnectionMade(weft.Transport) {}
func (p *lostWith) DataReceived(b []byte)         { p.got = append(p.got, b...) }
func (p *lostWith) ConnectionLost(err error)      { p.reason <- err }

// TestDialTLSTruncated: over a tls: client connection, a server whose
// stream ends without close_notify gives ConnectionLost
// weft.ErrTLSTruncated; one that sends close_notify ends cleanly.
func TestDialTLSTruncated(t *testing.T) {
	certFile, keyFile, _ := writeCert(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		notify    bool
		truncated bool
	}{
		{"close_notify", true, false},
		{"socket closed", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				raw, err := ln.Accept()
				if err != nil {
					return
				}
				defer raw.Close()
				raw.SetDeadline(time.Now().Add(10 * time.Second))
				s := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{cert}})
				s.Write([]byte("hi\n"))
				if tc.notify {
					s.Close()
				}
			}()
			nc, err := Dial(t.Context(), "tls:127.0.0.1:"+portOf(ln)+":caCerts="+Quote(certFile))
			if err != nil {
				t.Fatal(err)
			}
			p := &lostWith{reason: make(chan error, 1)}
			go weft.Serve(nc, p, nil)
			var reason error
			select {
			case reason = <-p.reason:
			case <-time.After(10 * time.Second):
				t.Fatal("ConnectionLost not called")
			}
			<-served
			if string(p.got) != "hi\n" {
				t.Errorf("received %q, want \"hi\\n\"", p.got)
			}
			if tc.truncated != errors.Is(reason, weft.ErrTLSTruncated) || !tc.truncated && reason != nil {
				t.Errorf("ConnectionLost(%v); want ErrTLSTruncated: %v", reason, tc.truncated)
			}
		})
	}
}

// TestDialViaServerName: a Client built in code, with a TLS config that
// names no server and a Via, verifies the certificate against Host, as the
// same Client without Via does (tls.Dialer's rule), instead of failing with
// crypto/tls's "either ServerName or InsecureSkipVerify must be specified".
func TestDialViaServerName(t *testing.T) {
	certFile, keyFile, parsed := writeCert(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "tls.sock")
	ln, _, err := Listen(t.Context(), "unix:"+Quote(sock))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serveEcho(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}))
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	cfg := &tls.Config{RootCAs: pool}
	c := &Client{Type: "tls", Host: "localhost", Port: 443, TLS: cfg, Via: &Client{Type: "unix", Path: sock}}
	nc, err := c.Dial(t.Context())
	if err != nil {
		t.Fatalf("Dial over Via with no ServerName: %v", err)
	}
	nc.Close()
	if cfg.ServerName != "" {
		t.Errorf("the caller's config was changed: ServerName %q", cfg.ServerName)
	}
	c.Host = "other.example"
	if _, err := c.Dial(t.Context()); err == nil || !strings.Contains(err.Error(), "other.example") {
		t.Errorf("a Host the certificate does not name: %v, want a verification error naming it", err)
	}
}
