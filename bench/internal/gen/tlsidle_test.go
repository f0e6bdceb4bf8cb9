package gen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"os"
	"testing"
	"time"
)

// tlsConfig returns a server configuration with a fresh self-signed
// certificate.
func tlsConfig(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// TestTLSIdle: every TLS connection is made, measured and echoed once; a
// server that does not speak TLS is an error, and one that breaks the echo
// is counted.
func TestTLSIdle(t *testing.T) {
	cfg := tlsConfig(t)
	addr := server(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		defer tc.Close()
		_, _ = io.Copy(tc, tc)
	})
	r, err := TLSIdle(IdleConfig{Addr: addr, Conns: 50, PID: os.Getpid(), Codec: Netstring})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != "tlsidle" || r.Alive != 50 || r.Errors != 0 || r.RSSBefore <= 0 || r.RSSIdle <= 0 {
		t.Errorf("%+v", r)
	}
	if _, err := TLSIdle(IdleConfig{Addr: server(t, echoHandler), Conns: 3, Timeout: 5 * time.Second}); err == nil {
		t.Error("a clear-text server: no error")
	}
	mute := server(t, func(c net.Conn) { // handshakes, then closes
		tc := tls.Server(c, cfg)
		_ = tc.Handshake()
		tc.Close()
	})
	r, err = TLSIdle(IdleConfig{Addr: mute, Conns: 5, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Alive != 0 || r.Errors != 5 || r.FirstError == "" {
		t.Errorf("closed connections counted alive: %+v", r)
	}
	if _, err := TLSIdle(IdleConfig{}); err == nil {
		t.Error("no address: no error")
	}
}
