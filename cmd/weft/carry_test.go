package main

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/weftkit/weft/endpoint"
)

var errReset = errors.New("connection reset by peer (test)")

// fakeConn is the client end of a net.Pipe whose reads end with errReset
// instead of io.EOF (a reset, which aborts the connection), and whose
// Writes may be shaped by write.
type fakeConn struct {
	net.Conn
	write  func(c net.Conn, p []byte) (int, error)
	closed chan struct{} // if not nil, closed by the first Close
	once   sync.Once
}

func (c *fakeConn) Close() error {
	if c.closed != nil {
		c.once.Do(func() { close(c.closed) })
	}
	return c.Conn.Close()
}

func (c *fakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		err = errReset
	}
	return n, err
}

func (c *fakeConn) Write(p []byte) (int, error) {
	if c.write != nil {
		return c.write(c.Conn, p)
	}
	return c.Conn.Write(p)
}

// fakeServers makes "weft connect" dial net.Pipe connections whose client
// ends are shaped by shape (given the number of the connection, from 1); the
// server end of each is sent on the channel returned.
func fakeServers(t *testing.T, shape func(n int, c *fakeConn)) <-chan net.Conn {
	t.Helper()
	conns := make(chan net.Conn, 4)
	old := connectDial
	var mu sync.Mutex
	n := 0
	connectDial = func(context.Context, *endpoint.Client) (net.Conn, error) {
		cli, srv := net.Pipe()
		fc := &fakeConn{Conn: cli}
		mu.Lock()
		n++
		shape(n, fc)
		mu.Unlock()
		conns <- srv
		return fc, nil
	}
	t.Cleanup(func() { connectDial = old })
	return conns
}

// TestConnectLateWriteCountNotLost: the Write of a lost connection's
// flusher puts its bytes into the socket but returns only when the socket is
// closed. The runtime's Serve waits for it, so its count lands in the
// session that wrote the line, which is therefore not sent again, and the
// next line goes out on the next connection. (Before Serve waited, the count
// could land after the next session had begun; sessions count their own
// bytes, so it could not make the next session's line look sent either.)
func TestConnectLateWriteCountNotLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conns := fakeServers(t, func(n int, c *fakeConn) {
			if n == 1 {
				c.closed = make(chan struct{})
				c.write = func(nc net.Conn, p []byte) (int, error) {
					n, err := nc.Write(p)
					<-c.closed // the flusher returns only at the close
					return n, err
				}
			}
		})
		stdin := stepReader{make(chan string)}
		var stdout, stderr syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- connect(t.Context(), []string{"tcp:127.0.0.1:1", "--codec", "line", "--reconnect", "--wait", "1s"}, stdin, &stdout, &stderr)
		}()
		const a = "aaaaaaaaaa\r\n"
		srv1 := <-conns
		stdin.ch <- "aaaaaaaaaa\n"
		buf := make([]byte, len(a))
		if _, err := io.ReadFull(srv1, buf); err != nil || string(buf) != a {
			t.Fatalf("first connection received %q (%v)", buf, err)
		}
		srv1.Close() // the client's read fails: the connection is aborted
		srv2 := <-conns
		stdin.ch <- "b\n"
		close(stdin.ch)
		b, err := io.ReadAll(srv2)
		srv2.Close()
		if got, want := string(b), "b\r\n"; got != want || err != nil {
			t.Errorf("second connection received %q (%v), want %q (the first line reached its socket)", got, err, want)
		}
		<-done
	})
}

// TestConnectPartialWriteErrorNoResend: a Write of the flusher that put some
// bytes into the socket and then failed (a peer that resets while a large
// buffer goes out). The lines whose bytes all went out must not be sent
// again on the next connection; only the one cut short is.
//
// It needs the runtime to count the bytes of a Write that returned an error
// with them (io.go, flushLoop; tls.go's cleartext Write); without that,
// Counters.BytesOut misses them and "hello world" is sent twice.
func TestConnectPartialWriteErrorNoResend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = len("a\r\n") + len("hello world\r\n") + 1
		conns := fakeServers(t, func(n int, c *fakeConn) {
			if n == 1 {
				total := 0
				c.write = func(c net.Conn, p []byte) (int, error) {
					if total+len(p) <= limit {
						n, err := c.Write(p)
						total += n
						return n, err
					}
					n, _ := c.Write(p[:limit-total])
					total += n
					return n, errReset
				}
			}
		})
		stdin := stepReader{make(chan string)}
		var stdout, stderr syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- connect(t.Context(), []string{"tcp:127.0.0.1:1", "--codec", "line", "--reconnect", "--wait", "1s"}, stdin, &stdout, &stderr)
		}()
		srv1 := <-conns
		stdin.ch <- "a\n"
		synctest.Wait() // "a" is being written; the server does not read yet
		stdin.ch <- "hello world\n"
		stdin.ch <- "x\n"
		synctest.Wait() // both queued behind "a", in one buffer
		buf := make([]byte, limit)
		if _, err := io.ReadFull(srv1, buf); err != nil {
			t.Fatalf("first connection: %v", err)
		}
		srv1.Close()
		srv2 := <-conns
		close(stdin.ch)
		b, err := io.ReadAll(srv2)
		srv2.Close()
		if got, want := string(b), "x\r\n"; got != want || err != nil {
			t.Errorf("second connection received %q (%v), want %q", got, err, want)
		}
		<-done
	})
}
