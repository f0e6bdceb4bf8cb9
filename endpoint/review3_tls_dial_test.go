package endpoint

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReview3TLSDialServerName: dialTLS (which replaced tls.Dialer) with a
// Client built directly, its TLS config without ServerName: the name
// verified and sent (SNI) is Host; an IP host is verified against the
// certificate's IP addresses and sends no SNI; a mismatch names the host
// in the error; the raw connection of a failed handshake is closed.
func TestReview3TLSDialServerName(t *testing.T) {
	certFile, keyFile, cert := writeCert(t, t.TempDir())
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, tc := range []struct {
		listen, host, sni, errText string
	}{
		{"127.0.0.1:0", "127.0.0.1", "", ""},
		{"127.0.0.1:0", "localhost", "localhost", ""},
		{"127.0.0.2:0", "127.0.0.2", "", "127.0.0.2"},
	} {
		ln, err := net.Listen("tcp4", tc.listen)
		if err != nil {
			t.Logf("%s: %v", tc.listen, err)
			continue
		}
		sni := make(chan string, 1)
		closed := make(chan error, 1)
		go func() {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(10 * time.Second))
			s := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{kp}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
				sni <- h.ServerName
				return nil, nil
			}})
			if err := s.Handshake(); err != nil {
				// The client refused the certificate: its alert,
				// then the end of its stream (it closed its socket).
				_, err = io.Copy(io.Discard, raw)
				closed <- err
				return
			}
			io.Copy(io.Discard, s)
			closed <- nil
		}()
		c := &Client{Type: "tls", Host: tc.host, Port: ln.Addr().(*net.TCPAddr).Port, TLS: &tls.Config{RootCAs: pool}}
		conn, err := c.Dial(t.Context())
		if tc.errText == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.host, err)
			} else {
				conn.Close()
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.errText) {
			t.Errorf("%s: err %v, want a verification error naming %s", tc.host, err, tc.errText)
			if conn != nil {
				conn.Close()
			}
		}
		if got := <-sni; got != tc.sni {
			t.Errorf("%s: SNI %q, want %q", tc.host, got, tc.sni)
		}
		select {
		case err := <-closed:
			// The end, or a reset (the client closed with the
			// server's handshake messages unread).
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("%s: the server read %v, want the end of the client's stream", tc.host, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the client's connection was not closed", tc.host)
		}
		ln.Close()
		if tc.errText == "" && c.TLS.ServerName != "" {
			t.Errorf("%s: Dial set ServerName %q in the caller's config", tc.host, c.TLS.ServerName)
		}
	}
}

// TestReview3TLSDialCancel: a ctx cancelled while the handshake waits for
// a silent server ends Dial with ctx's error, and the raw connection is
// closed (the server reads its end).
func TestReview3TLSDialCancel(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{})
	closed := make(chan error, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		defer raw.Close()
		close(accepted)
		raw.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.Copy(io.Discard, raw) // the ClientHello, then the end
		closed <- err
	}()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-accepted
		cancel()
	}()
	conn, err := Dial(ctx, "tls:127.0.0.1:"+portOf(ln)+":insecure=yes")
	if conn != nil {
		conn.Close()
	}
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("Dial: %v, want context.Canceled", err)
	}
	select {
	case err := <-closed:
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the server read %v, want the end of the client's stream", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the raw connection was not closed")
	}
}
