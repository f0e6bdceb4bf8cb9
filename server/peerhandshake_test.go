package server

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
)

// peerListener is a pipeListener whose connections come from the address
// given to DialFrom, so that per-peer limits can be tested in fake time.
type peerListener struct {
	*pipeListener
	from chan net.Addr
}

func newPeerListener() *peerListener {
	return &peerListener{pipeListener: newPipeListener(), from: make(chan net.Addr, 1)}
}

// DialFrom connects as a client at ip (port 1).
func (l *peerListener) DialFrom(ip string) net.Conn {
	l.from <- &net.TCPAddr{IP: net.ParseIP(ip), Port: 1}
	return l.Dial()
}

func (l *peerListener) Accept() (net.Conn, error) {
	c, err := l.pipeListener.Accept()
	if err != nil {
		return nil, err
	}
	return peerConn{c, <-l.from}, nil
}

type peerConn struct {
	net.Conn
	remote net.Addr
}

func (c peerConn) RemoteAddr() net.Addr { return c.remote }

// TestPerPeerHandshakes: MaxConnsPerPeer also bounds one peer's connections
// in their handshake (a TLS handshake, or an untrusted source's first bytes
// on a PROXY listener) at once, where the peer is known at accept: one
// address's silent connections cannot take every MaxHandshakes slot and lock
// every other client out until HandshakeTimeout. Beyond it a connection is
// closed at once by the accept loop, counted in Rejected["per peer"]. A
// trusted proxy's connections are not limited by the proxy's address (their
// client is known only from the header).
func TestPerPeerHandshakes(t *testing.T) {
	srvTLS, _ := testTLS(t)
	nets := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	for _, tc := range []struct {
		name    string
		serve   func(s *Server, l net.Listener) error
		perPeer bool // the handshake is limited per socket peer
	}{
		{"tls", func(s *Server, l net.Listener) error { return s.Serve(tls.NewListener(l, srvTLS)) }, true},
		{"proxy-untrusted", func(s *Server, l net.Listener) error {
			return s.ServeProxy(l, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		}, true},
		{"proxy-trusted", func(s *Server, l net.Listener) error { return s.ServeProxy(l, nets) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), MaxConnsPerPeer: 2, MaxHandshakes: 4}
				pl := newPeerListener()
				done := make(chan error, 1)
				go func() { done <- tc.serve(s, pl) }()
				var clients []net.Conn
				for range 6 {
					clients = append(clients, pl.DialFrom("192.0.2.66"))
				}
				other := pl.DialFrom("192.0.2.77")
				clients = append(clients, other)
				synctest.Wait()
				closed := 0
				for _, c := range clients[:6] {
					if closedNow(c) {
						closed++
					}
				}
				snap := s.Snapshot()
				if tc.perPeer {
					if closed != 4 || snap.Rejected["per peer"] != 4 || snap.Rejected["max handshakes"] != 0 {
						t.Errorf("one peer's 6 silent connections: %d closed at once, rejected %v; want 4 closed, per peer 4",
							closed, snap.Rejected)
					}
					if closedNow(other) || snap.Handshaking != 3 {
						t.Errorf("another peer: closed %v, Handshaking %d; want it in its handshake, 3 handshaking",
							closedNow(other), snap.Handshaking)
					}
				} else if closed != 2 || snap.Rejected["max handshakes"] != 3 || snap.Rejected["per peer"] != 0 {
					t.Errorf("trusted proxy's connections: %d closed at once, rejected %v; want 2 closed, max handshakes 3",
						closed, snap.Rejected)
				}
				s.Close()
				for _, c := range clients {
					c.Close()
				}
				if err := <-done; !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve = %v", err)
				}
				if snap := s.Snapshot(); snap.Handshaking != 0 {
					t.Errorf("Handshaking after Close = %d, want 0", snap.Handshaking)
				}
				s.mu.Lock()
				left := len(s.peers) + len(s.hsPeers)
				s.mu.Unlock()
				if left != 0 {
					t.Errorf("%d peers still counted after Close", left)
				}
			})
		})
	}
}

// TestPerPeerTLSAfterProxy: on a PROXY listener that does TLS after the
// header (ListenEndpoint with tls and proxy=), the TLS handshake of a client
// named by a trusted proxy's header counts against that client's address:
// one client behind the proxy cannot hold every MaxHandshakes slot with
// stalled TLS handshakes. Beyond MaxConnsPerPeer of them, its connection is
// closed once the header is read, without a byte (Rejected["per peer"]);
// another client behind the same proxy is unaffected.
func TestPerPeerTLSAfterProxy(t *testing.T) {
	srvTLS, _ := testTLS(t)
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: echoFactory(), MaxConnsPerPeer: 2, MaxHandshakes: 10}
		pl := newPipeListener()
		done := make(chan error, 1)
		go func() {
			done <- s.serve(&listenerState{l: tcpAddrListener{pl}, proxy: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, tls: srvTLS})
		}()
		var clients []net.Conn
		for range 4 {
			c := pl.Dial()
			clients = append(clients, c)
			go c.Write(proxyHeader(t, 2, "198.51.100.9:1")) // then no TLS hello
		}
		other := pl.Dial()
		go other.Write(proxyHeader(t, 2, "198.51.100.10:1"))
		synctest.Wait()
		closed := 0
		for _, c := range clients {
			if closedNow(c) {
				closed++
			}
		}
		snap := s.Snapshot()
		if closed != 2 || snap.Rejected["per peer"] != 2 {
			t.Errorf("one client's 4 stalled TLS handshakes: %d closed, rejected %v; want 2 closed, per peer 2", closed, snap.Rejected)
		}
		if closedNow(other) || snap.Handshaking != 3 {
			t.Errorf("another client: closed %v, Handshaking %d; want it in its handshake, 3 handshaking", closedNow(other), snap.Handshaking)
		}
		s.Close()
		for _, c := range append(clients, other) {
			c.Close()
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("serve = %v", err)
		}
		s.mu.Lock()
		left := len(s.hsPeers)
		s.mu.Unlock()
		if left != 0 {
			t.Errorf("%d handshaking peers still counted after Close", left)
		}
	})
}
