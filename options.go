package weft

import (
	"fmt"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options. docs/operations.md lists them with every other limit.
const (
	// DefaultHighWater is the write-buffer size above which a registered
	// Producer is paused (Twisted's bufferSize).
	DefaultHighWater = 64 << 10
	// DefaultLowWater is the write-buffer size at or below which a paused
	// Producer is resumed.
	DefaultLowWater = 16 << 10
	// DefaultMaxWriteBuffer bounds the bytes queued for one connection; a Write
	// that would take a non-empty buffer past it closes the connection with
	// ErrSlowConsumer.
	DefaultMaxWriteBuffer = 1 << 20
	// DefaultReadBufferSize is the size of one read from the socket (Twisted
	// reads 64 KiB at a time). The buffer is pooled and held only during a
	// read and the DataReceived call that follows it.
	DefaultReadBufferSize = 64 << 10
	// MaxReadBufferSize is the largest ReadBufferSize: one read buffer per
	// reading connection (or engine worker) must stay reasonable.
	MaxReadBufferSize = 64 << 20
)

// Options tunes the runtime for one connection. The zero value (or a nil
// *Options) gives the defaults; every field documents its zero value.
type Options struct {
	// HighWater: above this many buffered output bytes a registered Producer is
	// paused (and when the buffer is full at MaxWriteBuffer, which only
	// matters when MaxWriteBuffer equals HighWater). Zero means
	// DefaultHighWater.
	HighWater int
	// LowWater: at or below this many buffered bytes a paused Producer is
	// resumed. Zero means DefaultLowWater, or HighWater/4 when that is lower.
	// Must not exceed HighWater.
	LowWater int
	// MaxWriteBuffer bounds the output buffered for the connection: a Write
	// that would take a non-empty buffer past it fails with ErrSlowConsumer
	// and closes the connection. A Write into an empty buffer is taken
	// whatever its size (the peer has taken everything before it), so the
	// buffer holds at most the larger of MaxWriteBuffer and one Write. Zero
	// means DefaultMaxWriteBuffer, or HighWater when that is set higher.
	// Must be at least HighWater.
	MaxWriteBuffer int
	// ReadBufferSize is the maximum number of bytes read (and delivered to
	// DataReceived) at once. Zero means DefaultReadBufferSize; at most
	// MaxReadBufferSize. A connection that is not a socket (TLS, net.Pipe)
	// waits for data with a 1 KiB read, and reads this much only while
	// reads come back full.
	ReadBufferSize int
	// IdleTimeout closes the connection with ErrIdleTimeout when no byte was
	// read or written for this long (pending output is discarded); a
	// graceful close it cuts short that had a reason of its own
	// (LoseConnectionWithReason) ends with ErrIdleTimeout wrapping that
	// reason. Zero means no idle timeout.
	IdleTimeout time.Duration
	// CloseTimeout bounds a graceful close that waits for output to drain
	// (LoseConnection, LoseConnectionWithReason — a codec's close after a
	// decode error —, the close after the peer's end of stream, Shutdown):
	// once the close has to wait for the peer to take output, if the peer
	// takes no byte of it for CloseTimeout, the connection is aborted as by
	// Transport.Abort (a reset; pending output is discarded) and
	// ConnectionLost receives ErrCloseTimeout. It is a stall timer, not a
	// deadline from LoseConnection: every write the socket takes restarts
	// it, so a slow peer that keeps reading a large final reply is not cut,
	// while one that reads nothing more is. No timer exists until a close
	// waits for the peer: a connection that is never closed gracefully, or
	// whose output leaves at once, has none, and the timer is stopped when
	// the connection ends. Zero means no bound (a peer that never reads
	// holds the connection until IdleTimeout, if set, or forever); the
	// server package sets a default.
	CloseTimeout time.Duration
	// HandshakeTimeout bounds a StartTLS handshake: one not done within it
	// closes the connection, and ConnectionLost receives an error matching
	// ErrHandshakeTimeout. Zero means no bound of its own (IdleTimeout, if
	// set, bounds it); the server package passes its HandshakeTimeout.
	HandshakeTimeout time.Duration
	// HandshakeLimiter, if set, bounds the StartTLS handshakes running at
	// once: a handshake takes a slot (TryAcquire) before its first TLS byte
	// and gives it back (Release) when it ends, whatever the outcome. With
	// no slot free the connection is closed without a TLS byte, and
	// ConnectionLost receives an error matching ErrRejected. The server
	// package passes one that shares its MaxHandshakes slots. Nil means no
	// bound.
	HandshakeLimiter HandshakeLimiter
	// Client marks a dialled connection: StartTLS then takes the client role.
	Client bool
	// RemoteAddr, if set, is reported by Transport.RemoteAddr instead of the
	// connection's own (for example the client address from a PROXY header).
	RemoteAddr net.Addr
	// Preread holds bytes already read from the connection by the caller (for
	// example after a PROXY header); they are delivered before anything read
	// from the socket. The runtime does not modify the slice.
	Preread []byte
	// Engine, if set, drives the connection from a readiness engine (epoll
	// on Linux): an idle connection then has no goroutine and no buffer.
	// Connections that are not sockets (net.Pipe, TLS) are served by a
	// goroutine whatever this says, and a connection whose Protocol calls
	// StartTLS leaves the engine for a goroutine of its own, which makes
	// the switch. Nil means a goroutine per connection.
	Engine *Engine
	// Counters, if set, receives the connection's byte and frame counts; many
	// connections may share one Counters.
	Counters *Counters
}

// HandshakeLimiter bounds handshakes running at once across the connections
// that share it (see Options.HandshakeLimiter). Its methods are called from
// the connections' goroutines, concurrently. A connection's options are
// shared with others that have the same settings when the limiter is
// comparable (a pointer, say), as it should be.
type HandshakeLimiter interface {
	// TryAcquire takes a slot if one is free and reports whether it did;
	// it does not wait.
	TryAcquire() bool
	// Release gives back a slot taken by TryAcquire.
	Release()
}

// Counters counts bytes and frames in and out. It is safe for concurrent use;
// a server shares one between all its connections. Bytes in are counted per
// read as they are delivered to the Protocol (input read and discarded while
// a connection closes is not counted), bytes out per write system call; frames out written with WriteParts are
// counted when the output holding them is handed to the socket (so with the
// bytes, not before), and codecs count frames in after delivering a read's
// frames: the counts are exact, not per-frame events.
type Counters struct {
	BytesIn   atomic.Int64 // bytes read from the peers and delivered
	BytesOut  atomic.Int64 // bytes written to the peers
	FramesIn  atomic.Int64 // frames decoded by codecs
	FramesOut atomic.Int64 // frames written (SendFrame, WriteParts)
}

// frameCounter is implemented by the runtime's Transport.
type frameCounter interface {
	addFrames(in, out int64)
}

// AddFrames adds to the frame counts of the connection behind t, if it has
// Counters. Codecs call it; a Transport not made by this package ignores it.
func AddFrames(t Transport, in, out int64) {
	if tr, ok := t.(*transport); ok {
		// A pointer comparison; the assertion to frameCounter below is a
		// lookup in the runtime's assertion cache, once per read.
		(*Conn)(tr).addFrames(in, out)
		return
	}
	if fc, ok := t.(frameCounter); ok {
		fc.addFrames(in, out)
	}
}

// resolved is Options with the defaults filled in.
type resolved struct {
	high, low, max, readSize int
	idle, closeTO, hsTO      time.Duration
	client                   bool
	counters                 *Counters
	engine                   *Engine
	hsLimit                  HandshakeLimiter
}

// pauses reports whether a registered Producer is paused with n bytes
// buffered: above the high-water mark, or with the buffer full (at
// MaxWriteBuffer, where no Write fits). The second matters only when
// MaxWriteBuffer equals HighWater: a buffer filled to it never passes the
// mark, and a Producer not paused there would never hear of the room a
// drain makes.
func (r *resolved) pauses(n int) bool { return n > r.high || n >= r.max }

// resolvedCache shares one resolved value between the connections that use
// the same settings (a server's), instead of a copy in every Conn.
var resolvedCache struct {
	sync.RWMutex
	m map[resolved]*resolved
}

// resolveShared is resolve, returning a shared copy.
func (o *Options) resolveShared() (*resolved, error) {
	r, err := o.resolve()
	if err != nil {
		bad := r
		return &bad, err
	}
	if r.hsLimit != nil && !comparableValue(r.hsLimit) {
		// Not a map key (hashing it would panic): not shared. The value
		// is checked, not its type: a comparable type (a struct of an
		// interface, say) may hold a value that is not.
		p := new(resolved)
		*p = r
		return p, nil
	}
	resolvedCache.RLock()
	p := resolvedCache.m[r]
	resolvedCache.RUnlock()
	if p != nil {
		return p, nil
	}
	resolvedCache.Lock()
	defer resolvedCache.Unlock()
	if p := resolvedCache.m[r]; p != nil {
		return p, nil
	}
	if resolvedCache.m == nil || len(resolvedCache.m) >= 64 {
		// Bounded: settings that keep changing just stop being shared.
		resolvedCache.m = make(map[resolved]*resolved)
	}
	p = new(resolved) // r itself stays on the stack: no garbage per connection
	*p = r
	resolvedCache.m[r] = p
	return p, nil
}

// comparableValue reports whether v, not nil, can be a map key (hashing it
// would panic otherwise). A pointer (the server's limiter) is answered
// from its type: reflect.Value's Comparable allocates, once per
// connection here.
func comparableValue(v any) bool {
	if reflect.TypeOf(v).Kind() == reflect.Pointer {
		return true
	}
	return reflect.ValueOf(v).Comparable()
}

// Validate reports the first invalid field, naming it.
func (o *Options) Validate() error {
	_, err := o.resolve()
	return err
}

func (o *Options) resolve() (resolved, error) {
	var r resolved
	if o != nil {
		r = resolved{o.HighWater, o.LowWater, o.MaxWriteBuffer, o.ReadBufferSize,
			o.IdleTimeout, o.CloseTimeout, o.HandshakeTimeout, o.Client, o.Counters, o.Engine,
			o.HandshakeLimiter}
	}
	switch {
	case r.high < 0:
		return r, fmt.Errorf("weft: Options.HighWater %d is negative", r.high)
	case r.low < 0:
		return r, fmt.Errorf("weft: Options.LowWater %d is negative", r.low)
	case r.max < 0:
		return r, fmt.Errorf("weft: Options.MaxWriteBuffer %d is negative", r.max)
	case r.readSize < 0 || r.readSize > MaxReadBufferSize:
		return r, fmt.Errorf("weft: Options.ReadBufferSize %d is out of range [0, %d]", r.readSize, MaxReadBufferSize)
	case r.idle < 0:
		return r, fmt.Errorf("weft: Options.IdleTimeout %v is negative", r.idle)
	case r.closeTO < 0:
		return r, fmt.Errorf("weft: Options.CloseTimeout %v is negative", r.closeTO)
	case r.hsTO < 0:
		return r, fmt.Errorf("weft: Options.HandshakeTimeout %v is negative", r.hsTO)
	}
	if r.high == 0 {
		r.high = DefaultHighWater
	}
	if r.low == 0 {
		r.low = min(DefaultLowWater, r.high/4)
	}
	if r.max == 0 {
		r.max = max(DefaultMaxWriteBuffer, r.high)
	}
	if r.readSize == 0 {
		r.readSize = DefaultReadBufferSize
	}
	if r.low > r.high {
		return r, fmt.Errorf("weft: Options.LowWater %d exceeds HighWater %d", r.low, r.high)
	}
	if r.high > r.max {
		return r, fmt.Errorf("weft: Options.HighWater %d exceeds MaxWriteBuffer %d", r.high, r.max)
	}
	return r, nil
}
