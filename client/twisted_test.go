package client

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
)

// twistedServer is a Twisted LineReceiver server that greets each client.
const twistedServer = `
import sys
from twisted.internet import reactor, protocol
from twisted.protocols.basic import LineReceiver
class Greet(LineReceiver):
    def connectionMade(self):
        self.sendLine(b"hello from twisted")
    def lineReceived(self, line):
        self.sendLine(line)
f = protocol.Factory.forProtocol(Greet)
reactor.listenTCP(int(sys.argv[1]), f, interface="127.0.0.1")
print("listening", flush=True)
reactor.run()
`

// startTwisted runs the Twisted server on port and waits until it listens.
// The port can be briefly taken by someone else's ephemeral connection while
// the server is down, so a failed bind is retried a few times.
func startTwisted(t *testing.T, py, port string) *exec.Cmd {
	t.Helper()
	var errs []string
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, py, "-c", twistedServer, port)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) == "listening" {
			t.Cleanup(func() { cancel(); cmd.Wait() })
			return cmd
		}
		cancel()
		cmd.Wait()
		errs = append(errs, fmt.Sprintf("%q %v: %s", line, err, stderr.String()))
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("twisted server did not start on port %s:\n%s", port, strings.Join(errs, "\n"))
	return nil
}

// TestReconnectingTwistedServer: a real Twisted server is killed and
// restarted on the same port; the client reconnects to the new process.
func TestReconnectingTwistedServer(t *testing.T) {
	py := testenv.Twisted(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	srv := startTwisted(t, py, port)

	var ev events
	r := &Reconnecting{
		Endpoint: "tcp:127.0.0.1:" + port,
		Factory:  &recFactory{ev: &ev},
		Backoff:  &Exponential{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, Multiplier: 2},
	}
	hook(r, &ev)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	waitFor(t, &ev, `data 1 "hello from twisted\r\n"`)
	r.Transport().Write([]byte("ping\r\n"))
	waitFor(t, &ev, `data 1 "ping\r\n"`)

	srv.Process.Kill() // the server dies
	waitFor(t, &ev, "connectionLost 1")
	waitFor(t, &ev, "failed 2")
	srv.Wait()
	startTwisted(t, py, port) // a new process on the same port
	// A connection may still complete against the dying process and be
	// reset: the new process's greeting is the second one, on whichever
	// connection number.
	waitCount(t, &ev, `"hello from twisted\r\n"`, 2)
	r.Stop()
	t.Logf("events: %s", &ev)
}
