package weft

import (
	"errors"
	"fmt"
	"io"
)

// Sentinel errors. ConnectionLost's reason matches one of these with errors.Is,
// or is a codec or network error, or nil for a clean close.
var (
	// ErrClosed is returned by writes on a connection that is closing or lost.
	ErrClosed = errors.New("weft: connection closed")
	// ErrAborted: the connection was closed with Abort.
	ErrAborted = errors.New("weft: connection aborted")
	// ErrSlowConsumer: the peer did not read fast enough and a Write would
	// have taken the (non-empty) write buffer past MaxWriteBuffer.
	ErrSlowConsumer = errors.New("weft: slow consumer")
	// ErrIdleTimeout: no byte moved in either direction for IdleTimeout.
	ErrIdleTimeout = errors.New("weft: idle timeout")
	// ErrCloseTimeout: a graceful close (LoseConnection) waited for its
	// output to drain and the peer took none of it for Options.CloseTimeout;
	// the connection was then aborted (a reset, the output discarded). When
	// the close had a reason of its own (LoseConnectionWithReason, such as
	// a codec's decode error), the reason wraps that one too, so errors.Is
	// matches both. It does not match ErrIdleTimeout (nor ErrAborted):
	// it is a separate limit, measuring only output the peer takes during
	// a close, not traffic either way, and on by default in the server
	// where IdleTimeout is not; a reason that told them apart only by
	// text would send an operator tuning the wrong one.
	ErrCloseTimeout = errors.New("weft: close timeout")
	// ErrHandshakeTimeout: a TLS handshake or PROXY header did not complete in
	// time.
	ErrHandshakeTimeout = errors.New("weft: handshake timeout")
	// ErrHandshakeFailed: a StartTLS handshake failed (the peer's alert, a
	// bad certificate, the peer gone during it); the reason also wraps
	// crypto/tls's error. One that timed out matches ErrHandshakeTimeout
	// too.
	ErrHandshakeFailed = errors.New("weft: handshake failed")
	// ErrServerShutdown: the server shut down and closed the connection (at
	// once with Close, or when it did not drain before the shutdown
	// deadline), or its readiness Engine was closed under it.
	ErrServerShutdown = errors.New("weft: server shutdown")
	// ErrRejected: the connection was refused by a server limit.
	ErrRejected = errors.New("weft: connection rejected")
	// ErrQueueTimeout: the connection waited in the overflow queue for longer
	// than QueueTimeout.
	ErrQueueTimeout = errors.New("weft: queue timeout")
	// ErrProtocolPanic: a Protocol callback panicked; the connection was
	// aborted. The reason's text includes the panic value (formatted with
	// %v, not wrapped).
	ErrProtocolPanic = errors.New("weft: protocol callback panicked")
	// ErrTLSActive: StartTLS was called on a connection already using TLS.
	ErrTLSActive = errors.New("weft: TLS already active")
	// ErrNotSupported: the operation is not supported on this connection.
	ErrNotSupported = errors.New("weft: not supported")
	// ErrTLSTruncated: the stream under TLS ended without the peer's
	// close_notify alert, so what was read may have been cut short (by
	// the peer or by anyone on the path). It also matches
	// io.ErrUnexpectedEOF. The connection closes as after LoseConnection
	// (its pending output is sent) and ConnectionLost gets this instead of
	// nil; a HalfCloseable Protocol is not told ReadConnectionLost, which
	// is for a clean end of the peer's stream. As in Twisted, which reports
	// ConnectionLost there. Only TLS layers weft makes can tell (StartTLS,
	// the server's tls: endpoints, the endpoint package's tls: clients): a
	// *tls.Conn built by the caller reads such an end as a clean one at a
	// record boundary (inside a record, as io.ErrUnexpectedEOF).
	ErrTLSTruncated = fmt.Errorf("weft: TLS stream ended without close_notify (it may be cut short): %w", io.ErrUnexpectedEOF)
)
