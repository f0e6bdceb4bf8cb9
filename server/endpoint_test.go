package server

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/endpoint"
)

// listen runs s.Listen(desc) and returns the listener's address.
func listen(t *testing.T, s *Server, desc string) net.Addr {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Listen(desc) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Listen(%q) = %v", desc, err)
		}
	})
	var addr net.Addr
	waitFor(t, "listening on "+desc, func() bool {
		select {
		case err := <-done:
			t.Fatalf("Listen(%q) = %v", desc, err)
		default:
		}
		if a := s.Addrs(); len(a) > 0 {
			addr = a[0]
			return true
		}
		return false
	})
	return addr
}

// TestListenEndpoints: tcp, unix and tls (with a PROXY header before the TLS
// handshake) endpoint strings. The tcp and unix ones on both engines (with
// the engine, a tcp endpoint, as weft serve listens, takes the descriptor
// accept path); the TLS one is served by a goroutine whatever the Engine.
func TestListenEndpoints(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		onEngines(t, func(t *testing.T, engine *weft.Engine) {
			s := &Server{Factory: echoFactory(), Engine: engine}
			addr := listen(t, s, "tcp:0:interface=127.0.0.1")
			roundTrip(t, dial(t, addr.String()), "tcp endpoint")
			wantFDPath(t, s)
		})
	})
	t.Run("unix", func(t *testing.T) {
		onEngines(t, func(t *testing.T, engine *weft.Engine) {
			s := &Server{Factory: echoFactory(), Engine: engine}
			path := filepath.Join(t.TempDir(), "weft.sock")
			listen(t, s, "unix:"+path)
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			roundTrip(t, c, "unix endpoint")
		})
	})
	t.Run("tls+proxy", func(t *testing.T) {
		srv, cli := testTLS(t)
		key := writePEM(t, srv)
		s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} })}
		addr := listen(t, s, "tls:0:interface=127.0.0.1:privateKey="+key+":proxy=127.0.0.1/32")
		raw := dial(t, addr.String())
		raw.Write(proxyHeader(t, 2, "203.0.113.9:999"))
		tc := tls.Client(raw, cli)
		want := "you are 203.0.113.9:999\n"
		if got := string(readN(t, tc, len(want))); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		roundTrip(t, tc, "TLS after PROXY")
	})
	t.Run("bad", func(t *testing.T) {
		s := &Server{Factory: echoFactory()}
		if err := s.Listen("tcp:notaport"); !errors.Is(err, endpoint.ErrInvalidValue) {
			t.Errorf("Listen of a bad description = %v, want the endpoint's ErrInvalidValue", err)
		}
		if err := (&Server{}).Listen("tcp:0:interface=127.0.0.1"); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Listen without a Factory = %v", err)
		}
	})
}

// writePEM writes cfg's certificate and key to one PEM file.
func writePEM(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	cert := cfg.Certificates[0]
	der, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})...)
	path := filepath.Join(t.TempDir(), "server.pem")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSeveralServersAndListeners: two Servers in one process, one of them on
// two listeners at once, each serving its own Factory. On both engines: with
// the engine, both Servers share one, on the descriptor accept path.
func TestSeveralServersAndListeners(t *testing.T) { onEngines(t, testSeveralServersAndListeners) }

func testSeveralServersAndListeners(t *testing.T, engine *weft.Engine) {
	one := &Server{Factory: factoryOf(func() *greeter { return &greeter{msg: "one\n"} }), Engine: engine}
	two := &Server{Factory: factoryOf(func() *greeter { return &greeter{msg: "two\n"} }), Engine: engine}
	a1 := serve(t, one)
	a2 := serve(t, one)
	b := serve(t, two)
	for addr, want := range map[string]string{a1: "one\n", a2: "one\n", b: "two\n"} {
		c := dial(t, addr)
		if got := string(readN(t, c, len(want))); got != want {
			t.Errorf("%s said %q, want %q", addr, got, want)
		}
	}
	wantFDPath(t, one)
	wantFDPath(t, two)
	if n := len(one.Addrs()); n != 2 {
		t.Errorf("first server has %d listeners, want 2", n)
	}
}
