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

// Read reads from the connection, recording io.EOF.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && errors.Is(err, io.EOF) {
		c.eof.Store(true)
	}
	return n, err
}

// NetConn returns the connection under c, so that the runtime finds the
// socket through c (for a half-close, a reset, or a linger).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// SawEOF reports whether a read returned io.EOF: the stream under the TLS
// layer has ended.
func (c *Conn) SawEOF() bool { return c.eof.Load() }
