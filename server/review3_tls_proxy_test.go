package server

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// review3Prepend writes pre before the first write.
type review3Prepend struct {
	net.Conn
	pre []byte
}

func (p *review3Prepend) Write(b []byte) (int, error) {
	if p.pre != nil {
		_, err := p.Conn.Write(append(p.pre, b...))
		p.pre = nil
		return len(b), err
	}
	return p.Conn.Write(b)
}

// TestReview3TLSTruncatedProxy: on a tls: listener with proxy=, the PROXY
// header and the ClientHello in one write (so the server's replay of bytes
// read past the header sits between TLS and the socket): a close_notify is
// "clean", a socket closed without one "tls truncated", under TLS 1.2 and
// 1.3.
func TestReview3TLSTruncatedProxy(t *testing.T) {
	srv, cli := testTLS(t)
	key := writePEM(t, srv)
	reasons := make(chan error, 1)
	s := &Server{Factory: factoryOf(func() *lostReason { return &lostReason{reasons: reasons} })}
	addr := listen(t, s, "tls:0:interface=127.0.0.1:privateKey="+key+":proxy=127.0.0.1/32")
	n := 0
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, c := range []struct {
			name string
			end  func(tc *tls.Conn, raw net.Conn)
			want string
		}{
			{"close_notify", func(tc *tls.Conn, _ net.Conn) { tc.Close() }, "clean"},
			{"socket closed", func(_ *tls.Conn, raw net.Conn) { raw.Close() }, "tls truncated"},
		} {
			raw := dial(t, addr.String())
			cfg := cli.Clone()
			cfg.MaxVersion = version
			tc := tls.Client(&review3Prepend{Conn: raw, pre: proxyHeader(t, 2, "203.0.113.9:999")}, cfg)
			roundTrip(t, tc, "before the end")
			if got := tc.ConnectionState().Version; got != version {
				t.Fatalf("%s: version %x, want %x", c.name, got, version)
			}
			c.end(tc, raw)
			n++
			select {
			case err := <-reasons:
				if got := ReasonOf(err).String(); got != c.want {
					t.Errorf("%s %s: ConnectionLost(%v), reason %q, want %q", tls.VersionName(version), c.name, err, got, c.want)
				}
				if c.want == "tls truncated" && !errors.Is(err, weft.ErrTLSTruncated) {
					t.Errorf("%s %s: ConnectionLost(%v), want weft.ErrTLSTruncated", tls.VersionName(version), c.name, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: ConnectionLost not called", c.name)
			}
		}
	}
	waitFor(t, "closed counted", func() bool {
		snap := s.Snapshot()
		return snap.Closed["clean"] == 2 && snap.Closed["tls truncated"] == 2
	})
}
