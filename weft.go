// Package weft is the protocol layer of the weft toolkit: the contracts that every
// server, client, codec and protocol plugs into, and the connection runtime that
// drives a Protocol over any net.Conn.
//
// The pieces:
//
//   - Protocol: reacts to one connection's events (ConnectionMade, DataReceived,
//     ConnectionLost). Its callbacks are never concurrent.
//   - Factory (and FactoryFunc): builds one Protocol per connection; optional
//     Starter/Stopper hooks run around all the listeners that use it, and
//     AddrIgnorer spares a server the peer's address it would make for it.
//   - Transport: the connection as the Protocol sees it; safe from any goroutine.
//     Poster: the Transports (the runtime's, the codec adapters') whose Post
//     runs a function serialized with the Protocol's callbacks.
//   - Producer: a source of output that the Transport pauses and resumes
//     (flow control, Twisted's push producer).
//   - Serve, and Conn (NewConn, NewConnFD, Start): run one connection to its
//     end; Options tunes the write-buffer limits, read buffer, timeouts,
//     StartTLS's handshakes and the readiness Engine (Linux).
//   - Gate: flow control for a goroutine that writes from outside the
//     callbacks.
//   - Sentinel errors: every connection ends with a reason that matches one of
//     them (or nil for a clean close).
//
// See docs/guide.md for a tour.
package weft

import (
	"context"
	"crypto/tls"
	"io"
	"net"
)

// Protocol reacts to the events of one connection. The runtime calls its methods
// one at a time, never concurrently: ConnectionMade once, then DataReceived for
// each chunk of bytes in stream order, then ConnectionLost exactly once. A
// Protocol therefore needs no mutex for its own state.
type Protocol interface {
	// ConnectionMade is called once, before any other callback, with the
	// connection's Transport. The Transport stays valid until ConnectionLost.
	ConnectionMade(t Transport)
	// DataReceived is called with the next bytes read from the peer. data is
	// only valid during the call: copy what must be kept.
	DataReceived(data []byte)
	// ConnectionLost is called once, last. reason is nil when the connection
	// was closed cleanly by either side, otherwise an error that matches one of
	// the package's sentinel errors (errors.Is), a codec error or a network
	// error.
	ConnectionLost(reason error)
}

// Factory builds the Protocol for each new connection.
type Factory interface {
	// BuildProtocol returns the Protocol for a connection from remote, or nil to
	// refuse the connection (it is then closed at once).
	BuildProtocol(remote net.Addr) Protocol
}

// FactoryFunc adapts a function to a Factory.
type FactoryFunc func(remote net.Addr) Protocol

// BuildProtocol calls f(remote).
func (f FactoryFunc) BuildProtocol(remote net.Addr) Protocol { return f(remote) }

// AddrIgnorer is implemented by a Factory whose BuildProtocol does not use
// its remote argument, as none of the protocols in this module's protocols/
// tree does. When IgnoresAddr returns true a server may call
// BuildProtocol(nil), and so need not make the peer's address for the call.
// Package server does so on its descriptor path, where that address was an
// allocation per accepted connection and garbage once the Protocol was
// built: such garbage is still in the heap, and in the process's memory,
// when the connection is idle (about 30 bytes per idle connection in the S5
// benchmark; see docs/benchmarks.md). The Protocol still has the address:
// its Transport's RemoteAddr gives it.
type AddrIgnorer interface {
	// IgnoresAddr reports whether BuildProtocol may be given nil.
	IgnoresAddr() bool
}

// Starter is implemented by a Factory that needs to run code before its first
// listener starts (Twisted's startFactory). A Start error aborts the start.
type Starter interface {
	// Start prepares the Factory; ctx is done once the server closes.
	Start(ctx context.Context) error
}

// Stopper is implemented by a Factory that needs to run code after its last
// listener stopped (Twisted's stopFactory).
type Stopper interface {
	// Stop releases what Start prepared.
	Stop()
}

// Poster is implemented by the Transports that can run a function
// serialized with their connection's callbacks: the runtime's, and the
// codec package's (codec.NewProtocol's FrameTransport, a LineReceiver's,
// which pass Post on to the Transport under them, or run fn at once over
// one without Post).
// It is not part of Transport, which test doubles and wrappers implement
// too; reach it with a type assertion:
//
//	if p, ok := t.(weft.Poster); ok {
//		p.Post(func() { ... }) // runs like a callback, never after ConnectionLost
//	}
//
// See Conn.Post for when fn runs and when it is dropped.
type Poster interface {
	// Post runs fn serialized with the connection's callbacks.
	Post(fn func())
}

// ShutdownNotifier is implemented by a Protocol that wants to be told of a
// graceful shutdown before its connection is closed (for example to send a
// goodbye message). Shutdown is called like any other callback: never
// concurrently with the Protocol's other callbacks, and before ConnectionLost.
type ShutdownNotifier interface {
	// Shutdown tells the Protocol that a graceful shutdown began.
	Shutdown()
}

// HalfCloseable is implemented by a Protocol that goes on writing after its
// peer ended its stream (Twisted's IHalfCloseableProtocol): a server that
// reads a request to its end, then answers. Without it, the peer's end of
// stream closes the connection once the output already written is sent.
type HalfCloseable interface {
	// ReadConnectionLost is called, like the other callbacks, when the
	// peer ended its stream: no DataReceived follows. The connection
	// stays open for writing until the Protocol ends it (LoseConnection,
	// LoseWriteConnection, Abort), or a timeout or a write error does;
	// ConnectionLost comes last, as always. It is not called on a
	// connection whose own output was ended by LoseWriteConnection: that
	// connection closes, both directions being done. TCP does not tell a
	// peer's half-close from its full close, so it is also called when the
	// peer closed altogether; what is written then may be refused by the
	// peer with a reset.
	ReadConnectionLost()
}

// ReasonCloser is implemented by the Transports that can close with a
// reason of their own: the runtime's, the codec package's, which pass it
// on to the Transport under them, and a process.Stream's. Reach it with a type assertion, or call
// the LoseConnectionWithReason function.
type ReasonCloser interface {
	// LoseConnectionWithReason is LoseConnection (stop reading, send the
	// pending output, close) with reason given to ConnectionLost, and
	// returned by Serve, instead of nil.
	LoseConnectionWithReason(reason error)
}

// HalfCloser is implemented by the Transports that can end their output
// while they go on reading (Twisted's loseWriteConnection): the runtime's,
// and the codec package's, which pass it on to the Transport under them.
// Reach it with a type assertion, or call the LoseWriteConnection function.
type HalfCloser interface {
	// LoseWriteConnection sends the output written so far, then ends the
	// connection's output: the peer reads the end of the stream (a TCP
	// FIN, after a close_notify alert under TLS) while DataReceived goes
	// on. Writes from then on return ErrClosed. Once the peer ends its
	// side too, the connection closes and ConnectionLost(nil) follows;
	// called after the peer's end of stream, it is LoseConnection. Under
	// TLS the half-close waits for the handshake (a LoseConnection
	// meanwhile closes at once: nothing is left to send). If it fails (a
	// failed handshake, a socket already reset), the connection is closed
	// instead. The connection is still open: a peer that takes no output,
	// or makes no handshake, holds the half-close as long as
	// Options.IdleTimeout and (for the handshake) HandshakeTimeout allow;
	// CloseTimeout bounds closes, not this.
	//
	// A net.Conn that is not a socket half-closes if it has a CloseWrite
	// method (endpoint's stdio: over pipes closes standard output). Before
	// the peer's end of stream it returns ErrNotSupported, changing
	// nothing, on a connection that cannot half-close: a net.Pipe, a
	// net.Conn wrapper that hides its socket, or a wrapper around a
	// *tls.Conn (a *tls.Conn itself, as a TLS listener's connections are,
	// half-closes); after it, it is LoseConnection there too. It returns
	// ErrClosed once the connection is closing or its output already ended.
	LoseWriteConnection() error
}

// Producer is a source of output written to a Transport (Twisted's push
// producer). The Transport calls PauseProducing when its write buffer passes the
// high-water mark or is full at MaxWriteBuffer, and ResumeProducing when it
// falls to the low-water mark, counting what is still being written (a pause
// that the buffer's drain overtook before it was delivered is still told,
// followed by the resume, so a producer that saw the mark passed, or found
// no room, hears that it may go on);
// StopProducing is called once when the connection is lost. These calls are
// serialized with the connection's Protocol callbacks: a Protocol may be its own
// Producer without a mutex.
type Producer interface {
	// PauseProducing asks the producer to stop writing for now.
	PauseProducing()
	// ResumeProducing asks it to write again.
	ResumeProducing()
	// StopProducing tells it the connection is lost: write no more. Only
	// the producer registered when the connection ends is told, once (and
	// one registered on an ended connection, at once); a producer that
	// UnregisterProducer removed, or another RegisterProducer replaced, is
	// not.
	StopProducing()
}

// Transport is a connection as its Protocol sees it. Every method is safe to call
// from any goroutine, at any time; after the connection is lost, writes return
// ErrClosed and the other methods do nothing.
type Transport interface {
	// Write queues a copy of p for sending and returns at once; it never waits
	// for the peer. The bytes of one Write are never interleaved with the bytes
	// of another. Writes made during one callback are flushed together. It
	// returns ErrClosed once the connection is closing or lost, and
	// ErrSlowConsumer (closing the connection) if p would take a non-empty
	// write buffer past MaxWriteBuffer (into an empty one, p is taken whatever
	// its size).
	io.Writer
	// WriteBuffers queues the buffers as one atomic write (Twisted's
	// writeSequence).
	WriteBuffers(bufs ...[]byte) error
	// LoseConnection stops reading, flushes pending output, then closes the
	// connection. ConnectionLost receives nil, or ErrCloseTimeout if the
	// peer took none of the output for Options.CloseTimeout (the
	// connection is then aborted). If the socket then holds input the
	// Protocol did not read, it is half-closed first and what the peer
	// still sends is discarded until the peer ends its side, for at most
	// 2 s and 1 MiB (a TCP close with unread input would reset the
	// connection and discard the output not yet sent). On Linux a TCP
	// socket without such input lingers the same way while the peer has not
	// acknowledged all the output, and closes once it has: what the peer
	// sends after that is answered with a reset. ConnectionLost comes after
	// the close. Idempotent.
	LoseConnection()
	// Abort closes the connection at once, discarding pending output
	// (under TLS without a close_notify alert: the peer sees a cut stream).
	// ConnectionLost receives ErrAborted, unless the connection was already
	// closing or closed for a reason of its own (LoseConnectionWithReason, a
	// read or write error), which it keeps.
	Abort()
	// LocalAddr is the local address of the connection.
	LocalAddr() net.Addr
	// RemoteAddr is the peer's address (the original client's address when a
	// trusted PROXY protocol header was received). A TCP address is a
	// *net.TCPAddr; the runtime's Transport returns a new one on each call
	// (it keeps an IPv4 address packed in 8 bytes), so a caller may keep or
	// change it.
	RemoteAddr() net.Addr
	// PauseReading stops delivering data; the bytes the peer sends meanwhile
	// stay in the kernel buffer. Nothing is lost or reordered. A paused
	// connection still ends when its socket reports an error (the peer's
	// reset, or a keep-alive that found the peer gone; over TLS, once the
	// handshake is done): ConnectionLost gets that error, and the bytes not
	// yet delivered are dropped, as TCP discards a reset connection's data:
	// holding them for a ResumeReading that may never come would keep a
	// dead connection for ever. The peer's plain end of stream waits, with
	// its bytes, for ResumeReading.
	PauseReading()
	// ResumeReading restarts delivery after PauseReading.
	ResumeReading()
	// RegisterProducer registers p to be paused and resumed by the write
	// buffer's high and low-water marks. It replaces any earlier producer. If
	// the buffer is already above the high-water mark, or full at
	// MaxWriteBuffer, p is paused at once. On a lost connection p is told
	// StopProducing instead.
	RegisterProducer(p Producer)
	// UnregisterProducer removes the registered producer.
	UnregisterProducer()
	// Buffered returns the number of bytes written but not yet handed to
	// the socket.
	Buffered() int
	// Context returns a context that is done when the connection is lost.
	Context() context.Context
	// StartTLS flushes pending output in clear text, then switches the
	// connection to TLS in both directions (server role for accepted
	// connections, client role for dialled ones). Bytes received after the
	// command and not yet delivered are handed to TLS, never delivered as
	// clear text (those delivered with it go back through the StartTLS
	// function). A failed handshake ends the connection with a reason
	// naming it. It returns
	// ErrTLSActive on a connection already using TLS, and ErrClosed once it
	// is closing or half-closed (either direction). On the readiness engine
	// the connection first leaves the engine for a goroutine of its own,
	// which makes the switch (crypto/tls reads and writes block).
	StartTLS(cfg *tls.Config) error
}
