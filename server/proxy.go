package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
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
		// ipOf unmaps the peer; so unmap an IPv4-mapped prefix
		// (::ffff:10.0.0.0/104 is 10.0.0.0/8).
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			if p4, err := a.Unmap().Prefix(p.Bits() - 96); err == nil && p4.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// readProxyHeader reads a PROXY v1 or v2 header within HandshakeTimeout. It
// returns the client address it names (the connection's own address for a
// LOCAL command, an unknown family, or no header at all) and the bytes read
// past the header, to be delivered first. A client that sends nothing within
// HandshakeTimeout has no header: it is served as a direct client, as on an
// untrusted source; one that stops inside a signature is a handshake timeout.
func (s *Server) readProxyHeader(nc net.Conn) (net.Addr, []byte, error) {
	deadline := time.Now().Add(s.hsTO)
	nc.SetReadDeadline(deadline)
	br := bufio.NewReaderSize(nc, 512)
	var h *proxyproto.Header
	var err error
	if mayBeProxySignature(br) && br.Buffered() > 0 {
		h, err = proxyproto.Read(br)
	} else {
		// Bytes that cannot start a signature, or none at all before the
		// deadline or the end of stream: a direct client (one that waits
		// for a greeting, or a health check that connected and left).
		err = proxyproto.ErrNoProxyProtocol
	}
	nc.SetReadDeadline(time.Time{})
	if err != nil && !time.Now().Before(deadline) {
		// go-proxyproto does not always wrap the read error; the clock says.
		err = fmt.Errorf("%w: %w", os.ErrDeadlineExceeded, err)
	}
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

// mayBeProxySignature reads from br only while the bytes buffered can still
// be the start of a PROXY signature, and reports whether they can (or a read
// failed: proxyproto.Read then reports it). go-proxyproto waits for 12 bytes
// once the first one is 'P' or '\r', so without this a direct client whose
// first message is shorter ("PING\n") would wait for HandshakeTimeout.
func mayBeProxySignature(br *bufio.Reader) bool {
	for {
		b, _ := br.Peek(br.Buffered())
		switch {
		case bytes.HasPrefix(b, proxyproto.SIGV1), bytes.HasPrefix(b, proxyproto.SIGV2):
			return true
		case len(b) > 0 && !isPrefix(b, proxyproto.SIGV1) && !isPrefix(b, proxyproto.SIGV2):
			return false
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return true
		}
	}
}

// sniffUntrusted reads the first bytes of a connection from an untrusted
// source on a PROXY listener, before any Protocol exists: if they are a PROXY
// signature the connection is refused with ErrUntrustedProxy; otherwise they
// are returned, to be delivered first. It reads at most 12 bytes, and stops
// as soon as they cannot be a signature. A client that sends nothing within
// HandshakeTimeout (a server-speaks-first protocol) is then served as is.
func (s *Server) sniffUntrusted(nc net.Conn) ([]byte, error) {
	nc.SetReadDeadline(time.Now().Add(s.hsTO))
	defer nc.SetReadDeadline(time.Time{})
	var head []byte
	var buf [12]byte
	for {
		if bytes.HasPrefix(head, proxyV1Sig) || bytes.HasPrefix(head, proxyV2Sig) {
			return nil, ErrUntrustedProxy
		}
		if len(head) > 0 && !isPrefix(head, proxyV1Sig) && !isPrefix(head, proxyV2Sig) {
			return head, nil
		}
		n, err := nc.Read(buf[:12-len(head)])
		head = append(head, buf[:n]...)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, io.EOF):
			return head, nil
		default:
			return nil, err
		}
	}
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

// NetConn returns the connection under the replay, so that the runtime
// finds the socket through TLS and this wrapper (to reset it on Abort).
func (c *prereadConn) NetConn() net.Conn { return c.Conn }

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
		case *prereadConn:
			nc = c.Conn
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nc
		}
	}
}
