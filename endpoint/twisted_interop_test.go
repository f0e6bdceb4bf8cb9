package endpoint

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
)

// twistedServe listens with Twisted's serverFromString(argv[1]), prints
// "listening PORT" (0 for a unix socket) and greets each client with "hello".
const twistedServe = `
import sys
from twisted.internet import reactor, protocol, endpoints
class Greet(protocol.Protocol):
    def connectionMade(self):
        self.transport.write(b"hello")
        self.transport.loseConnection()
ep = endpoints.serverFromString(reactor, sys.argv[1])
def ok(port):
    print("listening", getattr(port.getHost(), "port", 0), flush=True)
def fail(f):
    print("error", f.getErrorMessage(), flush=True)
    reactor.stop()
ep.listen(protocol.Factory.forProtocol(Greet)).addCallbacks(ok, fail)
reactor.run()
`

// twistedConnect connects with Twisted's clientFromString(argv[1]) and prints
// what the server sends until it closes.
const twistedConnect = `
import sys
from twisted.internet import reactor, protocol, endpoints
class Read(protocol.Protocol):
    def dataReceived(self, data):
        sys.stdout.write(data.decode())
    def connectionLost(self, reason):
        sys.stdout.flush()
        reactor.stop()
def fail(f):
    print("error", f.getErrorMessage(), flush=True)
    reactor.stop()
ep = endpoints.clientFromString(reactor, sys.argv[1])
endpoints.connectProtocol(ep, Read()).addErrback(fail)
reactor.run()
`

// TestTwistedServerWeftClient: the same kind of description given to
// Twisted's serverFromString and to weft's client. Twisted listens on port 0
// and says which port it got.
func TestTwistedServerWeftClient(t *testing.T) {
	py := testenv.Twisted(t)
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	sock := filepath.Join(dir, "tw.sock")
	tests := []struct {
		server string
		client func(port string) string
	}{
		{"tcp:0:interface=127.0.0.1", func(port string) string { return "tcp:127.0.0.1:" + port }},
		{"ssl:0:interface=127.0.0.1:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(certFile),
			func(port string) string { return "tls:127.0.0.1:" + port + ":caCerts=" + Quote(certFile) }},
		{"unix:" + Quote(sock) + ":lockfile=0", func(string) string { return "unix:" + Quote(sock) }},
	}
	for _, tt := range tests {
		t.Run(strings.SplitN(tt.server, ":", 2)[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, py, "-c", twistedServe, tt.server)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer cancel()
			line, err := bufio.NewReader(out).ReadString('\n')
			port, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "listening ")
			if err != nil || !ok {
				t.Fatalf("twisted serverFromString(%q): %q %v", tt.server, line, err)
			}
			client := tt.client(port)
			c, err := Dial(ctx, client)
			if err != nil {
				t.Fatalf("Dial(%q): %v", client, err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(c)
			if string(b) != "hello" {
				t.Errorf("read %q, %v; want hello", b, err)
			}
		})
	}
}

// TestWeftServerTwistedClient: weft listens, Twisted's clientFromString
// connects.
func TestWeftServerTwistedClient(t *testing.T) {
	py := testenv.Twisted(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "weft.sock")
	certFile, keyFile, _ := writeCert(t, dir)
	roots := t.TempDir() // trustRoots: a directory holding only the CA certificate
	if err := os.Link(certFile, filepath.Join(roots, "ca.pem")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		server string
		client func(net.Listener) string
	}{
		{"tcp:0:interface=127.0.0.1", func(ln net.Listener) string {
			return fmt.Sprintf("tcp:127.0.0.1:%d:timeout=10", ln.Addr().(*net.TCPAddr).Port)
		}},
		{"unix:" + Quote(sock) + ":mode=600", func(net.Listener) string { return "unix:path=" + Quote(sock) }},
		{"tls:0:interface=127.0.0.1:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(certFile), func(ln net.Listener) string {
			return fmt.Sprintf("tls:localhost:%d:trustRoots=%s", ln.Addr().(*net.TCPAddr).Port, Quote(roots))
		}},
	}
	for _, tt := range tests {
		t.Run(strings.SplitN(tt.server, ":", 2)[0], func(t *testing.T) {
			ln, _, err := Listen(t.Context(), tt.server)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				if c, err := ln.Accept(); err == nil {
					c.Write([]byte("hello"))
					c.Close()
				}
			}()
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, py, "-c", twistedConnect, tt.client(ln)).CombinedOutput()
			if string(out) != "hello" {
				t.Errorf("Twisted clientFromString(%q) read %q, %v; want hello", tt.client(ln), out, err)
			}
		})
	}
}
