package server

import (
	"cmp"
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftkit/weft"
)

// Defaults for the Server limits that are on unless configured otherwise.
// docs/operations.md lists them with every other limit.
const (
	// DefaultMaxQueue bounds the connections held beyond MaxConns (queued, or
	// running the OverflowFactory's Protocol) when MaxQueue is zero.
	DefaultMaxQueue = 128
	// DefaultHandshakeTimeout bounds a TLS handshake, the reading of a
	// PROXY header and the wait for an untrusted client's first bytes on a
	// PROXY listener when HandshakeTimeout is zero.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxHandshakes bounds the connections in a TLS handshake, a
	// PROXY-header read or the wait for an untrusted client's first bytes
	// on a PROXY listener at once when MaxHandshakes is zero. A fixed number,
	// not one derived from MaxConns (zero, unlimited, by default): an honest
	// handshake lasts a round trip or two, so 1024 at once is room for some
	// 100,000 handshakes a second, more than a core can sign, while a flood
	// of silent clients holds at most that many descriptors, and twice as
	// many goroutines (a TLS handshake runs on one of its own).
	DefaultMaxHandshakes = 1024
	// DefaultMaxLingering bounds the rejected connections lingering after
	// RejectMessage at once when MaxLingering is zero. A client that reads
	// the message and hangs up ends its linger at once, so only clients that
	// do neither stay; beyond these, losing the message is cheaper than a
	// goroutine and a descriptor each for RejectLinger.
	DefaultMaxLingering = 256
	// RejectLinger bounds how long a rejected connection is kept open after
	// the reject message, reading and discarding what the client still sends,
	// so that the message is not destroyed by a TCP reset.
	RejectLinger = 2 * time.Second
	// DefaultCloseTimeout is CloseTimeout when zero: a connection whose
	// graceful close (LoseConnection, a codec's close after a decode
	// error, Shutdown) waits for a client that takes no byte of its output
	// for this long is aborted. A stall timer, not a deadline: a client
	// that reads a large final reply slowly but steadily is not cut, so it
	// need only outlast a client that has stopped reading for good; one
	// minute is far beyond any live reader's pause, and the value the
	// protocols' own bounds use (wire.DefaultCloseTimeout,
	// poetry.DefaultStallTimeout).
	DefaultCloseTimeout = time.Minute
	// QueuePollInterval is how often a queued connection is checked for a
	// client that hung up where its socket cannot be watched. On Linux the
	// queued connection's wait watches the socket instead and sees a
	// hang-up at once.
	QueuePollInterval = 500 * time.Millisecond
)

// Errors returned by the Server.
var (
	// ErrServerClosed is returned by Serve, Listen and ListenEndpoint after
	// Shutdown or Close, and by them when called afterwards.
	ErrServerClosed = errors.New("server: closed")
	// ErrInvalidConfig is wrapped by every configuration error; the message
	// names the field.
	ErrInvalidConfig = errors.New("server: invalid configuration")
	// ErrUntrustedProxy is the reason a connection from a source outside the
	// trusted prefixes that sent a PROXY header is refused.
	ErrUntrustedProxy = errors.New("server: PROXY header from untrusted source")
	// ErrProxyHeader: a trusted source sent a malformed PROXY header.
	ErrProxyHeader = errors.New("server: bad PROXY header")
	// ErrRefused: the Factory returned a nil Protocol.
	ErrRefused = errors.New("server: refused by factory")
	// ErrQueueHangup: a queued client hung up before it got a slot.
	ErrQueueHangup = errors.New("server: client hung up while queued")
)

// Overflow is what happens to a connection that arrives when MaxConns
// connections are active.
type Overflow int

const (
	// Reject closes the connection at once, after RejectMessage if set, or
	// runs the OverflowFactory's Protocol if set. The zero value.
	Reject Overflow = iota
	// QueueFIFO holds the connection unread until a slot frees; the oldest
	// waiting connection gets the slot first.
	QueueFIFO
	// QueueLIFO is QueueFIFO, except the newest waiting connection gets the
	// slot first.
	QueueLIFO
)

// String returns "reject", "fifo" or "lifo".
func (o Overflow) String() string {
	switch o {
	case Reject:
		return "reject"
	case QueueFIFO:
		return "fifo"
	case QueueLIFO:
		return "lifo"
	}
	return fmt.Sprintf("Overflow(%d)", int(o))
}

// Server serves one Factory on any number of listeners. Set the fields, then
// call Serve, ServeProxy, Listen or ListenEndpoint (as many times as there are
// listeners, each usually on its own goroutine). The fields must not change
// once serving started. A Server must not be copied after first use.
type Server struct {
	// Factory builds the Protocol of every admitted connection; a nil
	// Protocol refuses the connection (closed at once); a BuildProtocol that
	// panics costs that connection only (closed, reason panic, logged at
	// Error). Required (not nil, nor a nil weft.FactoryFunc; the same goes
	// for OverflowFactory when set). If it implements
	// weft.Starter / weft.Stopper, Start
	// runs before the first listener accepts and Stop after the last
	// listener stopped and its last connection ended, each once (never
	// Start again after Close or Shutdown began); Close and Shutdown
	// return after Stop did and after every Serve call ended, so Start,
	// Stop and BuildProtocol must not call them (nor wait for something
	// that does): that deadlocks (Start runs in Serve).
	Factory weft.Factory

	// MaxConns bounds the connections running a Protocol at once. Zero means
	// no limit (Overflow, MaxQueue and QueueTimeout are then unused).
	MaxConns int
	// Overflow is the policy for a connection beyond MaxConns. Zero means
	// Reject.
	Overflow Overflow
	// MaxQueue bounds the connections held beyond MaxConns: queued ones
	// (QueueFIFO/QueueLIFO) or ones running the OverflowFactory's Protocol.
	// Beyond it a connection is rejected. Zero means DefaultMaxQueue.
	MaxQueue int
	// QueueTimeout bounds how long a connection waits in the queue; then it
	// gets RejectMessage and is closed. Zero means it waits until a slot
	// frees, it hangs up, or the server shuts down.
	QueueTimeout time.Duration
	// RejectMessage is written to a rejected connection (over MaxConns,
	// MaxQueue, MaxConnsPerPeer, or after QueueTimeout), and to a queued
	// one when a graceful Shutdown ends its wait, before it is closed, for
	// example []byte("Too many connections, try later\r\n"). Nil means
	// the connection is closed without a word (a queued one at Shutdown
	// still gets a clean end of stream, not a reset).
	RejectMessage []byte
	// OverflowFactory, with Overflow == Reject, builds the Protocol run for a
	// connection beyond MaxConns instead of writing RejectMessage (Twisted's
	// overflowProtocol). At most MaxQueue such connections run at once. Nil
	// means none.
	OverflowFactory weft.Factory
	// MaxConnsPerPeer bounds the connections (admitted, queued or in
	// overflow) from one IP address, the PROXY header's source when there is
	// one. Beyond it a connection is rejected. It also bounds, separately,
	// one address's connections in their handshake at once (a TLS
	// handshake, or an untrusted source's first bytes on a PROXY listener;
	// a trusted proxy's connections count only for a TLS handshake after
	// the header, against the client it names): beyond it such a
	// connection is closed at once, without a byte, so that one address
	// cannot take every MaxHandshakes slot. Both count in
	// Snapshot.Rejected["per peer"]. Zero means no limit.
	MaxConnsPerPeer int

	// IdleTimeout closes a connection with weft.ErrIdleTimeout when no byte
	// moved in either direction for this long. Zero means no idle timeout.
	IdleTimeout time.Duration
	// KeepAlive is the TCP keep-alive idle time of accepted TCP
	// connections: after this long without a segment from the client, the
	// kernel probes it (every 15 s, 9 times) and a client that vanished
	// (its host down, a NAT that forgot the flow) ends its connection with
	// an error instead of holding it, its descriptor and its MaxConns slot
	// for ever. Zero means Go's default: 15 s for the connections the
	// server accepts as descriptors (an engine — on Linux the server's own
	// by default — on a plain TCP listener),
	// and the listener's own setting for those its Accept returns (a
	// net.Listener from net.Listen or the endpoint package has Go's
	// default; one whose net.ListenConfig turned keep-alive off needs a
	// negative KeepAlive here to keep it off for both). Negative turns
	// keep-alive off; positive sets it on every accepted TCP connection.
	// On the descriptor path the server sets it, with TCP_NODELAY, on the
	// listening socket, whose accepted sockets inherit it.
	KeepAlive time.Duration
	// CloseTimeout is passed to weft.Options.CloseTimeout: a connection
	// whose graceful close (LoseConnection, a codec's close after a decode
	// error, the close after the client's end of stream, Shutdown) waits
	// for the client to take its output is aborted (a reset, the output
	// discarded; reason "close timeout", weft.ErrCloseTimeout) when the
	// client takes no byte of it for this long, so that a client that
	// stops reading after provoking a close cannot keep its connection,
	// its descriptor, its output and its MaxConns slot. A stall timer:
	// every write the client takes restarts it. Zero means
	// DefaultCloseTimeout; negative means none (such a client then holds
	// its connection until IdleTimeout, or forever without one).
	CloseTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake, the reading of a PROXY
	// header and the wait for an untrusted client's first bytes on a PROXY
	// listener, for each connection, and a Protocol's StartTLS handshake
	// (weft.Options.HandshakeTimeout). Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxHandshakes bounds the connections in their handshake at once: a
	// TLS handshake, a PROXY header, or the first bytes awaited from an
	// untrusted client on a PROXY listener (each holds a goroutine, two for
	// TLS, and a descriptor for up to HandshakeTimeout, and MaxConns counts
	// only admitted connections). Beyond it a new connection that needs a
	// handshake is closed at once, without a goroutine or a byte, and
	// counted in Snapshot.Rejected["max handshakes"]. A Protocol's
	// StartTLS handshake takes a slot too (weft.Options.HandshakeLimiter):
	// beyond it the connection closes, with weft.ErrRejected, and is
	// counted the same way. Zero means DefaultMaxHandshakes.
	MaxHandshakes int
	// MaxLingering bounds the rejected connections lingering at once after
	// RejectMessage (for up to RejectLinger each, see RejectLinger). Beyond
	// it a rejected connection is closed at once without the message,
	// counted in Snapshot.LingerSkipped. Zero means DefaultMaxLingering.
	MaxLingering int
	// HighWater, LowWater, MaxWriteBuffer and ReadBufferSize are passed to
	// weft.Options for every connection. Zero means the weft defaults
	// (weft.DefaultHighWater, weft.DefaultLowWater, weft.DefaultMaxWriteBuffer,
	// weft.DefaultReadBufferSize).
	HighWater, LowWater, MaxWriteBuffer, ReadBufferSize int
	// Engine, if set, drives the connections from this weft readiness
	// engine (weft.NewEngine; epoll on Linux): an idle connection then
	// holds no goroutine and no buffer. The caller owns it and closes it
	// after the server stopped. Connections that are not sockets (TLS) are
	// served by a goroutine whatever this says, and a connection whose
	// Protocol calls StartTLS leaves the engine for a goroutine of its own,
	// which makes the switch (crypto/tls blocks).
	//
	// Nil means the server's own readiness engine where the platform has
	// one (Linux): made on first need (the first connection that is a
	// *net.TCPConn or *net.UnixConn, or a plain TCP listener's descriptor
	// accept path; none for in-memory pipes, so that a server with the
	// default settings runs in a synctest bubble, nor for connections a
	// listener wraps, whose Close the engine would call when the connection
	// starts), shared by all the server's listeners, and closed when Close
	// or Shutdown has ended every connection: a server that made one must
	// be closed to release it (its epoll descriptor and goroutines), even
	// after its listeners were closed directly. Elsewhere, or with
	// NoEngine, or if it cannot be made (logged at Warn), a goroutine per
	// connection.
	Engine *weft.Engine
	// NoEngine, when Engine is nil, serves every connection on a goroutine
	// of its own (the goroutine engine) even where the server would make a
	// readiness engine: for Protocols whose callbacks block on a larger
	// scale than the engine's worker pool takes (see docs/operations.md).
	NoEngine bool

	// Logger receives one Debug line per lifecycle event and Warn lines for
	// errors (Error for a panic in the Factory's BuildProtocol). A peer's
	// reset (ReasonPeerReset) or time-out (ReasonPeerTimeout) is a close,
	// logged at Debug, not an error, and so is a client's close or reset
	// during its TLS handshake or PROXY header (counted as
	// ReasonHandshakeFailed). Nil means no logging.
	Logger *slog.Logger
	// ConnState, if set, is called on every state change of a connection
	// (StateNew, StateQueued, StateActive, StateClosed), on the goroutine
	// that makes the change: the connection's own, or with an engine (the
	// caller's Engine or, on Linux by default, the server's own) an
	// engine worker (StateClosed; the connection's goroutine for one
	// served by a goroutine, a TLS one or one whose StartTLS moved it off
	// the engine) and, on the descriptor path, a setup
	// goroutine or the accept loop; the accept loop also reports a
	// connection it closes for want of a handshake slot (StateNew,
	// StateClosed). Calls for one connection are never concurrent. A
	// connection's close is counted in Snapshot just before its StateClosed
	// call: a balanced Snapshot does not mean every StateClosed call was
	// made (Close and Shutdown return after them). It must not block. Nil
	// means no hook.
	ConnState func(info ConnInfo, state ConnState)

	initOnce sync.Once
	initErr  error
	log      *slog.Logger
	opts     weft.Options // template for every connection
	epoch    time.Time    // Conn.started counts from it
	maxQueue int
	hsTO     time.Duration
	maxHS    int64
	maxLing  int64
	stats    stats
	nextID   atomic.Uint64
	setups   atomic.Int32  // descriptor-path connections being set up on goroutines
	setupCh  chan fdSetup  // to an idle setup goroutine (descriptor path)
	done     chan struct{} // closed by Shutdown or Close
	ctx      context.Context
	cancel   context.CancelFunc

	mu        sync.Mutex
	closing   bool
	aborting  bool // Close, or Shutdown's deadline: running connections are closed at once
	lateCuts  int  // connections closed by register because aborting was set
	listeners map[*listenerState]struct{}
	conns     connIndex           // running a Protocol, by ID
	pending   map[uint64]net.Conn // handshaking, queued or rejected (a sparedConn once queued or rejected)
	active    int                 // slots taken (<= MaxConns)
	overflow  int                 // connections running the overflow Protocol
	queue     list.List           // of *waiter
	peers     map[netip.Addr]int  // connections per peer, only with MaxConnsPerPeer
	hsPeers   map[netip.Addr]int  // connections per socket peer in a handshake, only with MaxConnsPerPeer
	wg        sync.WaitGroup      // connection goroutines
	serving   sync.WaitGroup      // serve calls past the closing check (Add under mu, while not closing)

	factoryMu   sync.Mutex
	factoryRefs int

	// The server's own readiness engine (Engine nil, NoEngine false), made
	// on first need (engineFor) and closed by closeEngine, which leaves
	// ownEngine nil.
	engineMu    sync.Mutex                  // serializes making and closing it
	ownEngine   atomic.Pointer[weft.Engine] // read without engineMu
	engineTried bool                        // made, failed or closed: newOwnEngine is not called again
	fdOpts      weft.Options                // opts with the engine, for the descriptor path
}

// newOwnEngine makes the server's own readiness engine (a variable for the
// package's tests, which choose their engine per test).
var newOwnEngine = weft.NewEngine

// engineFor returns the engine a connection runs on: Engine, else the
// server's own, made by the first connection that is a socket (sock) or
// descriptor listener that needs it, or nil (a goroutine per connection:
// NoEngine, a platform without an engine, a failure to make one, or
// connections that are no sockets, as in-memory pipes in a synctest
// bubble, where an engine's poller would never let fake time advance).
func (s *Server) engineFor(sock bool) *weft.Engine {
	if s.Engine != nil {
		return s.Engine
	}
	if s.NoEngine || !sock {
		return nil
	}
	if e := s.ownEngine.Load(); e != nil {
		return e // no lock per connection once it is made
	}
	s.engineMu.Lock()
	defer s.engineMu.Unlock()
	if !s.engineTried {
		s.engineTried = true
		e, err := newOwnEngine()
		switch {
		case err == nil:
			s.fdOpts.Engine = e
			s.ownEngine.Store(e)
		case !errors.Is(err, weft.ErrNotSupported):
			s.log.Warn("server: no readiness engine; a goroutine per connection", "err", err)
		}
	}
	return s.ownEngine.Load() // nil once closed
}

// ownEngineTakes reports whether the server's own engine takes nc: a
// socket of package net's own types only. The engine keeps a duplicate of
// the descriptor and closes the net.Conn when the connection starts, so a
// wrapper whose Close does more (a semaphore's release, a gauge) would see
// its connection end at once; a caller's Engine takes any syscall.Conn, as
// it always did.
func ownEngineTakes(nc net.Conn) bool {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// closeEngine closes the server's own engine, once Close or Shutdown has
// ended every connection and Serve call; none is made after it.
func (s *Server) closeEngine() {
	s.engineMu.Lock()
	defer s.engineMu.Unlock()
	s.engineTried = true
	if e := s.ownEngine.Swap(nil); e != nil { // nil on a second Close or Shutdown
		e.Close()
	}
}

// usesEngine reports whether connections that are sockets run on a
// readiness engine (made so far, not closed).
func (s *Server) usesEngine() bool {
	return s.Engine != nil || s.ownEngine.Load() != nil
}

// nilValue reports whether f is a nil func (such as a nil
// weft.FactoryFunc), whose BuildProtocol would panic on every connection. A
// nil pointer is not refused: its method may well work with a nil receiver
// (and one that panics costs each connection only itself, as any panic in
// BuildProtocol does).
func nilValue(f weft.Factory) bool {
	v := reflect.ValueOf(f)
	return v.Kind() == reflect.Func && v.IsNil()
}

// Validate reports the first invalid field, naming it. Serve and the Listen
// methods call it; a zero Server with a Factory is valid.
func (s *Server) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...)
	}
	if s == nil {
		return bad("nil *Server")
	}
	switch {
	case s.Factory == nil:
		return bad("Server.Factory is nil")
	case nilValue(s.Factory):
		return bad("Server.Factory is a nil %T", s.Factory)
	case s.OverflowFactory != nil && nilValue(s.OverflowFactory):
		return bad("Server.OverflowFactory is a nil %T", s.OverflowFactory)
	case s.MaxConns < 0:
		return bad("Server.MaxConns %d is negative", s.MaxConns)
	case s.Overflow < Reject || s.Overflow > QueueLIFO:
		return bad("Server.Overflow %d is not Reject, QueueFIFO or QueueLIFO", int(s.Overflow))
	case s.MaxQueue < 0:
		return bad("Server.MaxQueue %d is negative", s.MaxQueue)
	case s.QueueTimeout < 0:
		return bad("Server.QueueTimeout %v is negative", s.QueueTimeout)
	case s.MaxConnsPerPeer < 0:
		return bad("Server.MaxConnsPerPeer %d is negative", s.MaxConnsPerPeer)
	case s.IdleTimeout < 0:
		return bad("Server.IdleTimeout %v is negative", s.IdleTimeout)
	case s.HandshakeTimeout < 0:
		return bad("Server.HandshakeTimeout %v is negative", s.HandshakeTimeout)
	case s.MaxHandshakes < 0:
		return bad("Server.MaxHandshakes %d is negative", s.MaxHandshakes)
	case s.MaxLingering < 0:
		return bad("Server.MaxLingering %d is negative", s.MaxLingering)
	case s.OverflowFactory != nil && s.Overflow != Reject:
		return bad("Server.OverflowFactory is set but Server.Overflow is %v, not Reject", s.Overflow)
	}
	if err := s.connOptions().Validate(); err != nil {
		// The runtime names its Options fields; the Server's have the
		// same names.
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Replace(err.Error(), "weft: Options.", "Server.", 1))
	}
	return nil
}

func (s *Server) connOptions() *weft.Options {
	return &weft.Options{
		HighWater:      s.HighWater,
		LowWater:       s.LowWater,
		MaxWriteBuffer: s.MaxWriteBuffer,
		ReadBufferSize: s.ReadBufferSize,
		IdleTimeout:    s.IdleTimeout,
		CloseTimeout:   s.closeTimeout(),
		Engine:         s.Engine,
		// StartTLS's handshake: DefaultHandshakeTimeout for zero, as the
		// listener's TLS handshake.
		HandshakeTimeout: cmp.Or(s.HandshakeTimeout, DefaultHandshakeTimeout),
		// StartTLS's handshakes take MaxHandshakes slots too.
		HandshakeLimiter: (*startTLSSlots)(s),
	}
}

// startTLSSlots gives a Protocol's StartTLS handshakes the MaxHandshakes
// slots of the listeners' handshakes (weft.Options.HandshakeLimiter): the
// Server under another method set.
type startTLSSlots Server

// TryAcquire takes a MaxHandshakes slot; with none free it counts the
// connection in Snapshot.Rejected["max handshakes"] (weft then closes it).
func (l *startTLSSlots) TryAcquire() bool {
	s := (*Server)(l)
	if s.takeHandshake() {
		return true
	}
	s.stats.rejected[rejMaxHandshakes].Add(1)
	return false
}

// Release gives the slot back.
func (l *startTLSSlots) Release() { (*Server)(l).doneHandshake() }

// closeTimeout is the connections' Options.CloseTimeout: DefaultCloseTimeout
// when CloseTimeout is zero, none (0) when it is negative.
func (s *Server) closeTimeout() time.Duration {
	switch {
	case s.CloseTimeout == 0:
		return DefaultCloseTimeout
	case s.CloseTimeout < 0:
		return 0
	}
	return s.CloseTimeout
}

// init validates the configuration once and prepares the internal state.
func (s *Server) init() error {
	s.initOnce.Do(func() {
		s.done = make(chan struct{})
		s.setupCh = make(chan fdSetup)
		s.epoch = time.Now()
		s.ctx, s.cancel = context.WithCancel(context.Background())
		// Under mu: Len, Get and Range may run before or during the
		// first Serve.
		s.mu.Lock()
		s.listeners = make(map[*listenerState]struct{})
		s.conns = connIndex{}
		s.pending = make(map[uint64]net.Conn)
		s.peers = make(map[netip.Addr]int)
		s.hsPeers = make(map[netip.Addr]int)
		s.mu.Unlock()
		s.log = s.Logger
		if s.log == nil {
			s.log = slog.New(slog.DiscardHandler)
		}
		if s.initErr = s.Validate(); s.initErr != nil {
			return
		}
		s.opts = *s.connOptions()
		s.opts.Counters = &s.stats.counters
		s.fdOpts = s.opts // its Engine is set by engineFor
		s.maxQueue = s.MaxQueue
		if s.maxQueue == 0 {
			s.maxQueue = DefaultMaxQueue
		}
		s.hsTO = s.HandshakeTimeout
		if s.hsTO == 0 {
			s.hsTO = DefaultHandshakeTimeout
		}
		s.maxHS = int64(cmp.Or(s.MaxHandshakes, DefaultMaxHandshakes))
		s.maxLing = int64(cmp.Or(s.MaxLingering, DefaultMaxLingering))
	})
	return s.initErr
}

// listenerState is one listener being served.
type listenerState struct {
	s     *Server // set by serve
	l     net.Listener
	proxy []netip.Prefix // trusted PROXY sources; nil: PROXY off
	tls   *tls.Config    // TLS done by the server (nil: none, or l does it)
	refs  atomic.Int64   // the accept loop + its live connections

	// fdFile is a duplicate of the listening socket when connections are
	// accepted as descriptors (acceptfd_linux.go); set before the
	// listener is published, closed with it.
	fdFile *os.File

	closeOnce sync.Once
	closeErr  error
}

// close closes the listener once (Shutdown and the accept loop both close
// it; not every net.Listener tolerates concurrent Close calls).
func (ls *listenerState) close() error {
	ls.closeOnce.Do(func() {
		ls.closeErr = ls.l.Close()
		if ls.fdFile != nil {
			ls.fdFile.Close()
		}
	})
	return ls.closeErr
}

// Serve accepts connections on l and serves them until Shutdown or Close (it
// then returns ErrServerClosed) or until l fails with a non-temporary error.
// Temporary accept errors (such as EMFILE) are retried with a backoff from
// 5 ms doubling to 1 s. If l is a TLS listener (tls.NewListener), the
// handshake is done off the accept loop, on a goroutine of the connection's
// own, within HandshakeTimeout.
// Serve closes l before returning. It returns when l closes, before the
// connections have drained: a main function wants Run.
func (s *Server) Serve(l net.Listener) error {
	return s.serve(&listenerState{l: l})
}

// ServeProxy is Serve for a listener behind a PROXY-protocol (v1 or v2) load
// balancer. A connection from a source in trusted may start with a PROXY
// header (read within HandshakeTimeout; without one, the connection is served
// as a direct client); its Protocol then sees the header's source address,
// and MaxConnsPerPeer counts that address. A connection from any other source
// is refused if its first bytes are a PROXY header; otherwise they are
// delivered as usual. Those first bytes are awaited before the Protocol
// starts, so an untrusted client that sends nothing (a server-speaks-first
// protocol) waits HandshakeTimeout for its greeting. An empty trusted list
// means PROXY is off (as Serve); a prefix that is not valid (the zero
// netip.Prefix) is a configuration error. l must not be a TLS listener (use
// ListenEndpoint, which does TLS after the header).
func (s *Server) ServeProxy(l net.Listener, trusted []netip.Prefix) error {
	for i, p := range trusted {
		if !p.IsValid() {
			if l != nil {
				l.Close()
			}
			return fmt.Errorf("%w: trusted[%d] is not a valid prefix (the zero netip.Prefix?)", ErrInvalidConfig, i)
		}
	}
	return s.serve(&listenerState{l: l, proxy: trusted})
}

func (s *Server) serve(ls *listenerState) error {
	if ls.l == nil {
		return fmt.Errorf("%w: nil listener", ErrInvalidConfig)
	}
	if err := s.init(); err != nil {
		ls.close()
		return err
	}
	ls.s = s
	ls.refs.Store(1)
	byFD := s.fdAcceptable(ls)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ls.close()
		return ErrServerClosed
	}
	s.listeners[ls] = struct{}{}
	s.serving.Add(1) // Close and Shutdown wait for it: its end may stop the Factory
	s.mu.Unlock()
	defer s.serving.Done()
	if err := s.startFactory(); err != nil {
		s.mu.Lock()
		delete(s.listeners, ls)
		s.mu.Unlock()
		ls.close()
		if s.isClosing() {
			// Shutdown or Close ended Start's context: a Start that
			// honours it fails, but that is the shutdown, not a failure
			// (Run returns nil after a shutdown asked for by its ctx).
			return ErrServerClosed
		}
		return err
	}
	s.log.Debug("server: listening", "addr", ls.l.Addr().String(), "proxy", len(ls.proxy) > 0)
	var err error
	if byFD {
		err = s.acceptLoopFD(ls)
	} else {
		err = s.acceptLoop(ls)
	}
	ls.close()
	s.mu.Lock()
	delete(s.listeners, ls)
	s.mu.Unlock()
	s.log.Debug("server: stopped listening", "addr", ls.l.Addr().String(), "err", err)
	s.releaseListener(ls)
	return err
}

// releaseListener drops one reference to ls; the last one stops the Factory.
func (s *Server) releaseListener(ls *listenerState) {
	if ls.refs.Add(-1) == 0 {
		s.stopFactory()
	}
}

func (s *Server) startFactory() error {
	s.factoryMu.Lock()
	defer s.factoryMu.Unlock()
	if s.factoryRefs == 0 {
		if s.isClosing() {
			// Close or Shutdown began, and the Factory is stopped
			// (or never started): a listener registered before it,
			// that gets here only now, does not start it again.
			return ErrServerClosed
		}
		if st, ok := s.Factory.(weft.Starter); ok {
			if err := st.Start(s.ctx); err != nil {
				s.log.Warn("server: factory start failed", "err", err)
				return fmt.Errorf("server: factory start: %w", err)
			}
		}
		s.log.Debug("server: factory started")
	}
	s.factoryRefs++
	return nil
}

func (s *Server) stopFactory() {
	s.factoryMu.Lock()
	defer s.factoryMu.Unlock()
	if s.factoryRefs == 0 {
		return
	}
	s.factoryRefs--
	if s.factoryRefs == 0 {
		if st, ok := s.Factory.(weft.Stopper); ok {
			st.Stop()
		}
		s.log.Debug("server: factory stopped")
	}
}

// debugLog reports whether debug messages are logged. The per-connection ones
// are built only then: their arguments (the variadic slice, the boxed ID, the
// formatted address) were otherwise garbage on every connection.
func (s *Server) debugLog() bool { return s.log.Enabled(context.Background(), slog.LevelDebug) }
