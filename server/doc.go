// Package server runs one weft.Factory on any number of listeners and manages
// the connections it accepts: limits, overflow policies, timeouts, graceful
// shutdown, the PROXY protocol and statistics.
//
// The pieces:
//
//   - Server: the configuration struct (its zero value plus a Factory works)
//     and the entry points Serve (any net.Listener), ServeProxy (a listener
//     behind a PROXY-protocol load balancer), Listen and ListenEndpoint
//     (endpoint strings, honouring their TLS and proxy= settings).
//   - Connection manager: every live connection has an ID; Len, Get, Range
//     and Broadcast observe and reach them. Conn is the handle; Addrs lists
//     the listeners' addresses.
//   - Limits: MaxConns with an Overflow policy (Reject, QueueFIFO, QueueLIFO),
//     MaxQueue, QueueTimeout, MaxConnsPerPeer, IdleTimeout, CloseTimeout
//     (on by default: a client that stops reading during a graceful close
//     is aborted after DefaultCloseTimeout), HandshakeTimeout,
//     MaxHandshakes (connections in a TLS handshake, a StartTLS one
//     included, or a PROXY header at once),
//     MaxLingering (rejected connections lingering after RejectMessage), and
//     the write-buffer limits passed to the runtime; Engine hands the
//     connections to a weft readiness engine (on Linux the server makes its
//     own when Engine is nil, unless NoEngine is set).
//   - Shutdown (graceful, bounded by a context) and Close (immediate).
//   - Stats: Snapshot, PublishExpvar, close reasons by name (CloseReason),
//     the ConnState hook and log/slog logging.
//
// Every accepted connection runs on its own goroutine: the PROXY header is
// read there, and the TLS handshake run from there on a goroutine of its own
// (never on the accept loop), bounded by HandshakeTimeout and, in number, by
// MaxHandshakes; then the connection is
// admitted, queued or rejected, and an admitted connection is driven by
// weft.NewConn(...).Serve on that goroutine (or, with an engine — the
// default on Linux —, handed to it with Start, so that it holds no
// goroutine while idle, unless it is TLS or until its Protocol calls
// StartTLS).
//
// With an engine, on a plain TCP listener (no TLS, no PROXY protocol) and
// without MaxConns, every connection runs at once, so no net.Conn is made at
// all: the accept loop takes descriptors with accept4 and a setup goroutine
// (or the accept loop itself, when 64 are being set up) hands each to the
// engine with weft.NewConnFD after the Factory built its
// Protocol (a connection refused by MaxConnsPerPeer or shutdown is turned
// into a net.Conn for the usual reject path). This saves the net.Conn's
// memory and system calls; closing the listener still stops Serve (checked
// at least every 500 ms).
//
// docs/operations.md lists every knob, its default and what a client sees.
package server
