package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/weftkit/weft"
)

// proxyV1Sig and proxyV2Sig open a PROXY protocol header.
var (
	proxyV1Sig = []byte("PROXY ")
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// trusted reports whether remote is inside one of the trusted prefixes.
func trusted(prefixes []netip.Prefix, remote net.Addr) bool {
	ip := ipOf(remote)
	if !ip.IsValid() {
		return false
	}
	for _, p := range prefixes {
		if p.Contains(ip) || p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// readProxyHeader reads a PROXY v1 or v2 header within HandshakeTimeout. It
// returns the client address it names (the connection's own address for a
// LOCAL command, an unknown family, or no header at all) and the bytes read
// past the header, to be delivered first.
func (s *Server) readProxyHeader(nc net.Conn) (net.Addr, []byte, error) {
	nc.SetReadDeadline(time.Now().Add(s.hsTO))
	br := bufio.NewReaderSize(nc, 512)
	h, err := proxyproto.Read(br)
	nc.SetReadDeadline(time.Time{})
	remote := nc.RemoteAddr()
	switch {
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		// A direct client on a trusted address: served as is.
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, nil, fmt.Errorf("%w: PROXY header not received within %v", weft.ErrHandshakeTimeout, s.hsTO)
	case err != nil:
		return nil, nil, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	case h.Command.IsProxy() && h.SourceAddr != nil:
		remote = h.SourceAddr
	}
	var pre []byte
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		pre = bytes.Clone(b)
	}
	return remote, pre, nil
}

// sniffConn wraps a connection from an untrusted source on a PROXY listener:
// if its first bytes are a PROXY signature, reading fails with
// ErrUntrustedProxy (the connection is refused); otherwise the bytes are
// passed through unchanged. A client whose first bytes are a strict prefix of
// a signature is read until it sends the rest (at most 12 bytes).
type sniffConn struct {
	net.Conn
	decided bool
	head    []byte // bytes read while deciding, not yet returned
}

func (c *sniffConn) Read(p []byte) (int, error) {
	for !c.decided {
		if bytes.HasPrefix(c.head, proxyV1Sig) || bytes.HasPrefix(c.head, proxyV2Sig) {
			return 0, ErrUntrustedProxy
		}
		if len(c.head) > 0 && !isPrefix(c.head, proxyV1Sig) && !isPrefix(c.head, proxyV2Sig) {
			c.decided = true
			break
		}
		var buf [12]byte
		n, err := c.Conn.Read(buf[:12-len(c.head)])
		c.head = append(c.head, buf[:n]...)
		if err != nil {
			if len(c.head) == 0 {
				return 0, err
			}
			c.decided = true
		}
	}
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the underlying connection when it supports it.
func (c *sniffConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return weft.ErrNotSupported
}

// isPrefix reports whether b is a prefix of sig.
func isPrefix(b, sig []byte) bool {
	return len(b) <= len(sig) && bytes.Equal(sig[:len(b)], b)
}

// prereadConn replays buf before reading from Conn (bytes read past a PROXY
// header, handed to TLS).
type prereadConn struct {
	net.Conn
	buf []byte
}

func (c *prereadConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// rawConn unwraps the server's own wrappers and TLS to the socket.
func rawConn(nc net.Conn) net.Conn {
	for {
		switch c := nc.(type) {
		case *sniffConn:
			nc = c.Conn
		case *prereadConn:
			nc = c.Conn
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nc
		}
	}
}
