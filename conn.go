package weft

import "net"

// Conn is one connection driven by the runtime: the handle a server or client
// keeps to observe and control it. Create it with NewConn and run it with Serve.
type Conn struct {
	nc net.Conn
	p  Protocol
}

// NewConn prepares nc to be driven by p. Nothing is read or called until Serve.
func NewConn(nc net.Conn, p Protocol, opts *Options) *Conn { panic("unimplemented") }

// Serve runs the connection to its end: ConnectionMade, DataReceived for every
// read, ConnectionLost. It returns the reason given to ConnectionLost. Serve
// returns an error at once (closing nc, calling no callback) if the Options are
// invalid.
func (c *Conn) Serve() error { panic("unimplemented") }

// Transport returns the connection's Transport (valid before Serve too).
func (c *Conn) Transport() Transport { panic("unimplemented") }

// Shutdown tells the Protocol of a graceful shutdown (calling its Shutdown
// method if it implements ShutdownNotifier, serialized with its callbacks),
// then calls LoseConnection.
func (c *Conn) Shutdown() { panic("unimplemented") }

// Close closes the connection at once with the given reason (for example
// ErrServerShutdown or ErrIdleTimeout); pending output is discarded.
// ConnectionLost receives reason unless the connection was already closing for
// another reason.
func (c *Conn) Close(reason error) { panic("unimplemented") }

// Post runs fn serialized with the Protocol's callbacks, as soon as no callback
// is running, on some goroutine; fn is dropped if the connection is lost first.
// It never blocks.
func (c *Conn) Post(fn func()) { panic("unimplemented") }

// Serve runs p over conn until the connection ends and returns the reason given
// to ConnectionLost (nil for a clean close). opts may be nil for the defaults.
func Serve(conn net.Conn, p Protocol, opts *Options) error {
	return NewConn(conn, p, opts).Serve()
}
