package endpoint

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// batchConn holds what is written to it, once hold is on, and sends it in
// one write when it is closed: the records of an inner and an outer TLS
// layer then reach the client in one segment, as a relay's writes often
// are coalesced.
type batchConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  bytes.Buffer
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hold {
		return b.buf.Write(p)
	}
	return b.Conn.Write(p)
}

func (b *batchConn) startHold() {
	b.mu.Lock()
	b.hold = true
	b.mu.Unlock()
}

func (b *batchConn) Close() error {
	b.mu.Lock()
	if b.buf.Len() > 0 {
		// crypto/tls's close_notify leaves a write deadline of now.
		b.Conn.SetWriteDeadline(time.Time{})
		b.Conn.Write(b.buf.Bytes())
		b.buf.Reset()
	}
	b.mu.Unlock()
	return b.Conn.Close()
}

// TestReview3TLSViaCloseNotify: TLS inside TLS (tls: over endpoint=tls:).
// The inner connection's Read returns the last outer record together with
// io.EOF when the proxy's own close_notify follows it in the same read; the
// outer TLS layer did get its close_notify, so the end is clean. An outer
// stream that ends without one (the proxy closes with its own close_notify
// only) is ErrTLSTruncated. Both TLS 1.2 and 1.3.
func TestReview3TLSViaCloseNotify(t *testing.T) {
	certFile, keyFile, _ := writeCert(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, tc := range []struct {
			name      string
			notify    bool // the end server sends its close_notify
			truncated bool
		}{
			{"outer close_notify", true, false},
			{"outer cut, proxy close_notify", false, true},
		} {
			t.Run(tls.VersionName(version)+"/"+tc.name, func(t *testing.T) {
				ln, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				scfg := &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: version}
				served := make(chan struct{})
				go func() {
					defer close(served)
					raw, err := ln.Accept()
					if err != nil {
						return
					}
					raw.SetDeadline(time.Now().Add(10 * time.Second))
					bc := &batchConn{Conn: raw}
					proxy := tls.Server(bc, scfg)
					defer proxy.Close()
					outer := tls.Server(proxy, scfg)
					if err := outer.Handshake(); err != nil {
						t.Errorf("outer handshake: %v", err)
						return
					}
					bc.startHold()
					if _, err := outer.Write([]byte("hi\n")); err != nil {
						t.Errorf("write: %v", err)
					}
					if tc.notify {
						outer.Close() // outer close_notify, then the proxy's
					} else {
						proxy.Close() // the proxy's close_notify only
					}
				}()
				inner := "tls:127.0.0.1:" + portOf(ln) + ":caCerts=" + Quote(certFile)
				c, err := ParseClient("tls:localhost:1:caCerts=" + Quote(certFile) + ":endpoint=" + Quote(inner))
				if err != nil {
					t.Fatal(err)
				}
				c.TLS.MaxVersion = version
				c.Via.TLS.MaxVersion = version
				nc, err := c.Dial(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				p := &lostWith{reason: make(chan error, 1)}
				ended := make(chan struct{})
				go func() {
					defer close(ended)
					weft.Serve(nc, p, nil)
				}()
				var reason error
				select {
				case reason = <-p.reason:
				case <-time.After(10 * time.Second):
					nc.Close()
					t.Fatal("ConnectionLost not called")
				}
				<-ended
				<-served
				if string(p.got) != "hi\n" {
					t.Errorf("received %q, want \"hi\\n\"", p.got)
				}
				if tc.truncated {
					if !errors.Is(reason, weft.ErrTLSTruncated) {
						t.Errorf("ConnectionLost(%v), want ErrTLSTruncated", reason)
					}
				} else if reason != nil {
					t.Errorf("ConnectionLost(%v), want nil: the outer TLS layer got its close_notify", reason)
				}
			})
		}
	}
}
