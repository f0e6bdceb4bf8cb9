package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/endpoint"
)

// pipeServers makes "weft connect" dial net.Pipe connections for the rest
// of the test; the server end of each is sent on the channel returned.
func pipeServers(t *testing.T) <-chan net.Conn {
	t.Helper()
	conns := make(chan net.Conn, 4)
	old := connectDial
	connectDial = func(context.Context, *endpoint.Client) (net.Conn, error) {
		cli, srv := net.Pipe()
		conns <- srv
		return cli, nil
	}
	t.Cleanup(func() { connectDial = old })
	return conns
}

// stepReader is a stdin that the test feeds: each Read returns what is sent
// on ch (it must fit in the caller's buffer), and io.EOF once ch is closed.
type stepReader struct{ ch chan string }

func (r stepReader) Read(p []byte) (int, error) {
	s, ok := <-r.ch
	if !ok {
		return 0, io.EOF
	}
	return copy(p, s), nil
}

// TestConnectReconnectKeepsUnsentLine: the server drops the connection while
// the client is writing a stdin line to it (net.Pipe: the write has not been
// taken by the peer, so the line never reached it). "weft connect
// --reconnect" must send that line on the next connection, before the lines
// after it. Before, the session that took the line lost it.
func TestConnectReconnectKeepsUnsentLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conns := pipeServers(t)
		stdin := stepReader{make(chan string)}
		var stdout, stderr syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- connect(t.Context(), []string{"tcp:127.0.0.1:1", "--codec", "line", "--reconnect", "--wait", "1s"}, stdin, &stdout, &stderr)
		}()
		srv1 := <-conns
		stdin.ch <- "one\n"
		if l, err := bufio.NewReader(srv1).ReadString('\n'); l != "one\r\n" {
			t.Fatalf("first connection received %q (%v)", l, err)
		}
		stdin.ch <- "two\n"
		synctest.Wait() // "two" is taken and being written; the server does not read it
		srv1.Close()    // the drop
		srv2 := <-conns
		stdin.ch <- "three\n"
		close(stdin.ch)
		b, err := io.ReadAll(srv2) // until the client closes, --wait after stdin's end
		srv2.Close()
		if got, want := string(b), "two\r\nthree\r\n"; got != want || err != nil {
			t.Errorf("second connection received %q (%v), want %q", got, err, want)
		}
		if err := <-done; err != nil {
			t.Errorf("connect = %v; stderr:\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "reconnecting") {
			t.Errorf("the loss was not reported; stderr:\n%s", stderr.String())
		}
	})
}

// TestConnectRefusedLineAfterReplies: a stdin line that the codec refuses
// (over int8's 255 bytes) ends "weft connect" with an error, but only after
// the replies to the lines sent before it have been printed (here they come
// a second after the lines). Before, the refusal closed the connection at
// once and the replies were lost.
func TestConnectRefusedLineAfterReplies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conns := pipeServers(t)
		served := make(chan struct{})
		go func() {
			defer close(served)
			srv := <-conns
			defer srv.Close()
			r := bufio.NewReader(srv)
			var frames [][]byte
			for range 2 {
				n, err := r.ReadByte()
				if err != nil {
					return
				}
				f := make([]byte, 1+int(n))
				f[0] = n
				if _, err := io.ReadFull(r, f[1:]); err != nil {
					return
				}
				frames = append(frames, f)
			}
			time.Sleep(time.Second) // a slow server
			for _, f := range frames {
				if _, err := srv.Write(f); err != nil {
					return
				}
			}
			io.Copy(io.Discard, r)
		}()
		in := strings.NewReader("a\nb\n" + strings.Repeat("y", 300) + "\nafter\n")
		var stdout, stderr syncBuffer
		err := connect(t.Context(), []string{"tcp:127.0.0.1:1", "--codec", "int8", "--wait", "5s"}, in, &stdout, &stderr)
		<-served
		if !errors.Is(err, codec.ErrFrameTooLarge) {
			t.Errorf("connect = %v, want ErrFrameTooLarge", err)
		}
		if got := stdout.String(); got != "a\nb\n" {
			t.Errorf("printed %q before the error, want the replies %q", got, "a\nb\n")
		}
	})
}
