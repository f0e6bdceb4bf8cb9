package weft_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// byteCounter answers "<n> bytes\n" once its peer has ended its stream.
type byteCounter struct {
	t weft.Transport
	n int
}

func (b *byteCounter) ConnectionMade(t weft.Transport) { b.t = t }
func (b *byteCounter) DataReceived(d []byte)           { b.n += len(d) }
func (b *byteCounter) ReadConnectionLost() {
	fmt.Fprintf(b.t, "%d bytes\n", b.n)
	b.t.LoseConnection()
}
func (b *byteCounter) ConnectionLost(error) {}

// halfCloseEngines runs fn on the goroutine engine and the readiness engine.
func halfCloseEngines(t *testing.T, fn func(t *testing.T, opts weft.Options)) {
	t.Run("goroutine", func(t *testing.T) { fn(t, weft.Options{}) })
	t.Run("epoll", func(t *testing.T) {
		if testEngine == nil {
			t.Skip("no readiness engine on this platform")
		}
		fn(t, weft.Options{Engine: testEngine})
	})
}

// Twisted's client sends a request and ends its output with
// loseWriteConnection; a weft HalfCloseable server answers after that end of
// stream, and Twisted reads the answer and a clean close.
func TestHalfCloseTwistedClient(t *testing.T) {
	py := testenv.Twisted(t)
	halfCloseEngines(t, func(t *testing.T, opts weft.Options) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		served := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			served <- weft.Serve(c, &byteCounter{}, &opts)
		}()
		const size = 300000
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		out, err := exec.CommandContext(ctx, py, "testdata/halfclose/twisted_client.py", port, strconv.Itoa(size)).CombinedOutput()
		if err != nil {
			t.Fatalf("Twisted client: %v\n%s", err, out)
		}
		if want := fmt.Sprintf("%d bytes\nlost: ConnectionDone\n", size); string(out) != want {
			t.Errorf("Twisted client printed %q, want %q", out, want)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return")
		}
	})
}

// halfSender sends size bytes, ends its output with LoseWriteConnection, and
// collects the answer.
type halfSender struct {
	size int
	got  bytes.Buffer
	err  error
	lost chan error
}

func (h *halfSender) ConnectionMade(t weft.Transport) {
	t.Write(bytes.Repeat([]byte("y"), h.size))
	h.err = weft.LoseWriteConnection(t)
}
func (h *halfSender) DataReceived(d []byte)       { h.got.Write(d) }
func (h *halfSender) ConnectionLost(reason error) { h.lost <- reason }

// A weft client ends its output with LoseWriteConnection; Twisted's server,
// an IHalfCloseableProtocol, answers in readConnectionLost.
func TestHalfCloseTwistedServer(t *testing.T) {
	py := testenv.Twisted(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/halfclose/twisted_server.py")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatal("the Twisted server printed no port")
	}
	addr := "127.0.0.1:" + strings.TrimSpace(lines.Text())
	halfCloseEngines(t, func(t *testing.T, opts weft.Options) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		const size = 300000
		h := &halfSender{size: size, lost: make(chan error, 1)}
		go weft.Serve(c, h, &opts)
		select {
		case reason := <-h.lost:
			if reason != nil {
				t.Errorf("ConnectionLost(%v), want nil", reason)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("ConnectionLost not called within 20 s")
		}
		if h.err != nil {
			t.Errorf("LoseWriteConnection = %v", h.err)
		}
		if want := fmt.Sprintf("%d bytes\n", size); h.got.String() != want {
			t.Errorf("answer %q, want %q", h.got.String(), want)
		}
		if !lines.Scan() || lines.Text() != "lost: ConnectionDone" {
			t.Errorf("the Twisted server reported %q, want \"lost: ConnectionDone\"", lines.Text())
		}
	})
}
