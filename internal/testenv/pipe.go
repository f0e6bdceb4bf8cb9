package testenv

import (
	"net"
	"sync"
)

// PipeListener is an in-memory net.Listener over net.Pipe, usable inside a
// synctest bubble. Nothing is buffered between the two ends of a pipe, so
// what a client does not read stays in the server's write buffer.
type PipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

// NewPipeListener returns an open PipeListener.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept returns the server end of the next Dial, or net.ErrClosed once the
// listener is closed.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close closes the listener; it may be called more than once.
func (l *PipeListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }

// Addr returns PipeAddr.
func (l *PipeListener) Addr() net.Addr { return PipeAddr{} }

// Done is closed when the listener is closed.
func (l *PipeListener) Done() <-chan struct{} { return l.done }

// Dial returns the client end of a new pipe once Accept has taken its server
// end (or the listener is closed: the server end is then closed).
func (l *PipeListener) Dial() net.Conn {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
	case <-l.done:
		s.Close()
	}
	return c
}

// PipeAddr is the address of a PipeListener and its connections' listener
// side: network and address "pipe".
type PipeAddr struct{}

// Network returns "pipe".
func (PipeAddr) Network() string { return "pipe" }

// String returns "pipe".
func (PipeAddr) String() string { return "pipe" }
