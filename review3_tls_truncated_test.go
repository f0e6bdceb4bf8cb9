package weft_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// eofWithDataConn is a net.Conn whose Read, once final is set, goes on
// reading after data comes and returns that data together with io.EOF when
// the peer ends its stream: io.Reader allows it ("a Reader returning a
// non-zero number of bytes at the end of the input stream may return
// either err == EOF or err == nil"), and a *tls.Conn does it when its
// close_notify follows its last record.
type eofWithDataConn struct {
	net.Conn
	final atomic.Bool
}

func (c *eofWithDataConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	for err == nil && n > 0 && n < len(b) && c.final.Load() {
		var m int
		m, err = c.Conn.Read(b[n:])
		n += m
	}
	return n, err
}

var review3Versions = []uint16{tls.VersionTLS12, tls.VersionTLS13}

// review3StartTLS serves r over s, which switches to TLS (cfg, at most
// version) in ConnectionMade, and returns the TLS client over c and Serve's
// result.
func review3StartTLS(t *testing.T, s, c net.Conn, p weft.Protocol, r *recorder, version uint16) (*tls.Conn, <-chan error) {
	t.Helper()
	cfg, pool := testCert(t)
	cfg.MaxVersion = version
	r.onMade = func(tr weft.Transport) {
		if err := tr.StartTLS(cfg); err != nil {
			t.Error(err)
		}
	}
	done := serve(s, p, nil)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: version}), done
}

func review3Ended(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// TestReview3TLSDataWithEOF: StartTLS over a net.Conn whose Read returns
// the peer's last bytes (its close_notify) together with io.EOF. TLS got
// the close_notify: the end is clean, not ErrTLSTruncated. Goroutine engine
// only: the readiness engine cannot take a wrapped net.Conn, and reads its
// descriptor itself (after a StartTLS, through a net.Conn of its own).
func TestReview3TLSDataWithEOF(t *testing.T) {
	for _, version := range review3Versions {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			s, c := tcpPair(t)
			ws := &eofWithDataConn{Conn: s}
			r := newRecorder(t)
			client, done := review3StartTLS(t, ws, c, r, r, version)
			if _, err := client.Write([]byte("hello\n")); err != nil {
				t.Fatal(err)
			}
			if got := r.waitReceived("hello\n"); got != "hello\n" {
				t.Fatalf("received %q", got)
			}
			ws.final.Store(true)
			client.Close() // close_notify, then the FIN
			if reason := r.waitLost(t); reason != nil {
				t.Errorf("ConnectionLost(%v), want nil: the peer sent close_notify", reason)
			}
			review3Ended(t, done)
		})
	}
}

// TestReview3TLSEnds covers ends that were already right: each asserts the
// reason ConnectionLost gets, under TLS 1.2 and 1.3, on both engines.
func TestReview3TLSEnds(t *testing.T) {
	for _, tr := range tcpAndEngine {
		for _, version := range review3Versions {
			name := tr.name + "/" + tls.VersionName(version)
			t.Run(name+"/close_notify and FIN in one segment", func(t *testing.T) {
				// The peer's close_notify and FIN leave together: the
				// socket under the client's TLS layer is held until
				// Close, which writes the alert and closes.
				s, c := tr.pair(t)
				bc := &holdConn{Conn: c}
				r := newRecorder(t)
				client, done := review3StartTLS(t, s, bc, r, r, version)
				if _, err := client.Write([]byte("hello\n")); err != nil {
					t.Fatal(err)
				}
				if got := r.waitReceived("hello\n"); got != "hello\n" {
					t.Fatalf("received %q", got)
				}
				bc.hold.Store(true)
				client.Close()
				if reason := r.waitLost(t); reason != nil {
					t.Errorf("ConnectionLost(%v), want nil", reason)
				}
				review3Ended(t, done)
			})
			t.Run(name+"/cut right after the handshake", func(t *testing.T) {
				s, c := tr.pair(t)
				r := newRecorder(t)
				client, done := review3StartTLS(t, s, c, r, r, version)
				if err := client.Handshake(); err != nil {
					t.Fatal(err)
				}
				c.Close()
				if reason := r.waitLost(t); !errors.Is(reason, weft.ErrTLSTruncated) {
					t.Errorf("ConnectionLost(%v), want ErrTLSTruncated", reason)
				}
				review3Ended(t, done)
			})
			t.Run(name+"/cut inside a record", func(t *testing.T) {
				s, c := tr.pair(t)
				r := newRecorder(t)
				client, done := review3StartTLS(t, s, c, r, r, version)
				if err := client.Handshake(); err != nil {
					t.Fatal(err)
				}
				// A record header announcing 100 bytes, then 10, then the end.
				c.Write(append([]byte{23, 3, 3, 0, 100}, make([]byte, 10)...))
				c.Close()
				reason := r.waitLost(t)
				if !errors.Is(reason, weft.ErrTLSTruncated) || !errors.Is(reason, io.ErrUnexpectedEOF) {
					t.Errorf("ConnectionLost(%v), want ErrTLSTruncated (matching io.ErrUnexpectedEOF)", reason)
				}
				review3Ended(t, done)
			})
			t.Run(name+"/cut during the handshake", func(t *testing.T) {
				s, c := tr.pair(t)
				r := newRecorder(t)
				_, done := review3StartTLS(t, s, c, r, r, version)
				// Half a ClientHello, then the end.
				c.Write([]byte{22, 3, 1, 0, 200, 1, 0, 0})
				c.Close()
				if reason := r.waitLost(t); reason == nil || !errors.Is(reason, io.ErrUnexpectedEOF) {
					t.Errorf("ConnectionLost(%v), want an error matching io.ErrUnexpectedEOF", reason)
				}
				review3Ended(t, done)
			})
			t.Run(name+"/paused, close_notify", func(t *testing.T) {
				review3Paused(t, tr.pair, version, true)
			})
			t.Run(name+"/paused, cut", func(t *testing.T) {
				review3Paused(t, tr.pair, version, false)
			})
			t.Run(name+"/peer cuts after weft's LoseConnection", func(t *testing.T) {
				// weft closes first (close_notify); the peer then closes
				// its socket without one: the reason stays nil.
				s, c := tr.pair(t)
				r := newRecorder(t)
				r.onData = func(tr weft.Transport, _ []byte) {
					tr.Write([]byte("bye\n"))
					tr.LoseConnection()
				}
				client, done := review3StartTLS(t, s, c, r, r, version)
				client.Write([]byte("quit\n"))
				if got, err := io.ReadAll(client); string(got) != "bye\n" || err != nil {
					t.Errorf("the peer read %q, %v; want \"bye\\n\" then close_notify", got, err)
				}
				c.Close()
				if reason := r.waitLost(t); reason != nil {
					t.Errorf("ConnectionLost(%v), want nil (weft closed first)", reason)
				}
				review3Ended(t, done)
			})
			t.Run(name+"/cut with a producer registered", func(t *testing.T) {
				s, c := tr.pair(t)
				r := newRecorder(t)
				prod := &review3Producer{}
				r.onData = func(tr weft.Transport, _ []byte) { tr.RegisterProducer(prod) }
				client, done := review3StartTLS(t, s, c, r, r, version)
				client.Write([]byte("x\n"))
				r.waitReceived("x\n")
				c.Close()
				if reason := r.waitLost(t); !errors.Is(reason, weft.ErrTLSTruncated) {
					t.Errorf("ConnectionLost(%v), want ErrTLSTruncated", reason)
				}
				if n := prod.stopped.Load(); n != 1 {
					t.Errorf("StopProducing called %d times, want 1", n)
				}
				review3Ended(t, done)
			})
			t.Run(name+"/half-closed by weft, then the peer's close_notify", func(t *testing.T) {
				review3HalfClosedByWeft(t, tr.pair, version, true)
			})
			t.Run(name+"/half-closed by weft, then the peer's cut", func(t *testing.T) {
				review3HalfClosedByWeft(t, tr.pair, version, false)
			})
			t.Run(name+"/pipelined ClientHello, then close_notify", func(t *testing.T) {
				// "STARTTLS\n" and the ClientHello come in one write:
				// StartTLS is handed the ClientHello (prefixConn.pre).
				cfg, pool := testCert(t)
				cfg.MaxVersion = version
				s, c := tr.pair(t)
				r := newRecorder(t)
				var switched atomic.Bool
				var handed atomic.Int32
				r.onData = func(tr weft.Transport, d []byte) {
					if switched.Swap(true) {
						return
					}
					rest := d[len("STARTTLS\n"):]
					handed.Store(int32(len(rest)))
					if err := weft.StartTLS(tr, cfg, rest); err != nil {
						t.Error(err)
					}
				}
				done := serve(s, r, nil)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				client := tls.Client(&prependConn{Conn: c, pre: []byte("STARTTLS\n")}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: version})
				if _, err := client.Write([]byte("hello\n")); err != nil {
					t.Fatal(err)
				}
				if got := r.waitReceived("STARTTLS\n"); handed.Load() == 0 {
					t.Logf("the ClientHello came apart from STARTTLS (received %q): nothing pipelined", got)
				}
				client.Close()
				if reason := r.waitLost(t); reason != nil {
					t.Errorf("ConnectionLost(%v), want nil", reason)
				}
				review3Ended(t, done)
			})
		}
	}
}

// review3Paused: the peer sends data and ends while reading is paused;
// ResumeReading then delivers the data and the end: clean after a
// close_notify, ErrTLSTruncated without.
func review3Paused(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn), version uint16, notify bool) {
	s, c := pair(t)
	r := newRecorder(t)
	var once atomic.Bool
	paused := make(chan struct{})
	r.onData = func(tr weft.Transport, _ []byte) {
		if !once.Swap(true) {
			tr.PauseReading()
			close(paused)
		}
	}
	client, done := review3StartTLS(t, s, c, r, r, version)
	client.Write([]byte("first\n"))
	select {
	case <-paused:
	case <-time.After(10 * time.Second):
		t.Fatal("no DataReceived")
	}
	client.Write([]byte("second\n"))
	if notify {
		client.Close()
	} else {
		c.Close()
	}
	r.transport().ResumeReading()
	reason := r.waitLost(t)
	if got := string(r.received()); got != "first\nsecond\n" {
		t.Errorf("received %q", got)
	}
	switch {
	case notify && reason != nil:
		t.Errorf("ConnectionLost(%v), want nil", reason)
	case !notify && !errors.Is(reason, weft.ErrTLSTruncated):
		t.Errorf("ConnectionLost(%v), want ErrTLSTruncated", reason)
	}
	review3Ended(t, done)
}

// review3HalfClosedByWeft: a HalfCloseable Protocol half-closes first
// (LoseWriteConnection: a close_notify); the peer reads the end, sends more,
// then ends with a close_notify (clean) or without (ErrTLSTruncated: what
// it sent after weft's half-close may be cut short). ReadConnectionLost is
// never called (weft's side was ended first).
func review3HalfClosedByWeft(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn), version uint16, notify bool) {
	s, c := pair(t)
	r := newRecorder(t)
	hr := &halfRecorder{recorder: r}
	var once atomic.Bool
	r.onData = func(tr weft.Transport, _ []byte) {
		if !once.Swap(true) {
			tr.Write([]byte("bye\n"))
			if err := weft.LoseWriteConnection(tr); err != nil {
				t.Error(err)
			}
		}
	}
	client, done := review3StartTLS(t, s, c, hr, r, version)
	client.Write([]byte("first\n"))
	if got, err := io.ReadAll(client); string(got) != "bye\n" || err != nil {
		t.Errorf("the peer read %q, %v; want \"bye\\n\" then close_notify", got, err)
	}
	client.Write([]byte("after\n"))
	if notify {
		client.Close()
	} else {
		c.Close()
	}
	reason := r.waitLost(t)
	if got := string(r.received()); got != "first\nafter\n" {
		t.Errorf("received %q", got)
	}
	switch {
	case notify && reason != nil:
		t.Errorf("ConnectionLost(%v), want nil", reason)
	case !notify && !errors.Is(reason, weft.ErrTLSTruncated):
		t.Errorf("ConnectionLost(%v), want ErrTLSTruncated", reason)
	}
	if n := hr.readLost.Load(); n != 0 {
		t.Errorf("ReadConnectionLost called %d times, want 0", n)
	}
	review3Ended(t, done)
}

// holdConn keeps what is written once hold is set, and writes it in one
// piece when closed (clearing the write deadline crypto/tls's close_notify
// leaves), so that the peer's close_notify and FIN arrive together.
type holdConn struct {
	net.Conn
	hold atomic.Bool
	buf  []byte
}

func (h *holdConn) Write(p []byte) (int, error) {
	if h.hold.Load() {
		h.buf = append(h.buf, p...)
		return len(p), nil
	}
	return h.Conn.Write(p)
}

func (h *holdConn) Close() error {
	if len(h.buf) > 0 {
		h.Conn.SetWriteDeadline(time.Time{})
		h.Conn.Write(h.buf)
		h.buf = nil
	}
	return h.Conn.Close()
}

// prependConn writes pre before the first write.
type prependConn struct {
	net.Conn
	pre []byte
}

func (p *prependConn) Write(b []byte) (int, error) {
	if p.pre != nil {
		_, err := p.Conn.Write(append(p.pre, b...))
		p.pre = nil
		return len(b), err
	}
	return p.Conn.Write(b)
}

// review3Producer counts StopProducing.
type review3Producer struct{ stopped atomic.Int32 }

func (p *review3Producer) PauseProducing()  {}
func (p *review3Producer) ResumeProducing() {}
func (p *review3Producer) StopProducing()   { p.stopped.Add(1) }
