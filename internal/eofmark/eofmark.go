// Package eofmark marks the end of the byte stream under a TLS layer, so
// that weft's runtime can tell a peer's close_notify (TLS ends, the stream
// under it need not) from a stream cut short (the stream under TLS ends
// without one, which crypto/tls reads as a clean end when it falls on a
// record boundary).
package eofmark

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
)

// Conn is a net.Conn whose reads record the end of stream. weft's server
// and endpoint put one under each TLS layer they make.
type Conn struct {
	net.Conn
	eof atomic.Bool
}

// Wrap returns c with its end of stream recorded.
func Wrap(c net.Conn) *Conn { return &Conn{Conn: c} }

// Read reads from the connection, recording io.EOF that comes without
// data. A read that returns the last bytes together with io.EOF (as a
// *tls.Conn under it does when its own close_notify follows its last
// record, in TLS inside TLS) is not recorded: those bytes may hold the
// close_notify of the TLS layer above, which then reads nothing more; if
// they do not, that layer reads again and gets 0 and io.EOF (io.Reader's
// contract), which is recorded.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n == 0 && err != nil && errors.Is(err, io.EOF) {
		c.eof.Store(true)
	}
	return n, err
}

// NetConn returns the connection under c, so that the runtime finds the
// socket through c (for a half-close, a reset, or a linger).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// SawEOF reports whether a read returned io.EOF and no data: the stream
// under the TLS layer has ended, and the layer above read past its last
// record.
func (c *Conn) SawEOF() bool { return c.eof.Load() }
