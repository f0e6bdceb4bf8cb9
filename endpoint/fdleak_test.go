package endpoint

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TLS files that are missing, empty, garbage, the wrong kind of PEM, a
// directory or a mismatched pair each give an ErrTLSConfig naming the keyword
// and the file; none panics.
func TestTLSFileErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	_, otherKey, _ := writeCert(t, t.TempDir())
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := write("empty.pem", "")
	garbage := write("garbage.pem", "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n\x00\xff")
	for _, tt := range []struct{ desc, part string }{
		{"tls:0:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(filepath.Join(dir, "missing.pem")), "certKey"},
		{"tls:0:privateKey=" + Quote(filepath.Join(dir, "missing.pem")) + ":certKey=" + Quote(certFile), "privateKey"},
		{"tls:0:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(empty), "certKey"},
		{"tls:0:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(garbage), "certKey"},
		{"tls:0:privateKey=" + Quote(garbage) + ":certKey=" + Quote(certFile), "privateKey"},
		{"tls:0:privateKey=" + Quote(certFile) + ":certKey=" + Quote(certFile), "privateKey"},
		{"tls:0:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(keyFile), "certKey"},
		{"tls:0:privateKey=" + Quote(otherKey) + ":certKey=" + Quote(certFile), "privateKey"},
		{"tls:0:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(dir), "certKey"},
	} {
		_, err := ParseServer(tt.desc)
		var e *Error
		if !errors.Is(err, ErrTLSConfig) || !errors.As(err, &e) || e.Part != tt.part {
			t.Errorf("ParseServer(%q): err = %v, want ErrTLSConfig about %s", tt.desc, err, tt.part)
		}
	}
	for _, ca := range []string{empty, garbage, keyFile, dir} {
		if _, err := ParseClient("tls:h:1:caCerts=" + Quote(ca)); !errors.Is(err, ErrTLSConfig) {
			t.Errorf("caCerts=%s: err = %v, want ErrTLSConfig", ca, err)
		}
	}
}

// A tls client verifies the server's name by default: a certificate for
// localhost and 127.0.0.1 is refused for another name, and only insecure=yes
// turns verification off.
func TestTLSClientVerifiesName(t *testing.T) {
	certFile, port := tlsEchoServer(t)
	c, err := ParseClient("tls:127.0.0.1:" + port + ":caCerts=" + Quote(certFile) + ":hostname=example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.InsecureSkipVerify {
		t.Fatal("InsecureSkipVerify set without insecure=")
	}
	if conn, err := c.Dial(t.Context()); err == nil {
		conn.Close()
		t.Error("dial with hostname=example.com: verified a certificate for localhost")
	} else if !strings.Contains(err.Error(), "example.com") {
		t.Errorf("dial with hostname=example.com: %v, want a name mismatch", err)
	}
}

// openFDs counts this process's open descriptors (Linux).
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// No error path of parsing, listening or dialing leaves a descriptor open:
// bad TLS files, a held lock, a live socket, a path that is not a socket, a
// too-long path, an address in use, a refused or cancelled connect, a failed
// handshake and a handshake timeout.
func TestErrorPathsCloseFDs(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	_, otherKey, _ := writeCert(t, t.TempDir())
	// Servers of their own, which report each connection closed, so that
	// the count waits for the server sides of failed dials (no sleeping).
	closed := make(chan struct{}, 16)
	serve := func(ln net.Listener) {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					if tc, ok := c.(*tls.Conn); ok {
						tc.Handshake()
					}
					io.Copy(io.Discard, c)
					c.Close()
					closed <- struct{}{}
				}()
			}
		}()
	}
	tlsLn, _, err := Listen(t.Context(), "tls:0:interface=127.0.0.1:privateKey="+Quote(keyFile)+":certKey="+Quote(certFile))
	if err != nil {
		t.Fatal(err)
	}
	defer tlsLn.Close()
	serve(tlsLn)
	tlsPort := portOf(tlsLn)
	silent, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	serve(silent)
	refused, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedPort := portOf(refused)
	refused.Close()
	sock := filepath.Join(dir, "s")
	unixLn, _, err := Listen(t.Context(), "unix:"+Quote(sock))
	if err != nil {
		t.Fatal(err)
	}
	defer unixLn.Close()
	regular := filepath.Join(dir, "regular")
	os.WriteFile(regular, nil, 0o600)
	symlinked := filepath.Join(dir, "symlinked")
	os.Symlink(filepath.Join(dir, "nowhere"), symlinked+".lock")
	noCAs := t.TempDir()
	os.WriteFile(filepath.Join(noCAs, "key.pem"), nil, 0o600)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	// Each step runs three times; conns is how many connections it makes.
	steps := []struct {
		conns int
		run   func()
	}{
		{0, func() { ParseServer("tls:0:privateKey=" + Quote(otherKey) + ":certKey=" + Quote(certFile)) }},
		{0, func() { ParseServer("tls:0:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(dir)) }},
		{0, func() { ParseClient("tls:h:1:caCerts=" + Quote(keyFile)) }},
		{0, func() { Listen(t.Context(), "unix:"+Quote(sock)) }},               // lock held
		{0, func() { Listen(t.Context(), "unix:"+Quote(sock)+":lockfile=0") }}, // live socket (its probe is accepted by nobody)
		{0, func() { Listen(t.Context(), "unix:"+Quote(regular)) }},            // not a socket
		{0, func() { Listen(t.Context(), "unix:"+Quote(symlinked)) }},          // a symlink at the lock file
		{0, func() { ParseClient("tls:h:1:trustRoots=" + Quote(noCAs)) }},
		{0, func() { ParseServer("tls:0:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(regular)) }},
		{0, func() {
			(&Server{Type: "unix", Address: dir + "/" + strings.Repeat("x", 200), Lockfile: true}).Listen(t.Context())
		}},
		{0, func() { Listen(t.Context(), "tcp:"+portOf(silent)+":interface=127.0.0.1") }},  // in use
		{0, func() { (&Server{Type: "tls", Address: "127.0.0.1:0"}).Listen(t.Context()) }}, // nil TLS
		{0, func() { Dial(t.Context(), "tcp:127.0.0.1:"+refusedPort) }},
		{0, func() { Dial(cancelled, "tls:127.0.0.1:"+tlsPort+":insecure=yes") }},
		{1, func() { Dial(t.Context(), "tls:127.0.0.1:"+tlsPort+":hostname=example.com:caCerts="+Quote(certFile)) }},
		{1, func() { Dial(t.Context(), "tls:127.0.0.1:"+portOf(silent)+":insecure=yes:timeout=50ms") }},
		{0, func() { Dial(t.Context(), "unix:"+Quote(regular)) }},
	}
	steps[len(steps)-2].run() // warm up: the first dial may open the poller's descriptors
	<-closed
	for i, step := range steps {
		before := openFDs(t)
		for range 3 {
			step.run()
		}
		for range 3 * step.conns {
			<-closed
		}
		if after := openFDs(t); after > before {
			t.Errorf("step %d: %d descriptors open after, %d before", i, after, before)
		}
	}
}
