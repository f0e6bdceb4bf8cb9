package weft_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// tlsThenClose, in its first DataReceived, answers in clear text, asks for
// TLS and closes gracefully in the same callback (a server that accepts a
// STARTTLS and then learns it must go, or a posted Shutdown that comes
// before the switch): nothing is queued for TLS.
type tlsThenClose struct {
	cfg  *tls.Config
	t    weft.Transport
	lost chan error
}

func (p *tlsThenClose) ConnectionMade(t weft.Transport) { p.t = t }
func (p *tlsThenClose) DataReceived([]byte) {
	p.t.Write([]byte("220 go ahead\r\n"))
	if err := p.t.StartTLS(p.cfg); err != nil {
		panic(err)
	}
	p.t.LoseConnection()
}
func (p *tlsThenClose) ConnectionLost(err error) { p.lost <- err }

// TestCloseAfterStartTLSClears: a LoseConnection made while a switch to TLS
// waits, with only clear-text output queued, closes cleanly once that
// output is sent and the switch made: it neither hangs (no CloseTimeout)
// nor ends in ErrCloseTimeout. net.Pipe in a synctest bubble.
func TestCloseAfterStartTLSClears(t *testing.T) {
	for _, to := range []time.Duration{0, 10 * time.Second} {
		t.Run("CloseTimeout="+to.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg, _ := testCert(t)
				s, peer := net.Pipe()
				defer peer.Close()
				p := &tlsThenClose{cfg: cfg, lost: make(chan error, 1)}
				c := weft.NewConn(s, p, &weft.Options{CloseTimeout: to})
				done := make(chan error, 1)
				go func() { done <- c.Serve() }()
				start := time.Now()
				if _, err := peer.Write([]byte("STARTTLS\r\n")); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(peer)
				if string(got) != "220 go ahead\r\n" || err != nil {
					t.Errorf("peer read %q, %v; want the clear-text reply, then EOF", got, err)
				}
				synctest.Wait()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("Serve = %v after %v, want nil (a clean close)", err, time.Since(start))
					}
				default:
					t.Fatal("Serve still runs after the clear text was sent and the peer hung up: the close waits for nothing")
				}
			})
		})
	}
}

// TestCloseAfterStartTLSClearsEngines is TestCloseAfterStartTLSClears in
// real time, over TCP on both engines (the readiness engine hands the
// connection over for the switch, with the LoseConnection pending): the
// peer gets the clear-text reply, then the end of stream, and Serve
// returns nil well before a CloseTimeout of 30 s could end it.
func TestCloseAfterStartTLSClearsEngines(t *testing.T) {
	for _, tr := range tcpAndEngine {
		for _, to := range []time.Duration{0, 30 * time.Second} {
			t.Run(tr.name+"/CloseTimeout="+to.String(), func(t *testing.T) {
				cfg, _ := testCert(t)
				s, peer := tr.pair(t)
				p := &tlsThenClose{cfg: cfg, lost: make(chan error, 1)}
				done := serve(s, p, &weft.Options{CloseTimeout: to})
				peer.SetDeadline(time.Now().Add(10 * time.Second))
				start := time.Now()
				if _, err := peer.Write([]byte("STARTTLS\r\n")); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(peer)
				if string(got) != "220 go ahead\r\n" || err != nil {
					t.Errorf("peer read %q, %v; want the clear-text reply, then EOF", got, err)
				}
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("Serve = %v after %v, want nil (a clean close)", err, time.Since(start))
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Serve still runs 10 s after the clear text was sent: the close waits for nothing")
				}
				select {
				case err := <-p.lost:
					if err != nil {
						t.Errorf("ConnectionLost(%v), want nil", err)
					}
				default:
					t.Error("Serve returned before ConnectionLost")
				}
			})
		}
	}
}

// wrappedConn hides the type of the net.Conn it wraps (a user's wrapper
// for metrics, say), TLS included.
type wrappedConn struct{ net.Conn }

// TestFlusherWrappedTLSNoSpin: on a net.Conn the runtime does not know
// (here a wrapper around a *tls.Conn), the flusher's write deadline
// (IdleTimeout or CloseTimeout) must not leave it spinning on a Write
// that fails at once for ever after: a TLS Write cut by a deadline breaks
// the connection, and every later Write returns the same timeout error.
// The peer reads nothing for a while, then everything: it must get the
// whole reply intact, or the connection must end with an error: never a
// flusher busy-looping on a broken stream (before the fix: "tls: bad
// record MAC" at the peer, the flusher spinning, which in this bubble
// stops fake time: the test hung).
func TestFlusherWrappedTLSNoSpin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, pool := testCert(t)
		s, c := net.Pipe()
		srv := wrappedConn{tls.Server(s, cfg)}
		cli := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		defer cli.Close()
		reply := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
		cnt := &weft.Counters{}
		p := &closerProto{reply: reply}
		conn := weft.NewConn(srv, p, &weft.Options{CloseTimeout: 10 * time.Second, Counters: cnt})
		done := make(chan error, 1)
		go func() { done <- conn.Serve() }()
		if err := cli.Handshake(); err != nil {
			t.Fatal(err)
		}
		// Read a little, then nothing for 6 s (past the 5 s slice).
		first := make([]byte, 1000)
		if _, err := io.ReadFull(cli, first); err != nil {
			t.Fatal(err)
		}
		time.Sleep(6 * time.Second)
		rest, rerr := io.ReadAll(cli)
		got := append(first, rest...)
		err := <-done
		if err != nil || rerr != nil || !bytes.Equal(got, reply) {
			t.Errorf("Serve = %v; the peer got %d of %d bytes, intact %v, read error %v; want all of it and a clean close",
				err, len(got), len(reply), bytes.Equal(got, reply), rerr)
		}
		if out := cnt.BytesOut.Load(); out != int64(len(reply)) {
			t.Errorf("Counters.BytesOut = %d, want %d", out, len(reply))
		}
	})
}

// closerProto writes reply in ConnectionMade and closes gracefully.
type closerProto struct{ reply []byte }

func (p *closerProto) ConnectionMade(t weft.Transport) {
	t.Write(p.reply)
	t.LoseConnection()
}
func (p *closerProto) DataReceived([]byte)  {}
func (p *closerProto) ConnectionLost(error) {}

// TestCloseTimeoutTLSReset: a TLS connection (a *tls.Conn handed to
// NewConn, as the server does) whose peer reads nothing during a graceful
// close is aborted by CloseTimeout with a reset, as ErrCloseTimeout says,
// not with a FIN after the unsent output (which leaves the kernel sending
// it to a peer that does not read).
func TestCloseTimeoutTLSReset(t *testing.T) {
	cfg, pool := testCert(t)
	s, c := tcpPair(t)
	if err := s.(*net.TCPConn).SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	cli := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	defer cli.Close()
	p := &closerProto{reply: make([]byte, 4<<20)}
	conn := weft.NewConn(tls.Server(s, cfg), p, &weft.Options{CloseTimeout: 300 * time.Millisecond})
	done := make(chan error, 1)
	conn.Start(func(err error) { done <- err })
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, weft.ErrCloseTimeout) {
			t.Fatalf("reason %v, want ErrCloseTimeout", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a TLS peer that reads nothing still holds the connection 20 s after LoseConnection")
	}
	cli.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, cli)
	if err == nil || !strings.Contains(err.Error(), "reset") {
		t.Errorf("peer read %d bytes, %v; want a reset", n, err)
	}
}

// TestFlusherDeadlineCutsKeepEveryByte: on the goroutine engine the
// flusher's Writes are cut by a deadline (half of CloseTimeout) while the
// peer pauses, and resumed with the rest: the peer, taking bytes every
// quarter of CloseTimeout (progress is seen when a cut Write returns, so a
// peer is safe while it pauses less than half of CloseTimeout; a pause of
// three quarters, as first written, left no slack and failed under a loaded
// CI run), gets every byte of a large patterned reply, in order, none lost
// or repeated, then a clean close; over TLS too (Writes of 16 KiB, no
// deadline). Loopback, real time, small socket buffers so that the Writes
// block: every Write of the 3 MiB reply is cut.
func TestFlusherDeadlineCutsKeepEveryByte(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		name := "tcp"
		if withTLS {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			const timeout = time.Second
			s, c := tcpPair(t)
			if err := s.(*net.TCPConn).SetWriteBuffer(32 << 10); err != nil {
				t.Fatal(err)
			}
			if err := c.(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
				t.Fatal(err)
			}
			var peer net.Conn = c
			srv := s
			if withTLS {
				cfg, pool := testCert(t)
				srv = tls.Server(s, cfg)
				peer = tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			}
			reply := make([]byte, 3<<20)
			for i := range reply {
				reply[i] = byte(i*7 + i>>11) // not periodic in any Write size
			}
			cnt := &weft.Counters{}
			conn := weft.NewConn(srv, &closerProto{reply: reply}, &weft.Options{CloseTimeout: timeout, Counters: cnt})
			done := make(chan error, 1)
			conn.Start(func(err error) { done <- err })
			peer.SetReadDeadline(time.Now().Add(30 * time.Second))
			got := make([]byte, 0, len(reply))
			b := make([]byte, 512<<10)
			for {
				time.Sleep(timeout / 4)
				n, err := io.ReadAtLeast(peer, b, len(b))
				got = append(got, b[:n]...)
				if err != nil {
					if err != io.EOF && err != io.ErrUnexpectedEOF {
						t.Errorf("peer read error %v after %d bytes", err, len(got))
					}
					break
				}
			}
			if !bytes.Equal(got, reply) {
				i := 0
				for i < len(got) && i < len(reply) && got[i] == reply[i] {
					i++
				}
				t.Errorf("peer got %d bytes, want %d; first difference at %d", len(got), len(reply), i)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("reason %v, want nil", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the connection did not end after the peer read everything")
			}
			if out := cnt.BytesOut.Load(); out != int64(len(reply)) {
				t.Errorf("Counters.BytesOut = %d, want %d", out, len(reply))
			}
		})
	}
}

// bigWriter answers its first read with a reply larger than the socket
// buffers, in one of several ways, and never closes by itself unless told.
type bigWriter struct {
	mode    string
	t       weft.Transport
	entered chan struct{} // closed when the first DataReceived has written
	release chan struct{} // DataReceived returns once it is closed
	once    bool
}

func (p *bigWriter) ConnectionMade(t weft.Transport) { p.t = t }
func (p *bigWriter) DataReceived([]byte) {
	if p.once {
		return
	}
	p.once = true
	switch p.mode {
	case "producer":
		p.t.RegisterProducer(nopProducer{})
		p.t.Write(make([]byte, 4<<20))
	case "outside":
		// Written from another goroutine, outside any callback.
		go func() {
			for range 12 { // 768 KiB: under MaxWriteBuffer
				if _, err := p.t.Write(make([]byte, 64<<10)); err != nil {
					break
				}
			}
			close(p.entered)
		}()
		return
	default:
		p.t.Write(make([]byte, 4<<20))
	}
	if p.entered != nil {
		close(p.entered)
	}
	if p.release != nil {
		<-p.release
	}
}
func (p *bigWriter) ConnectionLost(error) {}

type nopProducer struct{}

func (nopProducer) PauseProducing()  {}
func (nopProducer) ResumeProducing() {}
func (nopProducer) StopProducing()   {}

// TestCloseTimeoutArmedOnEveryWait: whichever way a graceful close comes to
// wait for a peer that reads nothing, on both engines, CloseTimeout ends
// it: the peer's end of stream after a large reply (a half-closed peer
// that does not read; the readiness engine has parked the reply before
// the close), a LoseConnection from another goroutine while the callback
// that wrote the reply still runs (flushed at its end), a LoseConnection
// after writes made outside any callback, and with a Producer registered.
func TestCloseTimeoutArmedOnEveryWait(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, eng := range []string{"goroutine", "engine"} {
		for _, mode := range []string{"half-close", "during-callback", "outside", "producer"} {
			t.Run(eng+"/"+mode, func(t *testing.T) {
				var s, peer net.Conn
				if eng == "engine" {
					s, peer = enginePair(t)
				} else {
					s, peer = tcpPair(t)
				}
				raw := s
				if ec, ok := s.(interface{ SetWriteBuffer(int) error }); ok {
					if err := ec.SetWriteBuffer(32 << 10); err != nil {
						t.Fatal(err)
					}
				} else {
					t.Fatalf("%T: no SetWriteBuffer", raw)
				}
				if err := peer.(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
					t.Fatal(err)
				}
				p := &bigWriter{mode: mode, entered: make(chan struct{})}
				if mode == "during-callback" {
					p.release = make(chan struct{})
				}
				opts := &weft.Options{CloseTimeout: timeout}
				if eng == "engine" {
					opts.Engine = testEngine
				}
				conn := weft.NewConn(s, p, opts)
				done := make(chan error, 1)
				conn.Start(func(err error) { done <- err })
				if _, err := peer.Write([]byte("go")); err != nil {
					t.Fatal(err)
				}
				<-p.entered
				switch mode {
				case "half-close":
					peer.(*net.TCPConn).CloseWrite()
				case "during-callback":
					conn.Transport().LoseConnection()
					close(p.release)
				default:
					conn.Transport().LoseConnection()
				}
				start := time.Now()
				select {
				case err := <-done:
					if !errors.Is(err, weft.ErrCloseTimeout) {
						t.Errorf("reason %v after %v, want ErrCloseTimeout", err, time.Since(start))
					}
				case <-time.After(10 * time.Second):
					t.Fatal("a peer that reads nothing still holds the closing connection after 10 s")
				}
			})
		}
	}
}
