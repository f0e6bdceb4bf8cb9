package weft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is one connection driven by the runtime: the handle a server or client
// keeps to observe and control it. Create it with NewConn and run it with Serve.
//
// How it works (the goroutine engine): Serve runs on the connection's own
// goroutine; it waits for readability without holding a buffer (on sockets
// that implement syscall.Conn), reads into a pooled buffer, and calls the
// Protocol. Every callback runs under cbMu, so callbacks are never concurrent
// whichever goroutine runs them. Writes append to one output buffer under mu and
// are flushed by whoever finds no flush in progress: at the end of a callback,
// or inline by a writer outside any callback; a short write hands the rest to a
// flusher goroutine that exists only while output is backed up.
type Conn struct {
	raw   net.Conn // the connection as given; nc is it, or TLS over it after StartTLS
	nc    net.Conn
	rc    syscall.RawConn // nil when nc is not a syscall.Conn (net.Pipe, TLS)
	proto Protocol
	opt   resolved
	err   error // invalid options
	tr    transport

	// cbMu is held while a callback runs.
	cbMu sync.Mutex
	// pending work posted to run serialized with callbacks.
	pendMu sync.Mutex
	pend   []func()
	npend  atomic.Int32

	mu         sync.Mutex
	out        *[]byte // queued output, not yet taken by a flusher
	sending    int     // bytes taken by the flusher and not yet written
	flushing   bool    // a goroutine owns the socket's write side
	inCallback bool    // a callback is running: its writes are flushed at its end
	state      int     // stOpen, stClosing, stClosed
	reason     error   // first close reason; meaningful once reasonSet
	reasonSet  bool
	lost       bool // ConnectionLost has been called
	producer   Producer
	prodWant   bool // the producer should be paused
	prodIs     bool // the producer was told to pause
	readPaused bool
	resume     chan struct{} // closed by ResumeReading while readPaused
	ctx        context.Context
	cancel     context.CancelFunc

	closeOnce sync.Once
	closed    chan struct{} // closed when the socket is closed

	idle       *time.Timer
	lastActive atomic.Int64 // unix nanoseconds of the last byte moved

	// State of the current raw read or write, kept here (not in closures) so
	// that the hot path allocates nothing.
	readFn, writeFn func(fd uintptr) bool
	rbuf            *[]byte
	rn              int
	rerr            error
	rskip           bool
	wbuf            []byte
	wn              int
	werr            error
	syncFn          func()

	// Readiness engine state (see engine_linux.go).
	fd        int
	gen       uint32
	rs        atomic.Uint32 // runState bits
	hup       atomic.Bool   // the peer hung up: read to EOF, not to a short read
	started   bool          // ConnectionMade was called (runner only)
	finalized bool          // ConnectionLost was called (runner only)
	madeDone  atomic.Bool   // ConnectionMade returned: posted work may run
	done      func(error)

	engineReadFn func(fd uintptr) bool

	// StartTLS (see tls.go).
	tlsCfg    *tls.Config // requested, switched to after the current callback
	tlsClear  int         // queued bytes that still go out in clear text
	tlsBuf    []byte      // bytes received after the command, for TLS
	tlsOn     bool
	flushCond *sync.Cond // signalled when flushing ends (lazily made)
}

const (
	stOpen = iota
	stClosing
	stClosed
)

// NewConn prepares nc to be driven by p. Nothing is read or called until Serve.
func NewConn(nc net.Conn, p Protocol, opts *Options) *Conn {
	c := &Conn{raw: nc, nc: nc, proto: p, closed: make(chan struct{})}
	c.opt, c.err = opts.resolve()
	c.tr.c = c
	c.syncFn = c.syncProducer
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
			c.readFn = c.rawRead
			c.writeFn = c.rawWrite
		}
	}
	return c
}

// Serve runs p over conn until the connection ends and returns the reason given
// to ConnectionLost (nil for a clean close). opts may be nil for the defaults.
func Serve(conn net.Conn, p Protocol, opts *Options) error {
	return NewConn(conn, p, opts).Serve()
}

// Serve runs the connection to its end: ConnectionMade, DataReceived for every
// read, ConnectionLost. It returns the reason given to ConnectionLost. Serve
// returns an error at once (closing nc, calling no callback) if the Options are
// invalid. Call Serve or Start once.
func (c *Conn) Serve() error {
	if c.opt.engine != nil && c.rc != nil {
		ch := make(chan error, 1)
		c.Start(func(err error) { ch <- err })
		return <-ch
	}
	if !c.begin() {
		return c.err
	}
	c.made()
	rerr := c.readLoop()
	c.endRead(rerr)
	<-c.closed
	c.finalize()
	return c.reason
}

// Start runs the connection without blocking the caller and calls done (if not
// nil) with the reason after ConnectionLost. With an Engine in the Options the
// connection then costs no goroutine while it is idle; otherwise Start runs
// Serve on a new goroutine.
func (c *Conn) Start(done func(reason error)) {
	if c.opt.engine == nil || c.rc == nil {
		go func() {
			err := c.Serve()
			if done != nil {
				done(err)
			}
		}()
		return
	}
	if !c.begin() {
		if done != nil {
			done(c.err)
		}
		return
	}
	c.done = done
	if err := c.opt.engine.add(c); err != nil {
		// The engine cannot take this connection: serve it on a goroutine.
		c.opt.engine = nil
		go func() {
			c.made()
			rerr := c.readLoop()
			c.endRead(rerr)
			<-c.closed
			c.finalize()
		}()
	}
}

// begin validates and arms the idle timer; false means Serve must not go on.
func (c *Conn) begin() bool {
	if c.err != nil {
		c.nc.Close()
		return false
	}
	if c.opt.idle > 0 {
		c.touch()
		c.idle = time.AfterFunc(c.opt.idle, c.checkIdle)
	}
	return true
}

// made calls ConnectionMade; work posted before it runs right after it.
func (c *Conn) made() {
	c.cbMu.Lock()
	c.callback(func() { c.proto.ConnectionMade(&c.tr) })
	c.madeDone.Store(true)
	c.unlockCallbacks()
}

// Transport returns the connection's Transport (valid before Serve too).
func (c *Conn) Transport() Transport { return &c.tr }

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
func (c *Conn) Close(reason error) { c.abort(reason, false) }

// Post runs fn serialized with the Protocol's callbacks, as soon as no callback
// is running (and never before ConnectionMade), on some goroutine; fn is
// dropped if the connection is lost first. It never blocks.
func (c *Conn) Post(fn func()) {
	c.pendMu.Lock()
	c.pend = append(c.pend, fn)
	c.pendMu.Unlock()
	c.npend.Add(1)
	c.tryRunPending()
}

// tryRunPending runs posted work if no callback is running. The goroutine that
// holds cbMu runs it otherwise, when it releases (unlockCallbacks).
func (c *Conn) tryRunPending() {
	for c.npend.Load() > 0 && c.madeDone.Load() && c.cbMu.TryLock() {
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
	for c.npend.Load() > 0 {
		c.pendMu.Lock()
		work := c.pend
		c.pend = nil
		c.pendMu.Unlock()
		c.npend.Add(-int32(len(work)))
		for _, fn := range work {
			c.mu.Lock()
			lost := c.lost
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
	c.inCallback = true
	c.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			c.abort(fmt.Errorf("%w: %v", ErrProtocolPanic, r), false)
		}
		c.mu.Lock()
		c.inCallback = false
		start := c.startFlushLocked()
		closeNow := !start && c.drainedLocked() // LoseConnection with nothing to send
		c.mu.Unlock()
		if start {
			c.flush()
		} else if closeNow {
			c.closeSocket(false)
		}
	}()
	fn()
}

// deliver calls DataReceived unless the connection stopped reading meanwhile.
func (c *Conn) deliver(data []byte) {
	c.cbMu.Lock()
	c.mu.Lock()
	open := c.state == stOpen
	c.mu.Unlock()
	if open {
		if cnt := c.opt.counters; cnt != nil {
			cnt.BytesIn.Add(int64(len(data)))
		}
		c.callback(func() { c.proto.DataReceived(data) })
	}
	c.unlockCallbacks()
}

// endRead starts closing the connection after reading stopped with rerr.
func (c *Conn) endRead(rerr error) {
	switch {
	case rerr == nil || rerr == errStopped || errors.Is(rerr, io.EOF):
		// The peer closed its side (or reading stopped because we are
		// closing): flush what is pending, then close cleanly.
		c.loseConnection()
	default:
		c.abort(rerr, false)
	}
}

// finalize calls ConnectionLost, exactly once, after the socket is closed.
func (c *Conn) finalize() {
	if c.idle != nil {
		c.idle.Stop()
	}
	c.cbMu.Lock()
	// Work posted before this point still runs (it may be a Shutdown hook);
	// nothing runs after ConnectionLost.
	c.runPending()
	c.mu.Lock()
	c.lost = true
	prod := c.producer
	c.producer = nil
	cancel := c.cancel
	c.releaseOutLocked()
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				c.reason = fmt.Errorf("%w: %v", ErrProtocolPanic, r)
			}
		}()
		if prod != nil {
			prod.StopProducing()
		}
		c.proto.ConnectionLost(c.reason)
	}()
	c.cbMu.Unlock()
	if c.done != nil {
		c.done(c.reason)
	}
}

// setReasonLocked records the first close reason.
func (c *Conn) setReasonLocked(r error) {
	if !c.reasonSet {
		c.reason, c.reasonSet = r, true
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
	done := c.drainedLocked()
	c.mu.Unlock()
	c.wakeReader()
	if done {
		c.closeSocket(false)
	}
}

// drainedLocked reports whether a closing connection has nothing left to send
// and no one who could still add to it before flushing.
func (c *Conn) drainedLocked() bool {
	return c.state == stClosing && !c.flushing && !c.inCallback && (c.out == nil || len(*c.out) == 0)
}

// abort closes the connection now with reason, discarding pending output.
func (c *Conn) abort(reason error, rst bool) {
	c.mu.Lock()
	if c.state == stClosed {
		c.mu.Unlock()
		return
	}
	if c.state == stClosing && c.reason == nil {
		// A graceful close that had not finished is cut short: say why.
		c.reason = reason
	}
	c.state = stClosed
	c.setReasonLocked(reason)
	if !c.flushing {
		c.releaseOutLocked()
	}
	c.mu.Unlock()
	c.wakeReader()
	c.closeSocket(rst)
}

// closeSocket closes the socket once; rst asks for a reset (SO_LINGER 0).
func (c *Conn) closeSocket(rst bool) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.state = stClosed
		nc := c.nc
		if c.flushCond != nil {
			c.flushCond.Broadcast()
		}
		c.mu.Unlock()
		if rst {
			if tc, ok := c.raw.(interface{ SetLinger(int) error }); ok {
				tc.SetLinger(0)
			}
		}
		if c.opt.engine != nil {
			c.opt.engine.remove(c)
		}
		nc.Close()
		close(c.closed)
		if c.opt.engine != nil {
			c.schedule() // the engine's runner calls ConnectionLost
		}
	})
}

// wakeReader releases a reader waiting in PauseReading.
func (c *Conn) wakeReader() {
	c.mu.Lock()
	if c.resume != nil {
		close(c.resume)
		c.resume = nil
	}
	c.mu.Unlock()
}

// touch records activity for the idle timeout.
func (c *Conn) touch() {
	if c.opt.idle > 0 {
		c.lastActive.Store(time.Now().UnixNano())
	}
}

// checkIdle runs when the idle timer fires.
func (c *Conn) checkIdle() {
	since := time.Since(time.Unix(0, c.lastActive.Load()))
	if since >= c.opt.idle {
		c.abort(ErrIdleTimeout, false)
		return
	}
	c.idle.Reset(c.opt.idle - since)
}

func (c *Conn) addFrames(in, out int64) {
	if cnt := c.opt.counters; cnt != nil {
		cnt.FramesIn.Add(in)
		cnt.FramesOut.Add(out)
	}
}
