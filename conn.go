package weft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/weftkit/weft/internal/ended"
)

// Conn is one connection driven by the runtime: the handle a server or client
// keeps to observe and control it. Create it with NewConn and run it with Serve
// or Start. The zero Conn is not a connection: its Serve and Start report an
// error, its Close, Post and Shutdown do nothing, and its Transport must not
// be used.
//
// Two engines drive a Conn behind the same contract. The goroutine engine
// (Serve or Start without an Engine, and any connection that is not a
// socket) runs the connection on a goroutine of its own that waits for
// readability without holding a buffer (a connection that is not a socket
// waits in a 1 KiB read), reads into a pooled buffer and calls the
// Protocol. The readiness engine (Serve or Start with Options.Engine, Linux;
// Serve then blocks until the connection ends) takes the socket's descriptor
// out of the net.Conn and parks it in epoll: an idle connection is then this
// struct and nothing else, and a worker goroutine runs its callbacks when it
// becomes ready. A connection that asks for StartTLS moves from the
// readiness engine to the goroutine engine (handOff) for the rest of its
// life.
//
// Every callback runs under cbMu, so callbacks are never concurrent whichever
// goroutine runs them. Writes append to one output buffer under mu and are
// flushed by whoever finds no flush in progress: at the end of a callback, by
// the engine's worker, or inline by a writer outside any callback.
//
// The struct holds only what every connection needs; state that few
// connections use (posted work, producers, contexts, timers, TLS, backed-up
// output) lives in a connExt allocated on first use, so that an idle
// connection on the readiness engine stays small.
type Conn struct {
	proto Protocol
	opt   *resolved
	x     atomic.Pointer[connExt] // rarely used state; see ext
	nio   *netIO                  // the net.Conn; nil once the engine owns the descriptor
	out   *[]byte                 // queued output, not yet taken by a flusher

	addrs *connAddrs // the local address, and the remote one unless packed in rpack
	rpack tcp4       // the remote address, packed (IPv4 TCP), or 0

	cbMu sync.Mutex // held while a callback runs
	mu   sync.Mutex // guards the fields below and out

	sending int   // bytes taken by the flusher and not yet written
	fd      int32 // the descriptor owned by the readiness engine, or -1
	gen     uint32
	rs      atomic.Uint32 // runner state bits (engine.go)
	flags   atomic.Uint32 // fHup, fMade, fIn, fStarted, fFinal, fDrain, fRun, fSwitch

	state uint8  // stOpen, stClosing, stClosed
	bits  uint16 // the b* flags below

	// outFrames counts the frames in out (WriteParts); they are added to
	// Counters.FramesOut when out is taken, once per write instead of
	// once per frame.
	outFrames uint16
}

// Bits of Conn.bits, guarded by Conn.mu. One word instead of a bool each
// keeps Conn in the 112-byte size class.
const (
	bFlushing    uint16 = 1 << iota // a goroutine owns the socket's write side
	bFlushQueued                    // the engine's worker will flush (a write outside callbacks)
	bWaitOut                        // engine: output waits for the socket to be writable (ext.wait)
	bInCallback                     // a callback is running: its writes are flushed at its end
	bReasonSet                      // the close reason is set (connExt.reason if not nil)
	bLost                           // ConnectionLost has been called
	bReadPaused                     // PauseReading is in effect
	bSockClosed                     // the socket is closed (or its close is requested, engine)
	bRst                            // close with a reset (Abort)
	bEnded                          // ConnectionLost returned: nothing is called any more
	bPeerEOF                        // the peer ended its stream (read EOF): it sends no more
	bAborted                        // closed by an abort (pending output discarded): no linger
	bLinger                         // half-closed, draining the peer before the close (closeLinger)
	bWriteClose                     // LoseWriteConnection: no more writes; half-close once the output is sent
	bWriteShut                      // the half-close of LoseWriteConnection is done (or under way)
	bStopsDone                      // finalize stopped its last producer: RegisterProducer stops one itself
)

// is reports whether bit b is set; c.mu must be held.
func (c *Conn) is(b uint16) bool { return c.bits&b != 0 }

// put sets bit b to v; c.mu must be held.
func (c *Conn) put(b uint16, v bool) {
	if v {
		c.bits |= b
	} else {
		c.bits &^= b
	}
}

// connExt is the state few connections need, allocated on first use.
type connExt struct {
	err    error              // invalid options
	done   func(reason error) // Start's done callback (engine), if any
	reason error              // first close reason, if not nil (see bReasonSet)

	pendMu sync.Mutex
	pend   []func()
	npend  atomic.Int32 // posted work not yet run

	producer    Producer
	prodWant    bool // the producer should be paused (under Conn.mu)
	prodIs      bool // the producer was told to pause
	prodPend    bool // a pause was wanted since the producer was last told (syncProducer)
	resume      chan struct{}
	sockWait    bool // the paused reader waits on its socket (waitPausedSocket; under Conn.mu)
	sockWoken   bool // and its read deadline was set to wake it (wakeLocked)
	ctx         context.Context
	cancel      context.CancelFunc
	idle        *time.Timer
	lastActive  atomic.Int64  // monoNow of the last byte moved
	closeT      *time.Timer   // the close timer (CloseTimeout), once a close waits for the peer
	lastOut     atomic.Int64  // monoNow of the last output taken while closeT runs
	lingerT     *time.Timer   // engine: ends a linger (closeLinger) that the peer does not end
	lingerEnd   int64         // engine: monoNow when the linger ends
	lingerBegan int64         // engine: monoNow when the linger began
	lingerQ     int           // engine: the output queued in the socket at the start of the linger's span (lingerExtend)
	lingerN     int           // engine: bytes drained by the linger so far (runner only)
	lingerPoll  time.Duration // engine: a linger for output only (lingerPollMin..Max), 0 otherwise (runner only)
	preread     []byte
	wait        *[]byte // engine: output the socket did not take yet
	waitOff     int
	tlsCfg      *tls.Config // requested, switched to after the current callback
	tlsClear    int         // queued bytes that still go out in clear text
	tlsFrames   uint16      // of c.outFrames, those in the clear text (counted when it is sent)
	tlsBuf      []byte      // bytes received after the command, for TLS
	tlsOn       bool
	shakeWait   bool       // shutWrite waits for the TLS handshake (under Conn.mu): a close need not
	flushCond   *sync.Cond // signalled when flushing ends (lazily made)
}

// netIO is the net.Conn side of a connection served by the goroutine engine,
// with the state of the current raw read or write (kept here, not in
// closures, so that the hot path allocates nothing).
type netIO struct {
	raw     net.Conn // the connection as given; nc is it, or TLS over it
	nc      net.Conn
	closed  chan struct{}   // closed when the socket is closed (made on first use)
	rc      syscall.RawConn // nil when nc is not a syscall.Conn (net.Pipe, TLS)
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
	rbuf    *[]byte
	rn      int
	rerr    error
	rskip   bool
	wbuf    []byte
	wn      int
	werr    error
	// linger is the socket half-closed by a graceful close, which the
	// serve goroutine drains, then closes (lingerClose); nil otherwise.
	linger net.Conn
	// psock is the socket a paused reader waits on (pausedSocket), whose
	// read deadline wakes it (wakeLocked); under Conn.mu.
	psock net.Conn
	// flushers counts the flusher goroutines (flushLoop) started and not
	// yet returned: at most one at a time, as each holds bFlushing.
	flushers sync.WaitGroup
}

const (
	stOpen = iota
	stClosing
	stClosed
)

// NewConn prepares nc to be driven by p. Nothing is read or called until Serve
// or Start.
func NewConn(nc net.Conn, p Protocol, opts *Options) *Conn {
	c := &Conn{proto: p, fd: -1}
	var err error
	c.opt, err = opts.resolveShared()
	if err == nil && (nc == nil || p == nil) {
		err = errors.New("weft: NewConn: nil net.Conn or Protocol")
	}
	if nc == nil {
		nc = nilConn{}
	}
	if err != nil {
		// Never run: the Conn is ended from the start, as after
		// ConnectionLost. Post drops work at once (none is kept until
		// the Conn is collected), Write fails with ErrClosed (it
		// flushed to nc before, a nil one included), the Context is
		// done. Serve or Start closes nc (a real one: a nil nc is the
		// nilConn stand-in) and returns err.
		c.ext().err = err
		c.state = stClosed
		c.bits |= bLost | bEnded | bSockClosed | bStopsDone
	}
	c.nio = c.newNetIO(nc)
	c.setAddrs(nc.LocalAddr(), nc.RemoteAddr())
	c.setPerConnOptions(opts)
	return c
}

// newNetIO returns the goroutine engine's state for nc: a socket is read
// and written through its syscall.RawConn when it has one.
func (c *Conn) newNetIO(nc net.Conn) *netIO {
	nio := &netIO{raw: nc, nc: nc}
	if sc, ok := nc.(syscall.Conn); ok && rawSockets {
		if rc, err := sc.SyscallConn(); err == nil {
			nio.rc = rc
			nio.readFn = c.rawRead
			nio.writeFn = c.rawWrite
		}
	}
	return nio
}

var errNoFD = errors.New("weft: connection has no descriptor")

// maxFD is the largest descriptor the engine takes: its table is indexed by
// descriptor, and Conn keeps one in an int32.
const maxFD = 1 << 30

// nilConn stands in for a nil net.Conn given to NewConn, whose Serve then
// returns the error without touching it.
type nilConn struct{ net.Conn }

func (nilConn) Close() error         { return nil }
func (nilConn) LocalAddr() net.Addr  { return nil }
func (nilConn) RemoteAddr() net.Addr { return nil }

// NewConnFD prepares a connection on a socket descriptor that the caller
// accepted itself (accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC), to be driven by p
// on opts.Engine, which is required: no net.Conn is ever made for it, which
// saves its memory and the system calls of handing its descriptor over. laddr
// and raddr are what the Transport reports (Options.RemoteAddr, if set, wins).
// The Conn owns fd once NewConnFD returns: Start runs it, and it is closed
// when the connection ends. On an error fd is not touched. Socket options are
// the caller's: package net would set TCP_NODELAY on a TCP connection (the
// server package does so for the descriptors it accepts). A descriptor out of
// range or a nil p is an error.
func NewConnFD(fd int, laddr, raddr net.Addr, p Protocol, opts *Options) (*Conn, error) {
	if opts == nil || opts.Engine == nil {
		return nil, errors.New("weft: NewConnFD needs Options.Engine")
	}
	if fd < 0 || fd > maxFD {
		return nil, fmt.Errorf("weft: NewConnFD: descriptor %d is out of range [0, %d]", fd, maxFD)
	}
	if p == nil {
		return nil, errors.New("weft: NewConnFD: nil Protocol")
	}
	c := &Conn{proto: p, fd: int32(fd)}
	var err error
	if c.opt, err = opts.resolveShared(); err != nil {
		return nil, err
	}
	// Until Start registers the descriptor, the connection counts as
	// queued: a Close or Write before Start (which schedule the runner)
	// only mark it pending, and Start's turn does what they asked. A
	// runner started earlier would call ConnectionMade before Start and
	// close fd before Start registers it (closing it twice).
	c.rs.Store(rsRunning)
	// Equal local addresses are shared; an IPv4 remote one is packed.
	c.setAddrs(laddr, raddr)
	c.setPerConnOptions(opts)
	return c, nil
}

// setPerConnOptions applies the Options fields that are not shared between
// connections: RemoteAddr (which wins over the socket's) and Preread.
func (c *Conn) setPerConnOptions(opts *Options) {
	if opts == nil {
		return
	}
	if opts.RemoteAddr != nil {
		c.setAddrs(c.localAddr(), opts.RemoteAddr)
	}
	if len(opts.Preread) > 0 {
		c.ext().preread = opts.Preread
	}
}

// ext returns the connection's rarely used state, allocating it once.
func (c *Conn) ext() *connExt {
	if x := c.x.Load(); x != nil {
		return x
	}
	x := new(connExt)
	if c.x.CompareAndSwap(nil, x) {
		return x
	}
	return c.x.Load()
}

// Serve runs p over conn until the connection ends and returns the reason given
// to ConnectionLost (nil for a clean close). opts may be nil for the defaults.
func Serve(conn net.Conn, p Protocol, opts *Options) error {
	return NewConn(conn, p, opts).Serve()
}

// Serve runs the connection to its end: ConnectionMade, DataReceived for every
// read, ConnectionLost. It returns the reason given to ConnectionLost. Serve
// returns an error at once (closing nc, calling no callback) if the Options
// are invalid or NewConn was given a nil net.Conn or Protocol; such a Conn
// is ended from NewConn on, as after ConnectionLost (work
// posted to it is dropped, a Write fails with ErrClosed). Serve returns only
// when no write of the connection runs any more (one blocked when the socket
// closed has returned): Options.Counters no longer change. Call Serve or
// Start once: a second call returns an error (Start calls done with it)
// and does nothing else, as does a call on a Conn not made by NewConn or
// NewConnFD (the zero Conn).
func (c *Conn) Serve() error {
	if err := c.claim(); err != nil {
		return err
	}
	return c.serve()
}

var (
	errNotMade  = errors.New("weft: Conn not made by NewConn or NewConnFD")
	errRunTwice = errors.New("weft: Conn.Serve or Conn.Start called twice")
)

// claim checks that Serve or Start may run the connection: it was made by
// NewConn or NewConnFD and is run for the first time.
func (c *Conn) claim() error {
	if c.opt == nil {
		return errNotMade
	}
	if c.flags.Or(fRun)&fRun != 0 {
		return errRunTwice
	}
	return nil
}

// serve is Serve once claimed.
func (c *Conn) serve() error {
	if c.opt.engine != nil && (c.nio == nil || c.nio.rc != nil) {
		ch := make(chan error, 1)
		c.start(func(err error) { ch <- err })
		return <-ch
	}
	if !c.begin() {
		return c.ext().err
	}
	c.serveGoroutine()
	return c.closeReason()
}

// serveGoroutine is the goroutine engine: it runs the connection to its end.
func (c *Conn) serveGoroutine() {
	c.madeCallback()
	c.serveReads()
}

// serveReads is the goroutine engine after ConnectionMade: it reads until
// the connection ends, and calls ConnectionLost once it is closed.
func (c *Conn) serveReads() {
	rerr := c.readLoop()
	c.endRead(rerr)
	<-c.closedChan()
	c.waitFlush()
	c.lingerClose()
	c.finalize()
}

// waitFlush, once the socket is closed, waits until nothing writes to it any
// more (goroutine engine): a flush in progress, inline or on the flusher
// goroutine, has ended — a Write blocked in the socket returns an error
// once it is closed — so the bytes it sent are counted in Counters.BytesOut,
// and the flusher goroutine has returned. Nothing starts a flush on a
// closed connection (startFlushLocked), so none can come after it. Serve
// returns only after this: no goroutine of the connection outlives it, and
// its counters no longer change.
func (c *Conn) waitFlush() {
	c.mu.Lock()
	if c.is(bFlushing) {
		x := c.ext()
		if x.flushCond == nil {
			x.flushCond = sync.NewCond(&c.mu)
		}
		for c.is(bFlushing) {
			x.flushCond.Wait()
		}
	}
	c.mu.Unlock()
	// Any Add happened while bFlushing was held, so before the wait
	// above ended.
	c.nio.flushers.Wait()
}

// closedChan returns the channel closed when the socket is closed (goroutine
// engine), making it on first use.
func (c *Conn) closedChan() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nio.closed == nil {
		c.nio.closed = make(chan struct{})
	}
	return c.nio.closed
}

// closedChanDone is the closed channel of a connection closed before anyone
// asked for its channel.
var closedChanDone = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// Start runs the connection without blocking the caller and calls done (if not
// nil) with the reason after ConnectionLost. With an Engine in the Options a
// socket then costs no goroutine while it is idle (until a StartTLS moves
// it to a goroutine of its own); otherwise Start runs
// Serve on a new goroutine. Call Serve or Start once (see Serve): a second
// call, or a call on the zero Conn, calls done with the error at once.
func (c *Conn) Start(done func(reason error)) {
	if err := c.claim(); err != nil {
		if done != nil {
			done(err)
		}
		return
	}
	c.start(done)
}

// start is Start once claimed.
func (c *Conn) start(done func(reason error)) {
	if c.nio == nil {
		c.startFD(done)
		return
	}
	if c.opt.engine == nil || c.nio.rc == nil {
		go func() {
			c.ended(done, c.serve())
		}()
		return
	}
	if !c.begin() {
		c.ended(done, c.ext().err)
		return
	}
	c.setDone(done)
	if err := c.opt.engine.add(c); err != nil {
		// The engine cannot take this connection: serve it on a goroutine.
		c.setDone(nil)
		go func() {
			c.serveGoroutine()
			c.ended(done, c.closeReason())
		}()
	}
}

// startFD is Start for a connection made by NewConnFD.
func (c *Conn) startFD(done func(reason error)) {
	c.begin()
	c.setDone(done)
	c.mu.Lock()
	closed := c.is(bSockClosed) // closed before Start: the runner just ends it
	c.mu.Unlock()
	var err error
	if !closed {
		err = c.opt.engine.addFD(c)
	}
	if err != nil {
		c.mu.Lock()
		c.state = stClosed
		c.bits |= bSockClosed | bLost
		c.dropPendingLocked()
		c.mu.Unlock()
		sysClose(int(c.fd))
		c.stopTimers()
		c.ended(done, err)
		return
	}
	c.opt.engine.enqueue(c) // rs is rsRunning since NewConnFD (see there)
}

// setDone keeps Start's done callback for the engine's runner. It lives in
// connExt: the server, the main user of Start, passes none (its Protocol is
// an ended.Notifier), so that its connections do not pay a field for it.
func (c *Conn) setDone(done func(reason error)) {
	if done != nil {
		c.ext().done = done
	} else if x := c.x.Load(); x != nil {
		x.done = nil
	}
}

// doneCallback returns the done callback setDone kept, if any.
func (c *Conn) doneCallback() func(reason error) {
	if x := c.x.Load(); x != nil {
		return x.done
	}
	return nil
}

// ended tells Start's caller that the connection ended: done if given, else
// the Protocol if it is an ended.Notifier.
func (c *Conn) ended(done func(reason error), reason error) {
	if done != nil {
		done(reason)
	} else if n, ok := c.proto.(ended.Notifier); ok {
		n.InternalWeftEnded(reason)
	}
}

// begin validates and arms the idle timer; false means Serve must not go on.
func (c *Conn) begin() bool {
	if x := c.x.Load(); x != nil && x.err != nil {
		c.nio.nc.Close()
		return false
	}
	if c.opt.idle > 0 {
		x := c.ext()
		c.touch()
		// Under mu: the timer's function reads x.idle under it too, and
		// may run before AfterFunc returns.
		c.mu.Lock()
		x.idle = time.AfterFunc(c.opt.idle, c.checkIdle)
		c.mu.Unlock()
	}
	return true
}

// madeCallback calls ConnectionMade; work posted before it runs right after.
func (c *Conn) madeCallback() {
	c.cbMu.Lock()
	c.callback(func() { c.proto.ConnectionMade((*transport)(c)) })
	c.flags.Or(fMade)
	c.unlockCallbacks()
}

// Transport returns the connection's Transport (valid before Serve too).
func (c *Conn) Transport() Transport { return (*transport)(c) }

// Shutdown tells the Protocol of a graceful shutdown (calling its Shutdown
// method if it implements ShutdownNotifier, serialized with its callbacks),
// then calls LoseConnection.
func (c *Conn) Shutdown() {
	c.Post(func() {
		if sn, ok := c.proto.(ShutdownNotifier); ok {
			sn.Shutdown()
		}
		c.loseConnection()
	})
}

// Close closes the connection at once with the given reason (for example
// ErrServerShutdown or ErrIdleTimeout); pending output is discarded.
// ConnectionLost receives reason unless the connection was already closing for
// another reason.
func (c *Conn) Close(reason error) {
	if c.opt == nil {
		return // the zero Conn: nothing to close
	}
	c.abort(reason, false)
}

// Post runs fn serialized with the Protocol's callbacks, as soon as no callback
// is running (and never before ConnectionMade), on some goroutine. It never
// blocks. Called outside the callbacks when none is running, it may run fn
// (and other posted work) on the calling goroutine before it returns, so the
// caller must not hold a lock that the callbacks take. (Handing it to
// another goroutine instead would delay a Producer's pause behind its
// writer's next Writes.)
//
// fn never runs after ConnectionLost. Work posted while the connection is
// live runs before ConnectionLost; once the connection ends, fn is dropped
// instead: work still waiting when ConnectionLost is called is dropped then,
// and work posted from then on — from ConnectionLost itself, from another
// goroutine while it runs, or later — is dropped at once. Dropped work is
// released (the connection keeps no reference to it), never run and not
// reported: a caller that must know whether fn will run can watch
// Transport.Context, which is done before ConnectionLost is called. (Post
// returns nothing because callers reach it through Poster.) A nil fn is
// ignored.
func (c *Conn) Post(fn func()) {
	if fn == nil {
		return // nothing to run
	}
	x := c.ext()
	c.mu.Lock()
	if c.is(bLost) {
		c.mu.Unlock()
		return
	}
	// Appended under mu: finalize sets bLost and drops what waits under
	// it too, so nothing is left behind once ConnectionLost is called.
	x.pendMu.Lock()
	x.pend = append(x.pend, fn)
	x.pendMu.Unlock()
	x.npend.Add(1)
	c.mu.Unlock()
	c.tryRunPending()
}

// dropPendingLocked releases posted work that will never run: bLost is set
// (c.mu held), so Post adds no more.
func (c *Conn) dropPendingLocked() {
	x := c.x.Load()
	if x == nil {
		return
	}
	x.pendMu.Lock()
	n := len(x.pend)
	x.pend = nil
	x.pendMu.Unlock()
	x.npend.Add(-int32(n))
}

// hasPending reports whether posted work waits.
func (c *Conn) hasPending() bool {
	x := c.x.Load()
	return x != nil && x.npend.Load() > 0
}

// Bits of Conn.flags.
const (
	fHup     = 1 << iota // the peer hung up: read to EOF, not to a short read
	fMade                // ConnectionMade returned: posted work may run
	fIn                  // engine: the socket may have bytes (or EOF) to read
	fStarted             // engine runner: ConnectionMade was called
	fFinal               // engine runner: ConnectionLost was called
	fDrain               // the close timer runs: wrote records progress in connExt.lastOut
	fRun                 // Serve or Start was called (claim)
	fSwitch              // engine: StartTLS was called; the runner hands the connection over (handOff)
)

// tryRunPending runs posted work if no callback is running. The goroutine that
// holds cbMu runs it otherwise, when it releases (unlockCallbacks).
func (c *Conn) tryRunPending() {
	for c.hasPending() && c.flags.Load()&fMade != 0 && c.cbMu.TryLock() {
		c.runPending()
		c.cbMu.Unlock()
	}
}

// unlockCallbacks releases cbMu after running whatever was posted meanwhile.
func (c *Conn) unlockCallbacks() {
	c.runPending()
	c.cbMu.Unlock()
	c.tryRunPending()
}

// runPending runs posted work; cbMu is held.
func (c *Conn) runPending() {
	for c.hasPending() {
		x := c.ext()
		x.pendMu.Lock()
		work := x.pend
		x.pend = nil
		x.pendMu.Unlock()
		x.npend.Add(-int32(len(work)))
		for _, fn := range work {
			c.mu.Lock()
			lost := c.is(bLost)
			c.mu.Unlock()
			if !lost {
				c.callback(fn)
			}
		}
	}
}

// callback runs fn as a Protocol callback: cbMu is held; writes made during it
// are flushed together when it returns; a panic aborts the connection.
func (c *Conn) callback(fn func()) {
	c.mu.Lock()
	c.bits |= bInCallback
	c.mu.Unlock()
	c.inCallbackRun(fn)
}

// inCallbackRun is callback after inCallback was set.
func (c *Conn) inCallbackRun(fn func()) {
	defer c.endCallback()
	fn()
}

// endCallback flushes the callback's writes (and recovers its panic).
func (c *Conn) endCallback() {
	if r := recover(); r != nil {
		c.abort(fmt.Errorf("%w: %v", ErrProtocolPanic, r), false)
	}
	c.mu.Lock()
	c.bits &^= bInCallback
	start := c.startFlushLocked()
	closeNow := !start && c.drainedLocked() // LoseConnection with nothing to send
	var bp *[]byte
	if start && c.nio == nil && c.out != nil && len(*c.out) > 0 {
		bp = c.takeOutLocked() // the engine's flush, without locking again
	}
	c.mu.Unlock()
	switch {
	case bp != nil:
		c.flushFDFrom(bp, false, false)
	case start:
		c.flush()
	case closeNow:
		c.closeSocket(false)
	}
}

// deliver calls DataReceived unless the connection stopped reading meanwhile.
// If reading was paused (from another goroutine) after data was read, data
// waits for ResumeReading: the goroutine engine waits with it, the readiness
// engine keeps a copy that its runner delivers first when reading resumes.
// If StartTLS was called meanwhile (from another goroutine or a posted
// function), data belongs to TLS: it is handed to it, not delivered.
// held reports that the readiness engine kept data as preread: its runner
// must read nothing more before delivering it (a ResumeReading may come at
// any moment from now on).
func (c *Conn) deliver(data []byte) (held bool) {
	for {
		c.cbMu.Lock()
		c.mu.Lock()
		if c.state != stOpen || c.bits&bReadPaused == 0 && !c.tlsPendingLocked() {
			break
		}
		if c.tlsPendingLocked() {
			x := c.x.Load()
			x.tlsBuf = append(x.tlsBuf, data...)
			c.mu.Unlock()
			c.unlockCallbacks()
			return false
		}
		c.mu.Unlock()
		c.unlockCallbacks()
		if c.nio == nil {
			x := c.ext()
			x.preread = append(x.preread[:len(x.preread):len(x.preread)], data...)
			return true
		}
		c.waitReadable()
	}
	open := c.state == stOpen
	c.put(bInCallback, open)
	c.mu.Unlock()
	if open {
		if cnt := c.opt.counters; cnt != nil {
			cnt.BytesIn.Add(int64(len(data)))
		}
		c.inCallbackRun(func() { c.proto.DataReceived(data) })
	}
	c.unlockCallbacks()
	return false
}

// endRead starts closing the connection after reading stopped with rerr.
func (c *Conn) endRead(rerr error) {
	switch {
	case (errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)) && c.truncatedTLS():
		// The stream under TLS ended without close_notify, at a record
		// boundary (io.EOF to crypto/tls) or inside a record: closed as
		// by LoseConnection, with the reason that says so.
		c.mu.Lock()
		c.bits |= bPeerEOF // nothing to drain before the close
		c.mu.Unlock()
		c.loseConnectionReason(ErrTLSTruncated)
	case rerr == nil || rerr == errStopped || errors.Is(rerr, io.EOF) || c.lingerWoke(rerr):
		// The peer closed its side (or reading stopped because we are
		// closing): flush what is pending, then close cleanly — unless
		// the Protocol is HalfCloseable and our side is still open.
		if errors.Is(rerr, io.EOF) {
			hc, half := c.proto.(HalfCloseable)
			c.mu.Lock()
			c.bits |= bPeerEOF // nothing to drain before the close
			half = half && c.state == stOpen && !c.is(bWriteClose)
			c.mu.Unlock()
			if half {
				c.readConnectionLost(hc)
				return
			}
		}
		c.loseConnection()
	default:
		c.abort(rerr, false)
	}
}

// readConnectionLost tells a HalfCloseable Protocol that its peer ended its
// stream; the connection stays open for writing (see HalfCloseable).
func (c *Conn) readConnectionLost(hc HalfCloseable) {
	c.cbMu.Lock()
	c.mu.Lock()
	open := c.state == stOpen
	c.put(bInCallback, open)
	c.mu.Unlock()
	if open {
		c.inCallbackRun(hc.ReadConnectionLost)
	}
	c.unlockCallbacks()
}

// loseWriteConnection asks for the half-close of LoseWriteConnection: no
// more writes, and the socket's write side is shut down once the output
// queued so far is sent (by whoever ends the flush: takeOrEndLocked). After
// the peer's end of stream it is LoseConnection: both sides are done.
func (c *Conn) loseWriteConnection() error {
	c.mu.Lock()
	switch {
	case c.state != stOpen || c.is(bWriteClose):
		c.mu.Unlock()
		return ErrClosed
	case c.is(bPeerEOF):
		// Both directions are done: a close, whether or not the
		// connection could half-close (a net.Pipe's peer that closed
		// got ErrNotSupported here, and the connection stayed open for
		// ever when its Protocol ended it so).
		c.mu.Unlock()
		c.loseConnection()
		return nil
	case !c.canHalfCloseLocked():
		c.mu.Unlock()
		return ErrNotSupported
	}
	c.bits |= bWriteClose
	start := c.startFlushLocked()
	c.mu.Unlock()
	if start {
		c.flush()
	}
	return nil
}

// canHalfCloseLocked reports whether the connection's socket can be
// half-closed: a descriptor of the readiness engine, or a socket under the
// net.Conn (through TLS on top, or wrappers without TLS that expose it), or
// another connection that can end its output (writeCloser).
func (c *Conn) canHalfCloseLocked() bool {
	if c.nio == nil {
		return true
	}
	if closerUnder(c.nio.raw) == nil {
		return false
	}
	_, isTLS := c.nio.nc.(*tls.Conn)
	return isTLS || !hasTLSLayer(c.nio.nc)
}

// shutWrite half-closes the socket for LoseWriteConnection (goroutine
// engine), on the goroutine that owns the write side (bFlushing): under TLS
// it first waits for the handshake (which the reader makes) and sends the
// close_notify alert, which may block. If the half-close fails (a failed
// handshake, a socket already reset), the connection is closed instead: the
// peer reads the end of stream either way.
//
// A close that comes first ends the output itself: the half-close is then
// not made. A LoseConnection while the half-close waits for the handshake
// closes at once (loseConnectionReason), as it would without it: nothing
// is left to send, and a peer that never makes the handshake would hold
// the close forever (CloseTimeout does not bound it, as no output waits).
func (c *Conn) shutWrite() {
	c.mu.Lock()
	if c.state != stOpen {
		c.mu.Unlock()
		return
	}
	raw, nc := c.nio.raw, c.nio.nc
	tc, isTLS := nc.(*tls.Conn)
	if isTLS {
		c.ext().shakeWait = true
	}
	c.mu.Unlock()
	if isTLS {
		err := tc.Handshake()
		c.mu.Lock()
		c.x.Load().shakeWait = false
		open := c.state == stOpen
		c.mu.Unlock()
		if err != nil {
			c.loseConnection()
		}
		if err != nil || !open {
			return
		}
	}
	sock := closerUnder(raw)
	if sock == nil || !halfClose(sock, nc) {
		c.loseConnection()
	}
}

// lingerWoke reports whether rerr is the wake-up of a graceful close that
// lingers (closeSock's deadline), which stops reading as errStopped does:
// it is no failure, and must not cut the linger short as an abort.
func (c *Conn) lingerWoke(rerr error) bool {
	if !errors.Is(rerr, os.ErrDeadlineExceeded) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.is(bLinger)
}

// finalize calls ConnectionLost, exactly once, after the socket is closed.
func (c *Conn) finalize() {
	c.stopTimers() // the socket is closed: state is stClosed
	c.cbMu.Lock()
	// Work posted before this point still runs (it may be a Shutdown hook);
	// nothing runs after ConnectionLost.
	c.runPending()
	c.mu.Lock()
	c.bits |= bLost
	// Read under mu, after bLost: a Context made before this point is
	// cancelled below, one made after it is cancelled at birth.
	x := c.x.Load()
	c.dropPendingLocked() // posted after runPending: too late to run
	var prod Producer
	var cancel context.CancelFunc
	if x != nil {
		prod, x.producer = x.producer, nil
		cancel = x.cancel
	}
	c.releaseOutLocked()
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	// Two calls: a StopProducing that panics must not cost the Protocol
	// its ConnectionLost (which then sees the panic in its reason).
	if prod != nil {
		c.lastCall(prod.StopProducing)
	}
	c.lastCall(func() { c.proto.ConnectionLost(c.closeReason()) })
	// A producer registered (from another goroutine, or by a
	// StopProducing) after the connection closed, up to now, is stopped
	// here, serialized with the callbacks, and so is one registered while
	// such a StopProducing runs (RegisterProducer keeps it until
	// bStopsDone): a StopProducing on the registering goroutine then would
	// run concurrently with this one. From bStopsDone on, RegisterProducer
	// stops a producer itself, on its caller's goroutine. A StopProducing
	// that keeps registering producers is followed maxFinalStops times.
	c.mu.Lock()
	c.bits |= bEnded
	c.mu.Unlock()
	for i := 0; ; i++ {
		prod = nil
		c.mu.Lock()
		if x := c.x.Load(); x != nil {
			prod, x.producer = x.producer, nil
		}
		if prod == nil || i == maxFinalStops {
			c.bits |= bStopsDone
		}
		c.mu.Unlock()
		if prod == nil {
			break
		}
		c.lastCall(prod.StopProducing)
		if i == maxFinalStops {
			break
		}
	}
	c.cbMu.Unlock()
}

// maxFinalStops bounds the producers registered while the connection ends
// that finalize stops itself (see finalize).
const maxFinalStops = 8

// lastCall runs fn, a call made while the connection ends; a panic joins
// the close reason (what Serve returns), as the connection is already lost:
// the reason it ended with, an earlier panic included, stays in it.
func (c *Conn) lastCall(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			c.setReason(errors.Join(c.closeReason(), fmt.Errorf("%w: %v", ErrProtocolPanic, r)))
		}
	}()
	fn()
}

// setReasonLocked records the first close reason.
func (c *Conn) setReasonLocked(r error) {
	if !c.is(bReasonSet) {
		c.setReason(r)
		c.bits |= bReasonSet
	}
}

// closeReason returns the close reason recorded so far. A non-nil reason
// lives in connExt: only connections closed by an error pay for it, and an
// idle connection does not carry the field.
func (c *Conn) closeReason() error {
	if x := c.x.Load(); x != nil {
		return x.reason
	}
	return nil
}

// setReason replaces the close reason (under mu, or on the runner once the
// connection is closed).
func (c *Conn) setReason(r error) {
	if r != nil {
		c.ext().reason = r
	} else if x := c.x.Load(); x != nil {
		x.reason = nil
	}
}

// loseConnection stops reading, and closes once pending output is flushed.
func (c *Conn) loseConnection() { c.loseConnectionReason(nil) }

// loseConnectionReason is loseConnection reporting reason to ConnectionLost.
func (c *Conn) loseConnectionReason(reason error) {
	c.mu.Lock()
	if c.state != stOpen {
		c.mu.Unlock()
		return
	}
	c.state = stClosing
	c.setReasonLocked(reason)
	// Nothing to send but a half-close waiting for a TLS handshake
	// (shutWrite): close now, which ends the wait.
	done := c.drainedLocked() || c.shakeWaitLocked()
	if !done && (c.is(bWaitOut) || c.is(bFlushing) && c.bufferedLocked() > 0 || c.tlsPendingLocked()) {
		// Output waits for the peer, or a flush of it is under way
		// (perhaps blocked in the flusher goroutine's Write): the close
		// may wait for the peer. (Output a callback wrote, or a write
		// left to the engine's worker, arms the timer only if its flush
		// cannot finish at once: see flush and parkOutput.)
		c.armCloseLocked()
	}
	c.mu.Unlock()
	c.wakeReader()
	if done {
		c.closeSocket(false)
	}
}

// shakeWaitLocked reports whether shutWrite waits for a TLS handshake.
func (c *Conn) shakeWaitLocked() bool {
	x := c.x.Load()
	return x != nil && x.shakeWait
}

// drainedLocked reports whether a closing connection has nothing left to send
// and no one who could still add to it before flushing.
func (c *Conn) drainedLocked() bool {
	return c.state == stClosing && c.bits&(bFlushing|bFlushQueued|bWaitOut|bInCallback) == 0 && (c.out == nil || len(*c.out) == 0)
}

// abort closes the connection now with reason, discarding pending output.
func (c *Conn) abort(reason error, rst bool) {
	c.mu.Lock()
	if c.state == stClosed {
		if !c.is(bAborted) && (c.is(bLinger) || c.nio == nil && c.is(bSockClosed)) {
			// Half-closed, draining the peer: close now. On the
			// engine the runner decides to linger after the close
			// (closeIfDone): mark it aborted before, so it does not.
			c.bits |= bAborted
			c.put(bRst, rst)
			c.mu.Unlock()
			c.endLinger()
			return
		}
		c.mu.Unlock()
		return
	}
	if c.state == stClosing && c.closeReason() == nil {
		// A graceful close that had not finished is cut short: say why.
		c.setReason(reason)
	}
	c.setReasonLocked(reason)
	c.closeNowLocked(rst)
}

// closeNowLocked closes the connection at once, discarding pending output,
// once its reason is set; it unlocks c.mu.
func (c *Conn) closeNowLocked(rst bool) {
	c.state = stClosed
	if !c.is(bFlushing) {
		c.releaseOutLocked()
	}
	c.mu.Unlock()
	c.wakeReader()
	c.closeSock(rst, true)
}

// closeSocket closes the socket once; rst asks for a reset (SO_LINGER 0). On
// the readiness engine the close itself is done by the connection's runner
// (closeEngine), once no writer uses the descriptor any more.
func (c *Conn) closeSocket(rst bool) { c.closeSock(rst, false) }

// closeSock is closeSocket; abort marks the close of an abort (pending
// output discarded), which under TLS sends no close_notify (see abortUnder).
func (c *Conn) closeSock(rst, abort bool) {
	c.mu.Lock()
	if c.is(bSockClosed) {
		c.mu.Unlock()
		return
	}
	c.bits |= bSockClosed
	c.state = stClosed
	c.put(bRst, rst)
	if abort {
		c.bits |= bAborted
	}
	linger := !rst && !abort && !c.is(bPeerEOF)
	if x := c.x.Load(); x != nil && x.flushCond != nil {
		x.flushCond.Broadcast()
	}
	nio := c.nio
	var nc net.Conn
	var ch chan struct{}
	if nio != nil {
		nc = nio.nc // under mu: a switch to TLS replaces it (maybeSwitchTLS)
		if ch = nio.closed; ch == nil {
			nio.closed = closedChanDone
		}
	}
	var sock net.Conn
	if linger && nio != nil && rawSockets {
		// The serve goroutine closes (lingerClose), after a look at the
		// socket for input the Protocol left unread.
		if sock = socketUnder(nio.raw); sock != nil {
			nio.linger = sock
			c.bits |= bLinger // an abort from now on cuts the linger short
		}
	}
	c.mu.Unlock()
	if sock != nil {
		// Wake a reader blocked in Read, and a TLS handshake blocked in
		// Write (the one writer a graceful close can find: a TLS
		// listener's, in its first Read, or StartTLS's): closing the
		// socket under them ended them before the linger.
		sock.SetDeadline(time.Now())
		if ch != nil {
			close(ch)
		}
		return
	}
	if nio == nil {
		c.schedule() // the engine's runner closes and calls ConnectionLost
		return
	}
	if rst || abort {
		abortUnder(nio.raw, nc, rst)
	}
	nc.Close()
	if ch != nil {
		close(ch)
	}
}

// closeLinger bounds how long a graceful close of a socket that holds input
// the Protocol did not read waits, once everything is sent and the socket
// half-closed, for the peer to end its side, reading and discarding what it
// still sends (at most closeLingerBytes). Closing a TCP socket that holds
// unread input, or receives some after the close, makes the kernel reset
// the connection and discard the output it has not yet sent (RFC 1122
// 4.2.2.13), so a peer that sent more than the Protocol read (a command
// pipelined after "QUIT", a line over a codec's limit, a request to a
// daytime server) would lose the end of the reply. On Linux a TCP socket
// with no unread input, whose kernel still holds output the peer has not
// acknowledged (a reply larger than the peer's window), lingers the same
// way, so that input the peer sends after the close (a request pipelined
// behind one it had not seen answered) cannot destroy that output; that
// linger also ends once the peer has acknowledged all of it (looked at
// every lingerPollMin to lingerPollMax). Otherwise the socket is closed at
// once (input arriving after that gets the reset, which destroys nothing
// the peer has not received). At the bound, a linger whose socket still
// holds unacknowledged output, and less of it than at the start of the
// bound's span, goes on for another span: a slow peer that is still taking
// the output (a large reply over a slow link) keeps it safe from its own
// late input, up to lingerMax in all; one that took nothing for a whole
// span does not. The connection's ConnectionLost comes after the close:
// after the peer's end, the acknowledgement, or this bound. Twisted closes
// at once and has the reset.
const (
	closeLinger      = 2 * time.Second
	closeLingerBytes = 1 << 20
	lingerMax        = 30 * time.Second
)

// lingerGoesOn reports whether a linger that reached its bound goes on for
// another span (see closeLinger): the socket still holds q bytes of
// output, fewer than lastQ, the queue at the span's start, and the linger
// began less than lingerMax before now.
func lingerGoesOn(q, lastQ int, began, now int64) bool {
	return q > 0 && q < lastQ && now-began < int64(lingerMax)
}

// lingerPollMin and lingerPollMax bound the interval, doubling from the
// first to the second, at which a close that lingers for output only (see
// closeLinger) looks whether the peer has acknowledged all of it: a peer
// that reads promptly ends the linger within a few milliseconds, one that
// reads slowly costs a look every 200 ms at most.
const (
	lingerPollMin = 5 * time.Millisecond
	lingerPollMax = 200 * time.Millisecond
)

// lingerFor is closeLinger, which tests lengthen (SetCloseLinger) so that a
// close that must not linger is told from one that does without a tight
// timed assertion; read at each lingering close.
var lingerFor atomic.Int64

func init() { lingerFor.Store(int64(closeLinger)) }

// monoEpoch is the origin of monoNow.
var monoEpoch = time.Now()

// monoNow is the time in nanoseconds since monoEpoch, read from the
// monotonic clock: the idle, close and linger timers compare these, so
// that a step of the wall clock (NTP, an administrator) neither fires nor
// delays them. (They compared wall-clock Unix times: a connection's idle
// timeout could fire before IdleTimeout had passed.)
func monoNow() int64 { return int64(time.Since(monoEpoch)) }

// lingerTime is the current linger bound (closeLinger).
func lingerTime() time.Duration { return time.Duration(lingerFor.Load()) }

// lingerSocket is a socket that a graceful close may half-close and drain.
type lingerSocket interface {
	net.Conn
	CloseWrite() error
	SyscallConn() (syscall.RawConn, error)
}

// socketUnder returns the socket under raw (through TLS and other wrappers
// that expose it with NetConn) if it can half-close, else nil.
func socketUnder(raw net.Conn) net.Conn {
	sock, _ := innermost(raw)
	if _, ok := sock.(lingerSocket); !ok {
		return nil
	}
	return sock
}

// writeCloser is a connection that can end its output while it goes on
// reading: a socket (*net.TCPConn, *net.UnixConn), or a net.Conn of another
// kind that offers it, such as endpoint's stdio: over two pipes, whose
// CloseWrite closes standard output.
type writeCloser interface {
	CloseWrite() error
}

// closerUnder returns the connection under raw (through TLS and other
// wrappers that expose it with NetConn) if it can end its output, else nil.
func closerUnder(raw net.Conn) writeCloser {
	sock, _ := innermost(raw)
	wc, _ := sock.(writeCloser)
	return wc
}

// lingerClose, on the serve goroutine once closeSock asked for a graceful
// close and left it here (goroutine engine), closes the connection; if the
// socket holds input the Protocol did not read, it first half-closes and
// reads and discards what the peer still sends until the peer ends its
// side, closeLinger passes, closeLingerBytes came or an abort cuts it short
// (see closeLinger).
func (c *Conn) lingerClose() {
	c.mu.Lock()
	sock, nc := c.nio.linger, c.nio.nc
	c.mu.Unlock()
	if sock == nil {
		return
	}
	ls := sock.(lingerSocket)
	ls.SetDeadline(time.Time{})
	bp := getBuf(16 << 10)
	n, unread, queued := 0, false, false
	rc, err := ls.SyscallConn()
	if err == nil {
		rc.Control(func(fd uintptr) { // one non-blocking read, no wait
			m, again, err := onceFD(sysRead, int(fd), *bp)
			n, unread = m, !again && err == nil && m > 0
			// No input, and no end of stream (which ends a linger):
			// output the peer has not acknowledged would be lost to
			// input it sends after the close.
			queued = again && sendQueued(int(fd))
		})
	}
	c.mu.Lock()
	ok := !c.is(bAborted) && !c.is(bPeerEOF)
	unread = unread && ok
	// A StartTLS handshake cut by the close: its flight is of no use.
	queued = queued && ok && !c.tlsPendingLocked()
	c.mu.Unlock()
	if (unread || queued) && halfClose(ls, nc) {
		began := monoNow()
		end := time.Now().Add(lingerTime())
		lastQ := 0
		rc.Control(func(fd uintptr) { lastQ = sendQueue(int(fd)) })
		ls.SetReadDeadline(end)
		c.mu.Lock()
		aborted := c.is(bAborted) // an abort sets it before it wakes the read
		c.mu.Unlock()
		poll := lingerPollMin
		for !aborted && n < closeLingerBytes {
			if !unread {
				// For output only: look at the send queue now and
				// then, and end once the peer has acknowledged it.
				dl := time.Now().Add(poll)
				if dl.After(end) {
					dl = end
				}
				ls.SetReadDeadline(dl)
				c.mu.Lock()
				aborted = c.is(bAborted) // its wake-up may be overwritten
				c.mu.Unlock()
				if aborted {
					break
				}
			}
			m, err := ls.Read(*bp)
			n += m
			if err == nil {
				continue
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				break // the peer's end, or an error
			}
			c.mu.Lock()
			aborted = c.is(bAborted)
			c.mu.Unlock()
			q := 0
			rc.Control(func(fd uintptr) { q = sendQueue(int(fd)) })
			if !time.Now().Before(end) {
				if !lingerGoesOn(q, lastQ, began, monoNow()) {
					break
				}
				lastQ, end = q, time.Now().Add(lingerTime())
				ls.SetReadDeadline(end)
				continue
			}
			if unread {
				// Woken early: an abort (which the loop sees) moved
				// the deadline.
				ls.SetReadDeadline(end)
				continue
			}
			if q == 0 {
				break // acknowledged
			}
			poll = min(2*poll, lingerPollMax)
		}
	}
	putBuf(bp)
	c.mu.Lock()
	rst := c.is(bRst)
	c.mu.Unlock()
	if rst {
		abortUnder(c.nio.raw, nc, true)
	}
	nc.Close()
}

// halfClose ends the sending side of nc (a close_notify under TLS, then the
// FIN of sock, the socket under it, behind the queued output); false,
// having done nothing, when it cannot (a TLS handshake not done, a TLS
// layer it cannot reach).
func halfClose(sock writeCloser, nc net.Conn) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		if !tc.ConnectionState().HandshakeComplete || tc.CloseWrite() != nil {
			return false
		}
	} else if hasTLSLayer(nc) {
		return false // TLS under a wrapper: leave it its Close
	}
	return sock.CloseWrite() == nil
}

// hasTLSLayer reports whether nc or a connection under it (a wrapper
// exposing its inner connection with NetConn, such as the server's PROXY
// replay, over TLS) is a *tls.Conn; a wrapper without TLS, whose writes go
// to the socket under it as they are, may be half-closed through it. A
// layer with ConnectionState (a wrapper embedding a *tls.Conn, whose
// promoted NetConn returns the socket and skips the TLS layer) counts as
// TLS too. (Layers are not compared with ==: a wrapper's type may not be
// comparable.)
func hasTLSLayer(nc net.Conn) bool {
	for l := range layers(nc) {
		if _, ok := l.(interface{ ConnectionState() tls.ConnectionState }); ok {
			return true
		}
	}
	return false
}

// layers yields nc, then the connections under it that wrappers (TLS, the
// server's PROXY replay) expose with NetConn, outermost first; at most nine,
// as a wrapper could return itself.
func layers(nc net.Conn) iter.Seq[net.Conn] {
	return func(yield func(net.Conn) bool) {
		for range 9 {
			if nc == nil || !yield(nc) {
				return
			}
			w, ok := nc.(interface{ NetConn() net.Conn })
			if !ok {
				return
			}
			nc = w.NetConn()
		}
	}
}

// innermost returns the last of nc's layers, the socket under its
// wrappers, and whether there were wrappers over it.
func innermost(nc net.Conn) (sock net.Conn, wrapped bool) {
	n := 0
	for l := range layers(nc) {
		sock, n = l, n+1
	}
	return sock, n > 1
}

// endLinger cuts a linger short (an abort of a half-closed connection).
func (c *Conn) endLinger() {
	if c.nio == nil {
		c.schedule() // the runner closes (closeIfDone)
		return
	}
	c.mu.Lock()
	sock := c.nio.linger
	c.mu.Unlock()
	if sock != nil {
		sock.SetDeadline(time.Now()) // a read, or a write (see closeSock)
	}
}

// abortUnder readies nc, whose socket is raw or under it, for an abort. rst
// sets SO_LINGER 0 (a reset on close) on the socket, found through TLS (a
// *tls.Conn handed to NewConn, as the server does) and other wrappers that
// expose it with NetConn. Under TLS (that, or StartTLS's layer) the socket
// is closed first, so that closing the TLS layer sends no close_notify: the
// alert would tell the peer that the stream ended cleanly when pending
// output was discarded (on a unix socket, which has no reset, too), and
// could wait up to 5 s for a peer that reads nothing. Without TLS, nc is
// the socket: the caller closes it.
func abortUnder(raw, nc net.Conn, rst bool) {
	sock, layered := innermost(raw)
	if rst {
		if sc, ok := sock.(interface{ SetLinger(int) error }); ok {
			sc.SetLinger(0)
		}
	}
	if _, isTLS := nc.(*tls.Conn); layered || isTLS {
		sock.Close()
	}
}

// wakeReader releases a reader waiting in PauseReading.
func (c *Conn) wakeReader() {
	x := c.x.Load()
	if x == nil {
		return
	}
	c.mu.Lock()
	c.wakeLocked(x)
	c.mu.Unlock()
}

// wakeLocked wakes a reader paused by PauseReading: it waits on x.resume,
// or on its socket (waitPausedSocket), whose read deadline is then set in
// the past; the reader clears it, under c.mu, so after this. c.mu is held.
func (c *Conn) wakeLocked(x *connExt) {
	if x.resume != nil {
		close(x.resume)
		x.resume = nil
	}
	if x.sockWait && !x.sockWoken {
		x.sockWoken = true
		c.nio.psock.SetReadDeadline(aLongTimeAgo)
	}
}

// touch records activity for the idle timeout.
func (c *Conn) touch() {
	if c.opt.idle > 0 {
		c.ext().lastActive.Store(monoNow())
	}
}

// checkIdle runs when the idle timer fires. It re-arms the timer only while
// the connection is not closed, under mu: the timer is stopped (stopIdle)
// after the connection is closed, so a fire that was already running then
// cannot re-arm it, and no timer outlives the connection.
func (c *Conn) checkIdle() {
	x := c.ext()
	c.mu.Lock()
	if c.state == stClosed {
		c.mu.Unlock()
		return
	}
	// Read under mu: a read recorded (touch) before its delivery took mu
	// counts. Read before it, a read and its DataReceived could come
	// while this waited for mu, and the connection was closed as idle
	// right after them.
	since := time.Duration(monoNow() - x.lastActive.Load())
	if since >= c.opt.idle {
		// As abort, without letting go of mu between the look and the
		// close (a read delivered in between would be cut).
		if c.state == stClosing {
			// A graceful close cut short, its output discarded: say
			// so, as ErrCloseTimeout does.
			c.cutCloseReasonLocked(ErrIdleTimeout)
		} else {
			c.setReasonLocked(ErrIdleTimeout)
		}
		c.closeNowLocked(false)
		return
	}
	x.idle.Reset(c.opt.idle - since)
	c.mu.Unlock()
}

// stopTimers stops the idle and close timers of a closed connection (state
// is stClosed, so checkIdle and checkClose no longer re-arm them, and no
// close timer is armed any more).
func (c *Conn) stopTimers() {
	x := c.x.Load()
	if x == nil {
		return
	}
	c.mu.Lock()
	idle, closeT, lingerT := x.idle, x.closeT, x.lingerT
	c.mu.Unlock()
	if idle != nil {
		idle.Stop()
	}
	if lingerT != nil {
		lingerT.Stop()
	}
	if closeT != nil {
		closeT.Stop()
	}
}

// armCloseLocked starts the close timer (Options.CloseTimeout) of a closing
// connection whose close waits for the peer to take output; c.mu is held.
// It is armed once: it then runs until the connection ends (checkClose
// re-arms it while output is taken), and stopTimers stops it. Connections
// whose close never waits for the peer (most) have none.
func (c *Conn) armCloseLocked() {
	if c.opt.closeTO <= 0 || c.state != stClosing || c.flags.Load()&fDrain != 0 {
		return
	}
	x := c.ext()
	x.lastOut.Store(monoNow())
	c.flags.Or(fDrain) // after lastOut: wrote, seeing it, finds connExt
	// Under mu: checkClose reads x.closeT under it too, and may run
	// before AfterFunc returns.
	x.closeT = time.AfterFunc(c.opt.closeTO, c.checkClose)
}

// armClose is armCloseLocked for a caller that does not hold c.mu.
func (c *Conn) armClose() {
	if c.opt.closeTO <= 0 {
		return
	}
	c.mu.Lock()
	c.armCloseLocked()
	c.mu.Unlock()
}

// checkClose runs when the close timer fires. If the peer took output in
// the last CloseTimeout (a stall timer, not a deadline), it re-arms the
// timer for the rest; else it aborts the connection (a reset, pending
// output discarded) with ErrCloseTimeout, wrapping the close's own reason
// if it had one. A connection closed meanwhile (drained, or aborted) is
// left alone, and the timer is not re-armed: stopTimers stops it.
func (c *Conn) checkClose() {
	x := c.x.Load()
	c.mu.Lock()
	if c.state != stClosing {
		c.mu.Unlock()
		return
	}
	if since := time.Duration(monoNow() - x.lastOut.Load()); since < c.opt.closeTO {
		x.closeT.Reset(c.opt.closeTO - since)
		c.mu.Unlock()
		return
	}
	c.cutCloseReasonLocked(ErrCloseTimeout)
	c.closeNowLocked(true)
}

// cutCloseReasonLocked makes cause the close reason of a graceful close cut
// short (its output discarded), wrapping the close's own reason if it had
// one (LoseConnectionWithReason). c.mu is held.
func (c *Conn) cutCloseReasonLocked(cause error) {
	reason := cause
	if prev := c.closeReason(); prev != nil {
		reason = fmt.Errorf("%w: %w", cause, prev)
	}
	c.setReason(reason)
	c.bits |= bReasonSet
}

func (c *Conn) addFrames(in, out int64) {
	if cnt := c.opt.counters; cnt != nil {
		if in != 0 {
			cnt.FramesIn.Add(in)
		}
		if out != 0 {
			cnt.FramesOut.Add(out)
		}
	}
}

// connAddrs holds a connection's addresses: the local one, and the remote
// one unless Conn.rpack holds it packed. Connections with equal local TCP
// addresses and packed remote ones share one (sharedAddrs), so that an
// accepted IPv4 connection keeps its addresses in 16 bytes of Conn and
// nothing of its own.
type connAddrs struct {
	local, remote net.Addr
}

// noAddrs is the connAddrs of a connection without a local address and
// with a packed (or no) remote one. It is never modified.
var noAddrs connAddrs

// localAddrs shares connAddrs by local address: a server has few. The
// shared local address is a copy that does not keep the accept-time
// sockaddr alive (a *net.TCPAddr from Accept slices its IP out of it).
var localAddrs struct {
	sync.RWMutex
	m map[netip.AddrPort]*connAddrs
}

// sharedAddrs returns a connAddrs whose local address is a and whose remote
// one is nil: shared when a is a TCP address without a zone, else new.
func sharedAddrs(a net.Addr) *connAddrs {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.Zone != "" {
		if a == nil {
			return &noAddrs
		}
		return &connAddrs{local: a}
	}
	key := ta.AddrPort()
	localAddrs.RLock()
	s := localAddrs.m[key]
	localAddrs.RUnlock()
	if s != nil {
		return s
	}
	localAddrs.Lock()
	defer localAddrs.Unlock()
	if s := localAddrs.m[key]; s != nil {
		return s
	}
	if localAddrs.m == nil || len(localAddrs.m) >= 256 {
		localAddrs.m = make(map[netip.AddrPort]*connAddrs) // bounded
	}
	s = &connAddrs{local: compactAddr(ta)}
	localAddrs.m[key] = s
	return s
}

// setAddrs sets the addresses the Transport reports: an IPv4 TCP remote
// address is packed into rpack and the local one shared; otherwise the
// connection has a connAddrs of its own (32 bytes), whose local address is
// still the shared one.
func (c *Conn) setAddrs(laddr, raddr net.Addr) {
	shared := sharedAddrs(laddr)
	if p, ok := pack4(raddr); ok {
		c.addrs, c.rpack = shared, p
		return
	}
	c.addrs, c.rpack = &connAddrs{local: shared.local, remote: compactAddr(raddr)}, 0
}

// tcp4 is an IPv4 TCP address packed in one word: the address in bits 16–47,
// the port in bits 0–15, and bit 48 set (so that a packed address is never
// zero). Held in Conn.rpack, it costs 8 bytes where a *net.TCPAddr and its
// IP cost 64; Transport.RemoteAddr unpacks it into a new *net.TCPAddr on each
// call.
type tcp4 uint64

const tcp4Mark tcp4 = 1 << 48

// pack4 packs a, an IPv4 TCP address without a zone; ok is false for any
// other address.
func pack4(a net.Addr) (p tcp4, ok bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.Zone != "" || ta.Port < 0 || ta.Port > 0xffff {
		return 0, false
	}
	v4 := ta.IP.To4()
	if v4 == nil {
		return 0, false
	}
	ip := uint64(v4[0])<<24 | uint64(v4[1])<<16 | uint64(v4[2])<<8 | uint64(v4[3])
	return tcp4Mark | tcp4(ip<<16) | tcp4(ta.Port), true
}

// tcpAddr unpacks a.
func (a tcp4) tcpAddr() *net.TCPAddr {
	ip := uint32(a >> 16)
	return &net.TCPAddr{IP: net.IPv4(byte(ip>>24), byte(ip>>16), byte(ip>>8), byte(ip)).To4(), Port: int(a & 0xffff)}
}

// localAddr is the address LocalAddr reports.
func (c *Conn) localAddr() net.Addr {
	if c.addrs == nil {
		return nil
	}
	return c.addrs.local
}

// remoteAddr is the address RemoteAddr reports: an IPv4 TCP address is
// unpacked into a new *net.TCPAddr on each call.
func (c *Conn) remoteAddr() net.Addr {
	if c.rpack != 0 {
		return c.rpack.tcpAddr()
	}
	if c.addrs == nil {
		return nil
	}
	return c.addrs.remote
}

// compactAddr returns a copy of a TCP address whose IP has its own 4 or 16
// bytes; other addresses are returned as they are.
func compactAddr(a net.Addr) net.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a
	}
	ip := ta.IP
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return &net.TCPAddr{IP: append(net.IP(nil), ip...), Port: ta.Port, Zone: ta.Zone}
}
