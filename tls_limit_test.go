package weft_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// slots is a HandshakeLimiter with n slots that counts its calls.
type slots struct {
	free               atomic.Int64
	acquired, released atomic.Int64
	refused            atomic.Int64
}

func (s *slots) TryAcquire() bool {
	if s.free.Add(-1) < 0 {
		s.free.Add(1)
		s.refused.Add(1)
		return false
	}
	s.acquired.Add(1)
	return true
}

func (s *slots) Release() { s.released.Add(1); s.free.Add(1) }

// errAny stands for any error.
var errAny = errors.New("any error")

// bufConn reads through r, which may hold bytes read from Conn already.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// funcSlots is a HandshakeLimiter that is not comparable (it holds
// funcs): the options that carry it cannot be shared through a map.
type funcSlots struct{ try, release func() bool }

func (f funcSlots) TryAcquire() bool { return f.try() }
func (f funcSlots) Release()         { f.release() }

// Options.HandshakeLimiter bounds StartTLS's handshakes: a handshake takes
// a slot before it starts and gives it back when it ends, whether it
// succeeds or fails; with no slot free, the connection closes with
// ErrRejected, after the clear text queued before StartTLS and without a
// TLS byte.
func TestStartTLSHandshakeLimiter(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tc := range []struct {
		name      string
		free      int64
		handshake bool // the client handshakes (else it sends garbage)
		want      error
	}{
		{"slot free, handshake", 1, true, nil},
		{"slot free, bad handshake", 1, false, errAny},
		{"no slot", 0, true, weft.ErrRejected},
	} {
		for _, tr := range tcpAndEngine {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				l := &slots{}
				l.free.Store(tc.free)
				s, c := tr.pair(t)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				p := &starttlsServer{cfg: cfg, errc: make(chan error, 1)}
				done := serve(s, p, &weft.Options{HandshakeLimiter: l})
				br := bufio.NewReader(c)
				br.ReadString('\n') // greeting
				c.Write([]byte("STARTTLS\r\n"))
				if line, _ := br.ReadString('\n'); line != "220 go ahead\r\n" {
					t.Fatalf("clear-text reply %q, want it sent before the handshake", line)
				}
				if err := <-p.errc; err != nil {
					t.Fatalf("StartTLS: %v", err)
				}
				var err error
				if tc.handshake {
					tc := tls.Client(&bufConn{Conn: c, r: br}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
					if err = tc.Handshake(); err == nil {
						tc.Close()
					}
				} else {
					c.Write([]byte("this is no ClientHello\r\n"))
				}
				c.Close()
				serr := waitServe(t, done)
				switch {
				case tc.want == errAny:
					if serr == nil {
						t.Errorf("Serve = nil after a bad handshake")
					}
				case tc.want == nil:
					if err != nil || serr != nil {
						t.Errorf("handshake %v, Serve %v, want both nil", err, serr)
					}
				default:
					if !errors.Is(serr, tc.want) {
						t.Errorf("Serve = %v, want %v", serr, tc.want)
					}
					if err == nil {
						t.Error("the client's handshake succeeded with no slot free")
					}
				}
				got := fmt.Sprint(l.acquired.Load(), l.released.Load(), l.refused.Load())
				want := "1 1 0"
				if tc.free == 0 {
					want = "0 0 1"
				}
				if got != want {
					t.Errorf("acquired, released, refused = %s, want %s", got, want)
				}
			})
		}
	}
	// A limiter that cannot be a map key is used as it is, not shared
	// (hashing it would panic).
	for _, tr := range tcpAndEngine {
		t.Run(tr.name+"/not comparable", func(t *testing.T) {
			var n atomic.Int64
			l := funcSlots{try: func() bool { n.Add(1); return false }, release: func() bool { return true }}
			s, c := tr.pair(t)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			p := &starttlsServer{cfg: cfg, errc: make(chan error, 1)}
			done := serve(s, p, &weft.Options{HandshakeLimiter: l})
			br := bufio.NewReader(c)
			br.ReadString('\n')
			c.Write([]byte("STARTTLS\r\n"))
			br.ReadString('\n')
			<-p.errc
			if err := waitServe(t, done); !errors.Is(err, weft.ErrRejected) || n.Load() != 1 {
				t.Errorf("Serve = %v after %d TryAcquire, want ErrRejected after 1", err, n.Load())
			}
			c.Close()
		})
	}
}
