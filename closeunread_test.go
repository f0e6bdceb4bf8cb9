package weft_test

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// A graceful LoseConnection whose peer sent bytes the Protocol never read
// still delivers all of its output, then a clean end of stream. Closing a
// TCP socket with unread input makes the kernel send a reset and discard
// what it had not yet sent (RFC 1122 4.2.2.13), so the runtime half-closes,
// drains what the peer still sends, and closes once the peer has closed
// too (or after the close's linger).
func TestLoseConnectionUnreadInputNoReset(t *testing.T) {
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue // no kernel socket
		}
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			checkUnreadInputClose(t, s, c)
		})
	}
}

// netConnWrapper wraps a socket and exposes it with NetConn, as the
// server's PROXY replay does, and its SyscallConn (so the runtime reads it
// without a blocked Read that would take the unread bytes).
type netConnWrapper struct{ *net.TCPConn }

func (w netConnWrapper) NetConn() net.Conn { return w.TCPConn }

// The lingering close reaches the socket under a wrapper without TLS.
func TestLoseConnectionUnreadInputUnderWrapper(t *testing.T) {
	s, c := tcpPair(t)
	checkUnreadInputClose(t, netConnWrapper{s.(*net.TCPConn)}, c)
}

// checkUnreadInputClose serves s with a Protocol that answers "go" with an
// 8 MiB reply and LoseConnection; the client c then sends 256 KiB that the
// server never reads, more than the close's first look at the socket takes
// (16 KiB), and reads: it must get the whole reply, then the end of stream.
func checkUnreadInputClose(t *testing.T, s, c net.Conn) {
	t.Helper()
	const size = 8 << 20
	reply := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	r := newRecorder(t)
	r.onData = func(tr weft.Transport, d []byte) {
		if bytes.HasPrefix(d, []byte("go")) {
			tr.Write(reply)
			tr.LoseConnection()
		}
	}
	done := serve(s, r, &weft.Options{MaxWriteBuffer: 2 * size})
	if _, err := c.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1)
	if _, err := io.ReadFull(c, first); err != nil {
		t.Fatal(err)
	}
	// The server has called LoseConnection and reads no more: these bytes
	// stay unread while most of the reply waits to be sent.
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		c.Write(bytes.Repeat([]byte("m"), 256<<10))
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(c)
	<-sent
	got := append(first, rest...)
	if err != nil || !bytes.Equal(got, reply) {
		t.Errorf("read %d of %d bytes (equal: %v), then %v; want all, then a clean end of stream",
			len(got), len(reply), bytes.Equal(got, reply[:min(len(got), len(reply))]), err)
	}
	c.Close() // the peer's end ends the server's linger
	if reason := r.waitLost(t); reason != nil {
		t.Errorf("ConnectionLost(%v), want nil", reason)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// A graceful LoseConnection with nothing unread, but with output the kernel
// has not yet sent, still delivers all of it when the peer sends more after
// the close: input reaching a closed TCP socket makes the kernel reset the
// connection and discard the output it still holds, so the close lingers
// (half-closed, discarding input) until the peer ends its side or has
// acknowledged all of the output. Before,
// the socket was closed at once, and the peer read 128,000 of 1 MiB, then
// "connection reset by peer". Linux only: elsewhere the runtime cannot see
// the kernel's send queue.
func TestLoseConnectionLateInputNoReset(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the send queue is read with SIOCOUTQ, on Linux only")
	}
	longLinger(t)
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue // no kernel socket
		}
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			checkLateInputClose(t, s, c, func(p weft.Protocol, o *weft.Options) <-chan error { return serve(s, p, o) })
		})
	}
}

// checkLateInputClose serves the server end s, through start (which returns
// what Serve returns), with a Protocol that writes a 1 MiB reply and calls
// LoseConnection at once. Once the reply is all in the kernel (mostly
// unsent: the client's window is small), and a close that does not linger
// has had the time to happen, the client c sends a line, then reads: it
// must get the whole reply and a clean end of stream. ConnectionLost(nil)
// must follow within 10 s without the client's close (the linger ends on
// the acknowledgement; the tests make the bound a minute), and start's
// result be nil.
func checkLateInputClose(t *testing.T, s, c net.Conn, start func(weft.Protocol, *weft.Options) <-chan error) {
	t.Helper()
	const size = 1 << 20
	if err := tcpUnder(t, s).SetWriteBuffer(4 * size); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	reply := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	var counters weft.Counters
	r := newRecorder(t)
	r.onMade = func(tr weft.Transport) {
		tr.Write(reply)
		tr.LoseConnection()
	}
	done := start(r, &weft.Options{MaxWriteBuffer: 2 * size, Counters: &counters})
	for deadline := time.Now().Add(10 * time.Second); counters.BytesOut.Load() != size; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bytes handed to the kernel after 10 s", counters.BytesOut.Load(), size)
		}
	}
	// Give a close that does not linger the time to happen, so that the
	// input below comes after it.
	select {
	case <-r.lostCh:
	case <-time.After(time.Second):
	}
	if _, err := c.Write([]byte("late input\n")); err != nil {
		t.Fatal(err)
	}
	got, err := readAllWithin(t, c)
	if err != nil || !bytes.Equal(got, reply) {
		t.Fatalf("read %d of %d bytes, then %v; want all, then a clean end of stream", len(got), len(reply), err)
	}
	if reason := r.waitLost(t); reason != nil {
		t.Errorf("ConnectionLost(%v), want nil", reason)
	}
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve: %v, want nil", err)
	}
}
