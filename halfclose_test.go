package weft_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// halfPairs are the transports that can half-close: TCP and unix sockets on
// the goroutine engine, TCP on the readiness engine, and TLS over TCP. Each
// returns the server's end and the client's, whose CloseWrite ends the
// client's output.
var halfPairs = []struct {
	name string
	pair func(t testing.TB) (net.Conn, halfConn)
}{
	{"tcp", func(t testing.TB) (net.Conn, halfConn) { s, c := tcpPair(t); return s, c.(*net.TCPConn) }},
	{"epoll", func(t testing.TB) (net.Conn, halfConn) { s, c := enginePair(t); return s, c.(*net.TCPConn) }},
	{"unix", func(t testing.TB) (net.Conn, halfConn) { s, c := unixPair(t); return s, c.(*net.UnixConn) }},
	{"tls", tlsHalfPair},
}

// halfConn is a client end that can end its output.
type halfConn interface {
	net.Conn
	CloseWrite() error
}

// tlsHalfPair is a TCP pair with TLS on both ends.
func tlsHalfPair(t testing.TB) (net.Conn, halfConn) {
	s, c := tcpPair(t)
	cfg, pool := testCert(t)
	return tls.Server(s, cfg), tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
}

// halfProto is a Protocol with ReadConnectionLost; it records the order of
// its callbacks.
type halfProto struct {
	funcProto
	mu       sync.Mutex
	events   []string
	readLost func(weft.Transport)
	lostCh   chan error
}

func newHalfProto() *halfProto {
	p := &halfProto{lostCh: make(chan error, 1)}
	p.funcProto.lost = func(err error) {
		p.note("lost")
		p.lostCh <- err
	}
	return p
}

func (p *halfProto) note(e string) {
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
}

func (p *halfProto) DataReceived(d []byte) {
	p.note("data")
	p.funcProto.DataReceived(d)
}

func (p *halfProto) ReadConnectionLost() {
	p.note("readLost")
	if p.readLost != nil {
		p.readLost(p.tr)
	}
}

// waitLost returns ConnectionLost's reason, failing after 10 s.
func (p *halfProto) waitLost(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.lostCh:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("ConnectionLost not called within 10 s")
		return nil
	}
}

// after returns the events after the last "data".
func (p *halfProto) after() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := len(p.events)
	for i > 0 && p.events[i-1] != "data" {
		i--
	}
	return append([]string(nil), p.events[i:]...)
}

// A HalfCloseable server reads a request to the peer's end of stream, then
// answers (what wc does over a socket): ReadConnectionLost comes after the
// last DataReceived, writes still work, and the peer gets the whole answer.
func TestHalfCloseableAnswersAfterPeerEnd(t *testing.T) {
	const size = 1 << 20
	for _, tc := range halfPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			p := newHalfProto()
			n := 0
			p.data = func(_ weft.Transport, d []byte) { n += len(d) }
			answer := bytes.Repeat([]byte("x"), 4<<20) // more than the socket buffers hold
			p.readLost = func(tr weft.Transport) {
				fmt.Fprintf(tr, "%d\n", n)
				tr.Write(answer)
				tr.LoseConnection()
			}
			done := serve(s, p, &weft.Options{MaxWriteBuffer: 8 << 20})
			go func() {
				c.Write(bytes.Repeat([]byte("r"), size))
				c.CloseWrite()
			}()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			want := append([]byte(strconv.Itoa(size)+"\n"), answer...)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("read %d bytes (want %d, equal %v), then %v; want all, then a clean end",
					len(got), len(want), bytes.Equal(got, want), err)
			}
			if err := p.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			if got := p.after(); fmt.Sprint(got) != "[readLost lost]" {
				t.Errorf("callbacks after the last DataReceived: %v, want [readLost lost]", got)
			}
			waitServe(t, done)
		})
	}
}

// LoseWriteConnection sends what was written, then the end of stream, and
// reading goes on: the peer reads the output and its end, then sends more,
// which is delivered; the peer's own end then closes the connection.
func TestLoseWriteConnection(t *testing.T) {
	for _, tc := range halfPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			const size = 4 << 20 // more than the socket buffers hold: sent before the FIN
			hello := bytes.Repeat([]byte("h"), size)
			writeErr := make(chan error, 1)
			p := newHalfProto()
			p.made = func(tr weft.Transport) {
				tr.Write(hello)
				if err := weft.LoseWriteConnection(tr); err != nil {
					t.Errorf("LoseWriteConnection = %v", err)
				}
				_, err := tr.Write([]byte("late"))
				writeErr <- err
				if err := weft.LoseWriteConnection(tr); !errors.Is(err, weft.ErrClosed) {
					t.Errorf("second LoseWriteConnection = %v, want ErrClosed", err)
				}
			}
			var got bytes.Buffer
			p.data = func(_ weft.Transport, d []byte) { got.Write(d) }
			done := serve(s, p, &weft.Options{MaxWriteBuffer: 8 << 20})
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			out, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(out, hello) {
				t.Fatalf("read %d of %d bytes, then %v; want all, then a clean end", len(out), len(hello), err)
			}
			if err := <-writeErr; !errors.Is(err, weft.ErrClosed) {
				t.Errorf("Write after LoseWriteConnection = %v, want ErrClosed", err)
			}
			if _, err := c.Write([]byte("still listening?")); err != nil {
				t.Fatal(err)
			}
			c.CloseWrite()
			if err := p.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			if got.String() != "still listening?" {
				t.Errorf("delivered %q after the half-close, want %q", got.String(), "still listening?")
			}
			for _, e := range p.after() {
				if e == "readLost" {
					t.Error("ReadConnectionLost called on a connection whose output had ended")
				}
			}
			waitServe(t, done)
		})
	}
}

// After the peer's end of stream, LoseWriteConnection ends the connection:
// both directions are done.
func TestLoseWriteConnectionAfterPeerEnd(t *testing.T) {
	for _, tc := range halfPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			p := newHalfProto()
			p.readLost = func(tr weft.Transport) {
				tr.Write([]byte("bye"))
				if err := weft.LoseWriteConnection(tr); err != nil {
					t.Errorf("LoseWriteConnection = %v", err)
				}
			}
			done := serve(s, p, nil)
			c.Write([]byte("hi"))
			c.CloseWrite()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			out, err := io.ReadAll(c)
			if err != nil || string(out) != "bye" {
				t.Errorf("read %q, then %v; want \"bye\", then a clean end", out, err)
			}
			if err := p.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			waitServe(t, done)
		})
	}
}

// On a connection that cannot half-close (a net.Pipe), LoseWriteConnection
// after the peer's end of stream is LoseConnection too: the connection ends
// (cleanly: nothing was left to send, and a pipe's peer that closed takes
// no more). It returned ErrNotSupported and changed nothing,
// so a Protocol that ended its connection that way from ReadConnectionLost
// (as over TCP) left it open for ever (found by TestPropertyContract, pipe,
// seed 948650001300).
func TestLoseWriteConnectionAfterPeerEndOnPipe(t *testing.T) {
	s, c := pipePair(t)
	p := newHalfProto()
	res := make(chan error, 1)
	p.readLost = func(tr weft.Transport) { res <- weft.LoseWriteConnection(tr) }
	done := serve(s, p, nil)
	go func() {
		c.Write([]byte("hi"))
		c.Close() // a pipe's peer can only close: the server reads EOF
	}()
	select {
	case err := <-res:
		if err != nil {
			t.Errorf("LoseWriteConnection after the peer's end = %v, want nil (LoseConnection)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadConnectionLost not called within 10 s")
	}
	if err := p.waitLost(t); err != nil {
		t.Errorf("ConnectionLost(%v), want nil", err)
	}
	waitServe(t, done)
}

// A half-closed connection whose Protocol ends it from another goroutine
// later (a reply computed elsewhere, posted back) still sends it.
func TestHalfCloseableReplyFromOutside(t *testing.T) {
	for _, tc := range halfPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			p := newHalfProto()
			p.readLost = func(tr weft.Transport) {
				go func() {
					time.Sleep(50 * time.Millisecond) // after the reader would have gone
					tr.Write([]byte("late reply"))
					tr.LoseConnection()
				}()
			}
			done := serve(s, p, nil)
			c.Write([]byte("q"))
			c.CloseWrite()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			out, err := io.ReadAll(c)
			if err != nil || string(out) != "late reply" {
				t.Errorf("read %q, then %v; want \"late reply\", then a clean end", out, err)
			}
			if err := p.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			waitServe(t, done)
		})
	}
}

// A connection that cannot half-close (a net.Pipe) refuses
// LoseWriteConnection with ErrNotSupported and is otherwise unchanged;
// StartTLS is refused after a half-close either way (on both engines).
func TestLoseWriteConnectionNotSupported(t *testing.T) {
	s, c := pipePair(t)
	p := newHalfProto()
	res := make(chan error, 1)
	p.made = func(tr weft.Transport) {
		res <- weft.LoseWriteConnection(tr)
		tr.Write([]byte("ok"))
		tr.LoseConnection()
	}
	done := serve(s, p, nil)
	if err := <-res; !errors.Is(err, weft.ErrNotSupported) {
		t.Errorf("LoseWriteConnection on a pipe = %v, want ErrNotSupported", err)
	}
	out, err := io.ReadAll(c)
	if err != nil || string(out) != "ok" {
		t.Errorf("read %q, then %v; want \"ok\": the connection is unchanged", out, err)
	}
	p.waitLost(t)
	waitServe(t, done)

	for _, tr := range tcpAndEngine {
		t.Run(tr.name, func(t *testing.T) {
			s2, c2 := tr.pair(t)
			p2 := newHalfProto()
			res := make(chan error, 2)
			p2.made = func(tr weft.Transport) {
				res <- weft.LoseWriteConnection(tr)
				res <- tr.StartTLS(&tls.Config{})
			}
			done := serve(s2, p2, nil)
			if err := <-res; err != nil {
				t.Errorf("LoseWriteConnection = %v", err)
			}
			if err := <-res; !errors.Is(err, weft.ErrClosed) {
				t.Errorf("StartTLS after LoseWriteConnection = %v, want ErrClosed", err)
			}
			// No switch: the half-close reaches the peer in clear.
			c2.SetDeadline(time.Now().Add(10 * time.Second))
			if got, err := io.ReadAll(c2); len(got) != 0 || err != nil {
				t.Errorf("peer read %q, %v; want the end of stream", got, err)
			}
			c2.Close()
			if err := p2.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			waitServe(t, done)
		})
	}
}

// A Transport that is not a HalfCloser: the LoseWriteConnection function
// reports ErrNotSupported.
func TestLoseWriteConnectionFunctionNotHalfCloser(t *testing.T) {
	var tr struct{ weft.Transport }
	if err := weft.LoseWriteConnection(tr); !errors.Is(err, weft.ErrNotSupported) {
		t.Errorf("LoseWriteConnection = %v, want ErrNotSupported", err)
	}
}

// LoseWriteConnection from a callback or from another goroutine, with
// output pending or none: the peer reads all of it, then the end of its
// stream, and the connection still reads.
func TestLoseWriteConnectionWhenAndWhere(t *testing.T) {
	for _, tc := range halfPairs {
		for _, outside := range []bool{false, true} {
			for _, size := range []int{0, 100, 4 << 20} {
				name := fmt.Sprintf("%s/outside=%v/%d", tc.name, outside, size)
				t.Run(name, func(t *testing.T) {
					s, c := tc.pair(t)
					out := bytes.Repeat([]byte("o"), size)
					p := newHalfProto()
					res := make(chan error, 1)
					half := func(tr weft.Transport) {
						tr.Write(out)
						res <- weft.LoseWriteConnection(tr)
					}
					var got bytes.Buffer
					p.made = func(tr weft.Transport) {
						if outside {
							go half(tr)
						} else {
							half(tr)
						}
					}
					p.data = func(_ weft.Transport, d []byte) { got.Write(d) }
					done := serve(s, p, &weft.Options{MaxWriteBuffer: 8 << 20})
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					read, err := io.ReadAll(c)
					if err != nil || !bytes.Equal(read, out) {
						t.Errorf("read %d of %d bytes, then %v; want all, then a clean end", len(read), size, err)
					}
					if err := <-res; err != nil {
						t.Errorf("LoseWriteConnection = %v", err)
					}
					c.Write([]byte("after"))
					c.CloseWrite()
					if err := p.waitLost(t); err != nil {
						t.Errorf("ConnectionLost(%v), want nil", err)
					}
					if got.String() != "after" {
						t.Errorf("delivered %q, want \"after\"", got.String())
					}
					waitServe(t, done)
				})
			}
		}
	}
}

// An Abort after LoseWriteConnection, with output still pending, ends the
// connection with ErrAborted; a half-open connection is still bound by
// IdleTimeout.
func TestHalfOpenEnds(t *testing.T) {
	for _, tc := range halfPairs {
		t.Run(tc.name+"/abort", func(t *testing.T) {
			s, c := tc.pair(t)
			p := newHalfProto()
			p.made = func(tr weft.Transport) {
				tr.Write(make([]byte, 8<<20)) // the client reads none of it
				weft.LoseWriteConnection(tr)
				tr.Abort()
			}
			done := serve(s, p, &weft.Options{MaxWriteBuffer: 16 << 20})
			if err := p.waitLost(t); !errors.Is(err, weft.ErrAborted) {
				t.Errorf("ConnectionLost(%v), want ErrAborted", err)
			}
			c.Close()
			waitServe(t, done)
		})
		t.Run(tc.name+"/idle", func(t *testing.T) {
			s, c := tc.pair(t)
			p := newHalfProto() // answers nothing after the peer's end
			done := serve(s, p, &weft.Options{IdleTimeout: 100 * time.Millisecond})
			c.Write([]byte("x")) // under TLS, the handshake first
			c.CloseWrite()
			if err := p.waitLost(t); !errors.Is(err, weft.ErrIdleTimeout) {
				t.Errorf("ConnectionLost(%v), want ErrIdleTimeout", err)
			}
			c.Close()
			waitServe(t, done)
		})
	}
}
