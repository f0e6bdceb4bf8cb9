package endpoint

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseClient(t *testing.T) {
	const d30 = 30 * time.Second
	tests := []struct {
		desc string
		want Client // Desc and TLS are not compared
	}{
		// Twisted's clientFromString vectors.
		{"tcp:host=example.com:port=1234:timeout=7:bindAddress=10.0.0.2", Client{Type: "tcp", Network: "tcp", Host: "example.com", Port: 1234, Timeout: 7 * time.Second, BindAddress: "10.0.0.2"}},
		{"tcp:example.com:1234:timeout=7:bindAddress=10.0.0.2", Client{Type: "tcp", Network: "tcp", Host: "example.com", Port: 1234, Timeout: 7 * time.Second, BindAddress: "10.0.0.2"}},
		{"tcp:example.com:port=1234", Client{Type: "tcp", Network: "tcp", Host: "example.com", Port: 1234, Timeout: d30}},
		{"tcp:host=example.com:1234", Client{Type: "tcp", Network: "tcp", Host: "example.com", Port: 1234, Timeout: d30}},
		{"tcp:host=example.com:port=1234", Client{Type: "tcp", Network: "tcp", Host: "example.com", Port: 1234, Timeout: d30}},
		{"unix:path=/var/foo/bar:lockfile=1:timeout=9", Client{Type: "unix", Network: "unix", Path: "/var/foo/bar", Timeout: 9 * time.Second}},
		{"unix:/var/foo/bar:lockfile=1:timeout=9", Client{Type: "unix", Network: "unix", Path: "/var/foo/bar", Timeout: 9 * time.Second}},
		{"unix:path=/var/foo/bar", Client{Type: "unix", Network: "unix", Path: "/var/foo/bar", Timeout: d30}},
		{"tls:example.com:443:timeout=10:bindAddress=127.0.0.1", Client{Type: "tls", Network: "tcp", Host: "example.com", Port: 443, Timeout: 10 * time.Second, BindAddress: "127.0.0.1"}},
		// Case-insensitive types, durations, IPv6.
		{"TCP:127.0.0.1:80:timeout=1500ms", Client{Type: "tcp", Network: "tcp", Host: "127.0.0.1", Port: 80, Timeout: 1500 * time.Millisecond}},
		{"tcp:h:80:timeout=2.5", Client{Type: "tcp", Network: "tcp", Host: "h", Port: 80, Timeout: 2500 * time.Millisecond}},
		{`Tcp6:\:\:1:80`, Client{Type: "tcp", Network: "tcp6", Host: "::1", Port: 80, Timeout: d30}},
		{`tcp:[\:\:1]:port=80`, Client{Type: "tcp", Network: "tcp", Host: "::1", Port: 80, Timeout: d30}},
		{"tls:host=h:port=8443", Client{Type: "tls", Network: "tcp", Host: "h", Port: 8443, Timeout: d30}},
	}
	for _, tt := range tests {
		c, err := ParseClient(tt.desc)
		if err != nil {
			t.Errorf("ParseClient(%q): %v", tt.desc, err)
			continue
		}
		if c.Desc != tt.desc {
			t.Errorf("ParseClient(%q).Desc = %q", tt.desc, c.Desc)
		}
		if (c.Type == "tls") != (c.TLS != nil) {
			t.Errorf("ParseClient(%q).TLS = %v", tt.desc, c.TLS)
		}
		c.Desc, c.TLS = "", nil
		if !reflect.DeepEqual(*c, tt.want) {
			t.Errorf("ParseClient(%q) =\n %+v, want\n %+v", tt.desc, *c, tt.want)
		}
	}
	c, err := ParseClient("tls:example.com:443:hostname=other.example:insecure=yes")
	if err != nil || c.TLS.ServerName != "other.example" || !c.TLS.InsecureSkipVerify || c.TLS.MinVersion < 0x0303 {
		t.Errorf("tls options: %+v, %v", c, err)
	}
}

func TestParseClientErrors(t *testing.T) {
	tests := []struct {
		desc, part string
		want       error
	}{
		{"bogus:x:1", "type", ErrUnknownType},
		{"tcp:example.com", "port", ErrArguments},
		{"tcp:port=80", "host", ErrArguments},
		{"tcp", "host", ErrArguments},
		{"tcp::80", "host", ErrArguments},
		{"tcp:h:0", "port", ErrInvalidValue},
		{"tcp:h:65536", "port", ErrInvalidValue},
		{"tcp:h:1:2", "2", ErrArguments},
		{"tcp:h:1:host=x", "h:1", ErrArguments},
		{"tcp:h:1:timeout=x", "timeout", ErrInvalidValue},
		{"tcp:h:1:timeout=0", "timeout", ErrInvalidValue},
		{"tcp:h:1:timeout=-1s", "timeout", ErrInvalidValue},
		// Under a nanosecond: it would round to 0, which means the 30 s default.
		{"tcp:h:1:timeout=1e-10", "timeout", ErrInvalidValue},
		{"tcp:h:1:bindAddress=nowhere", "bindAddress", ErrInvalidValue},
		{"tcp:h:1:interface=127.0.0.1", "interface", ErrUnknownKeyword},
		{"unix", "path", ErrArguments},
		{"unix:/x:mode=600", "mode", ErrUnknownKeyword},
		{"tls:h:1:caCerts=/nonexistent", "caCerts", ErrTLSConfig},
		{"tls:h:1:insecure=perhaps", "insecure", ErrInvalidValue},
		// privateKey= is a tls keyword, but only with certificate=.
		{"tls:h:1:privateKey=/k.pem", "privateKey", ErrArguments},
	}
	for _, tt := range tests {
		_, err := ParseClient(tt.desc)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, tt.want) || e.Part != tt.part || e.Desc != tt.desc {
			t.Errorf("ParseClient(%q) err = %v (%#v), want part %q matching %v", tt.desc, err, e, tt.part, tt.want)
		}
	}
}

// The client TLS keywords of Twisted's own examples (clientFromString's
// docstring) are read as Twisted does: ssl: takes certKey= for the client
// certificate and caCertsDir= for a directory of *.pem CA certificates; tls:
// takes trustRoots= for the same directory. Each trusts only what the
// directory holds, and naming the trust roots twice is an error.
func TestParseClientTwistedTLSKeywords(t *testing.T) {
	certFile, port := tlsEchoServer(t)
	clientCert, clientKey, _ := writeCert(t, t.TempDir())
	cas := t.TempDir()
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"server.pem": pemBytes, "README.txt": []byte("not a pem"), "junk.PEM": []byte("junk")} {
		if err := os.WriteFile(filepath.Join(cas, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip(t, "ssl:host=127.0.0.1:port="+port+":caCertsDir="+Quote(cas))
	roundTrip(t, "tls:127.0.0.1:"+port+":trustRoots="+Quote(cas))
	c, err := ParseClient("ssl:web.example.com:443:privateKey=" + Quote(clientKey) + ":certKey=" + Quote(clientCert))
	if err != nil || len(c.TLS.Certificates) != 1 {
		t.Errorf("ssl client certificate with certKey=: %v, want one client certificate", err)
	}
	// A directory with no certificate in its *.pem files trusts nothing:
	// an error, not a client that fails every handshake.
	empty := t.TempDir()
	for _, tt := range []struct{ desc, part string }{
		{"ssl:h:1:caCertsDir=" + Quote(empty), "caCertsDir"},
		{"tls:h:1:trustRoots=" + Quote(filepath.Join(empty, "missing")), "trustRoots"},
		{"tls:h:1:trustRoots=" + Quote(certFile), "trustRoots"}, // a file, not a directory
	} {
		_, err := ParseClient(tt.desc)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrTLSConfig) || e.Part != tt.part {
			t.Errorf("ParseClient(%q): err = %v, want ErrTLSConfig about %s", tt.desc, err, tt.part)
		}
	}
	for _, tt := range []struct{ desc, part string }{
		{"tls:h:1:caCerts=" + Quote(certFile) + ":trustRoots=" + Quote(cas), "trustRoots"},
		{"tls:h:1:caCertsDir=" + Quote(cas) + ":trustRoots=" + Quote(cas), "trustRoots"},
		{"tls:h:1:certificate=" + Quote(clientCert) + ":certKey=" + Quote(clientCert), "certKey"},
	} {
		_, err := ParseClient(tt.desc)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrArguments) || e.Part != tt.part {
			t.Errorf("ParseClient(%q): err = %v, want ErrArguments about %s", tt.desc, err, tt.part)
		}
	}
}

// endpoint= (Twisted's, for tls:) runs TLS over another client endpoint:
// here a unix socket, and TLS inside TLS; HOST is only the name verified.
func TestDialTLSVia(t *testing.T) {
	certFile, keyFile, _ := writeCert(t, t.TempDir())
	sock := filepath.Join(t.TempDir(), "tls.sock")
	ln, _, err := Listen(t.Context(), "unix:"+Quote(sock))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}))
	via := "endpoint=" + Quote("unix:"+Quote(sock))
	c, err := ParseClient("tls:localhost:443:caCerts=" + Quote(certFile) + ":" + via)
	if err != nil {
		t.Fatal(err)
	}
	if c.Via == nil || c.Via.Type != "unix" || c.Via.Path != sock || c.TLS.ServerName != "localhost" {
		t.Fatalf("parsed %+v (Via %+v)", c, c.Via)
	}
	roundTrip(t, "tls:localhost:443:caCerts="+Quote(certFile)+":"+via)
	// The name is checked against the certificate, not the socket.
	if _, err := Dial(t.Context(), "tls:other.example:443:caCerts="+Quote(certFile)+":"+via); err == nil || !strings.Contains(err.Error(), "other.example") {
		t.Errorf("wrong host name over endpoint=: %v, want a verification error naming it", err)
	}

	// TLS inside TLS: the inner tls: endpoint's connection carries the outer one.
	tcpLn, _, err := Listen(t.Context(), "tls:0:interface=127.0.0.1:privateKey="+Quote(keyFile)+":certKey="+Quote(certFile))
	if err != nil {
		t.Fatal(err)
	}
	defer tcpLn.Close()
	serveEcho(tls.NewListener(tcpLn, &tls.Config{Certificates: []tls.Certificate{cert}}))
	inner := "tls:127.0.0.1:" + portOf(tcpLn) + ":caCerts=" + Quote(certFile)
	roundTrip(t, "tls:localhost:1:caCerts="+Quote(certFile)+":endpoint="+Quote(inner))

	for _, tt := range []struct{ desc, part string }{
		{"tls:h:1:endpoint=" + Quote("bogus:x"), "endpoint"},
		{"tls:h:1:endpoint=" + Quote("tcp:h:99999"), "endpoint"},
		{"tls:h:1:bindAddress=127.0.0.1:endpoint=" + Quote("tcp:h:1"), "bindAddress"},
		{"tcp:h:1:endpoint=" + Quote("tcp:h:1"), "endpoint"},
	} {
		_, err := ParseClient(tt.desc)
		var e *Error
		if !errors.As(err, &e) || e.Part != tt.part {
			t.Errorf("ParseClient(%q): err = %v, want an error about %s", tt.desc, err, tt.part)
		}
	}
	loop := &Client{Type: "tls", Host: "h", Port: 1}
	loop.Via = &Client{Type: "tls", Host: "h", Port: 1, Via: loop}
	if _, err := loop.Dial(t.Context()); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("a Via loop: %v, want ErrInvalidValue", err)
	}
}
