package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
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
		rerr := bufferV1Line(br)
		var unspec bool
		if unspec, err = readV2UnspecProxy(br); !unspec {
			h, err = proxyproto.Read(br)
		} else if err == nil {
			h = &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.UNSPEC}
		}
		if err != nil && rerr != nil {
			// go-proxyproto does not wrap the read error that cut a v1
			// line short: keep it, so that a socket closed by Shutdown
			// counts as such, not as a bad header.
			err = fmt.Errorf("%w: %w", err, rerr)
		}
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
// first message is shorter ("PING\n") would wait for HandshakeTimeout. The
// v1 signature is "PROXY" and a space (the spec's), not go-proxyproto's
// "PROXY" alone: a direct client whose first word merely begins with PROXY
// is no header.
func mayBeProxySignature(br *bufio.Reader) bool {
	for {
		b, _ := br.Peek(br.Buffered())
		switch {
		case bytes.HasPrefix(b, proxyV1Sig), bytes.HasPrefix(b, proxyV2Sig):
			return true
		case len(b) > 0 && !isPrefix(b, proxyV1Sig) && !isPrefix(b, proxyV2Sig):
			return false
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return true
		}
	}
}

// maxV1Line is the longest v1 header line, CRLF included (the spec's worst
// case, and go-proxyproto's limit).
const maxV1Line = 107

// bufferV1Line, when br holds the start of a v1 header, reads until its line
// is buffered whole: its LF, maxV1Line bytes, or a read error (the deadline,
// the end of stream, a close), which it returns. go-proxyproto refuses a v1 line it cannot take from
// the buffer in one go, a slow-loris guard that HandshakeTimeout and
// MaxHandshakes already provide here; without this, a trusted proxy's
// header split across segments was refused as a bad header (the spec
// recommends tolerance, and a v2 header was tolerated). Bytes that came with
// the line's last piece stay buffered: readProxyHeader delivers them first.
func bufferV1Line(br *bufio.Reader) error {
	for {
		b, _ := br.Peek(br.Buffered())
		if !bytes.HasPrefix(b, proxyV1Sig) || len(b) >= maxV1Line || bytes.IndexByte(b, '\n') >= 0 {
			return nil
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return err
		}
	}
}

// readV2UnspecProxy reads a v2 header with the PROXY command and the
// AF_UNSPEC family, if br starts with one (reporting true): go-proxyproto
// refuses it, but it is v2's form of v1's "PROXY UNKNOWN" (a proxy that
// forwards a connection it has no address for), which the spec lets the
// receiver serve with the real endpoints, and which is served so: the
// header, its TLVs included, is skipped and the socket's address kept. Its
// length is bounded as go-proxyproto bounds any v2 header
// (proxyproto.MaxV2HeaderSize).
func readV2UnspecProxy(br *bufio.Reader) (bool, error) {
	if b, _ := br.Peek(br.Buffered()); !bytes.HasPrefix(b, proxyV2Sig) {
		return false, nil
	}
	b, err := br.Peek(16)
	if err != nil || b[12] != 0x21 || b[13] != 0x00 {
		return false, nil // proxyproto.Read reports the error, or reads the header
	}
	n := int(binary.BigEndian.Uint16(b[14:16]))
	if n > int(proxyproto.MaxV2HeaderSize) {
		return true, proxyproto.ErrInvalidLength
	}
	if _, err := br.Discard(16 + n); err != nil {
		return true, fmt.Errorf("%w: %w", proxyproto.ErrInvalidLength, err)
	}
	return true, nil
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
