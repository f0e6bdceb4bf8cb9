package weft

import (
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"reflect"
	"sync"
	"syscall"
	"time"
)

// errStopped ends the read loop when the connection stopped reading because it
// is closing; finish then waits for the close.
var errStopped = errors.New("weft: reading stopped")

// idleReadSize is the size of a blocking read on a connection that is not a
// socket the runtime can poll (TLS, net.Pipe, a wrapper): such a read holds
// its buffer while the connection waits for data, so it is this small until
// a read fills it; reads are then ReadBufferSize long (a *tls.Conn's at most
// maxTLSPlaintext) until one comes back short, under both its buffer and a
// full TLS record (a TLS connection under a wrapper returns a record a
// read). A TLS record's plaintext waits in crypto/tls's own buffer
// meanwhile, so nothing is read twice.
const idleReadSize = 1 << 10

// maxTLSPlaintext is the most a TLS record carries (RFC 8446, 2^14 bytes),
// and so the most one crypto/tls Read returns.
const maxTLSPlaintext = 1 << 14

// readLoop reads until the connection ends and returns why it ended (the
// goroutine engine).
func (c *Conn) readLoop() error {
	nio := c.nio
	if c.hasPreread() {
		if err := c.waitReadable(); err != nil && err != errSwitchTLS {
			return err
		}
		c.deliverPreread() // handed to TLS if a switch waits
	}
	size := min(idleReadSize, c.opt.readSize) // the next blocking read's, not a socket's (see idleReadSize)
	for {
		if err := c.maybeSwitchTLS(); err != nil {
			return err
		}
		if err := c.waitReadable(); err == errSwitchTLS {
			continue
		} else if err != nil {
			return err
		}
		var bp *[]byte
		var n int
		var err error
		if nio.rc != nil {
			nio.rbuf, nio.rn, nio.rerr, nio.rskip = nil, 0, nil, false
			if err = nio.rc.Read(nio.readFn); err == nil {
				bp, n, err = nio.rbuf, nio.rn, nio.rerr
				nio.rbuf = nil
				if nio.rskip {
					continue // paused or closing: look again
				}
				if n == 0 && err == nil {
					err = io.EOF
				}
			}
		} else {
			bp = getBuf(size)
			n, err = nio.nc.Read(*bp)
			if n == size || n >= maxTLSPlaintext { // data keeps coming: full-size reads
				size = c.opt.readSize
				if _, ok := nio.nc.(*tls.Conn); ok {
					// crypto/tls returns one record at a time: a
					// full record fills this, and keeps it.
					size = min(size, maxTLSPlaintext)
				}
			} else {
				size = min(idleReadSize, c.opt.readSize)
			}
		}
		if n > 0 {
			c.touch()
			c.deliver((*bp)[:n])
		}
		putBuf(bp)
		if err != nil {
			if c.tlsKick(err) {
				continue
			}
			if serr := c.switchAtEOF(err); serr != nil {
				return serr
			}
			return err
		}
	}
}

// hasPreread reports whether Options.Preread bytes wait to be delivered.
func (c *Conn) hasPreread() bool {
	x := c.x.Load()
	return x != nil && len(x.preread) > 0
}

// deliverPreread delivers the Options.Preread bytes, once, before anything
// read from the socket; held is deliver's.
func (c *Conn) deliverPreread() (held bool) {
	x := c.x.Load()
	pre := x.preread
	x.preread = nil
	c.touch()
	return c.deliver(pre)
}

// errSwitchTLS tells the read loop that a switch to TLS waits: it switches
// (and sends the clear-text output queued before StartTLS) even while
// reading is paused.
var errSwitchTLS = errors.New("weft: switch to TLS")

// waitReadable returns when reading may go on: not paused and open. It returns
// errSwitchTLS when StartTLS was called (the reader must switch, paused or
// closing), else errStopped when the connection is closing or closed.
func (c *Conn) waitReadable() error {
	c.mu.Lock()
	for c.is(bReadPaused) && c.state == stOpen && !c.tlsPendingLocked() {
		x := c.ext()
		c.mu.Unlock()
		rc, sock := c.pausedSocket()
		c.mu.Lock()
		if rc != nil {
			// A socket: wait on it, so that a reset or a keep-alive
			// timeout ends the paused connection (waitPausedSocket).
			x.sockWait, c.nio.psock = true, sock
			c.mu.Unlock()
			serr := c.waitPausedSocket(rc)
			c.mu.Lock()
			x.sockWait = false
			if x.sockWoken {
				x.sockWoken = false
				sock.SetReadDeadline(time.Time{})
			}
			if serr != nil && c.state == stOpen {
				c.mu.Unlock()
				c.abort(serr, false)
				c.mu.Lock()
			}
			continue
		}
		if !c.is(bReadPaused) || c.state != stOpen || c.tlsPendingLocked() {
			continue // resumed (or closing) while c.mu was released
		}
		if x.resume == nil {
			x.resume = make(chan struct{})
		}
		ch := x.resume
		if c.nio.closed == nil {
			c.nio.closed = make(chan struct{})
		}
		closed := c.nio.closed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-closed:
		}
		c.mu.Lock()
	}
	open, tls := c.state == stOpen, c.tlsPendingLocked()
	c.mu.Unlock()
	switch {
	case tls:
		// First, even when closing: only the switch sends the output
		// queued before StartTLS (LoseConnection waits for it).
		return errSwitchTLS
	case !open:
		return errStopped
	}
	return nil
}

// waitPausedSocket waits, while reading is paused, for the socket to hold
// an error: the peer reset the connection, or a keep-alive or retransmission
// timeout found the peer gone. It returns that error (the paused connection
// is dead: waitReadable aborts it, dropping the input not yet delivered, as
// TCP discards a reset connection's data), or nil once reading may go on or
// the connection closes. Data and a plain end of stream arriving meanwhile
// only wake it: they wait in the socket for ResumeReading. ResumeReading,
// StartTLS and a close wake it (wakeLocked).
func (c *Conn) waitPausedSocket(rc syscall.RawConn) error {
	var serr error
	rc.Read(func(fd uintptr) bool {
		c.mu.Lock()
		wait := c.is(bReadPaused) && c.state == stOpen && !c.tlsPendingLocked() && !c.ext().sockWoken
		c.mu.Unlock()
		if !wait {
			return true
		}
		serr = sockError(int(fd))
		return serr != nil
	})
	return serr
}

// pausedSocket returns the socket a paused reader waits on
// (waitPausedSocket): its RawConn, and the connection whose read deadline
// wakes the wait. That is the TCP or unix socket under the connection
// (itself, or under wrappers that expose it with NetConn, the server's
// PROXY replay say), under TLS too once the handshake is done: a
// handshake, which a Write may start, reads the socket, and the wait holds
// its read side. It returns nil for a connection without such a socket
// (net.Pipe, a pipe or file, a wrapper that hides the socket), and for
// TLS whose handshake is not done or cannot be seen (TLS under a wrapper).
func (c *Conn) pausedSocket() (syscall.RawConn, net.Conn) {
	if !rawSockets {
		return nil, nil
	}
	nio := c.nio
	if tc, ok := nio.nc.(*tls.Conn); ok {
		if !tc.ConnectionState().HandshakeComplete {
			return nil, nil
		}
	} else if hasTLSLayer(nio.nc) {
		return nil, nil
	}
	var sc syscall.Conn
	switch sock := socketUnder(nio.raw).(type) {
	case *net.TCPConn:
		sc = sock
	case *net.UnixConn:
		sc = sock
	default:
		return nil, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, nil
	}
	return rc, sc.(net.Conn)
}

// rawRead is the syscall.RawConn read callback: it takes a pooled buffer only
// when the socket has data, so a connection waiting for data holds none.
func (c *Conn) rawRead(fd uintptr) bool {
	nio := c.nio
	c.mu.Lock()
	stop := c.is(bReadPaused) || c.state != stOpen || c.tlsPendingLocked()
	c.mu.Unlock()
	if stop {
		nio.rskip = true
		return true
	}
	if nio.rbuf == nil {
		nio.rbuf = getBuf(c.opt.readSize)
	}
	for {
		n, err := readSock(fd, *nio.rbuf)
		switch err {
		case nil:
			nio.rn = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			putBuf(nio.rbuf)
			nio.rbuf = nil
			return false // wait for readability, holding no buffer
		default:
			nio.rerr = err
			return true
		}
	}
}

// rawWrite is the syscall.RawConn write callback: one non-blocking write.
func (c *Conn) rawWrite(fd uintptr) bool {
	nio := c.nio
	n, err := writeFD(int(fd), nio.wbuf)
	nio.wn, nio.werr = n, err
	return true
}

// writeFD writes p to a non-blocking descriptor once; EAGAIN is a short
// write, not an error.
func writeFD(fd int, p []byte) (int, error) {
	n, again, err := onceFD(sysWrite, fd, p)
	if again {
		return 0, nil
	}
	return n, err
}

// onceFD runs one read or write (op) on a non-blocking descriptor, retrying
// EINTR; again reports EAGAIN.
func onceFD(op func(int, []byte) (int, error), fd int, p []byte) (n int, again bool, err error) {
	for {
		n, err := op(fd, p)
		switch err {
		case nil:
			return n, false, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, true, nil
		default:
			return 0, false, err
		}
	}
}

// deferLimit bounds the output that a write outside any callback leaves for
// the readiness engine's worker to flush (so that messages broadcast to many
// connections leave in one system call each, not one per message). Past it,
// the writer flushes inline, so deferring never lets a fast reader's buffer
// grow towards MaxWriteBuffer.
const deferLimit = 16 << 10

// write queues a, b, c, then bufs, as one atomic write; frames is the number
// of frames it holds (counted in Counters.FramesOut when it is handed to the
// socket).
func (c *Conn) write(a, b, d []byte, bufs [][]byte, frames uint16) (int, error) {
	total := len(a) + len(b) + len(d)
	for _, p := range bufs {
		total += len(p)
	}
	c.mu.Lock()
	if c.state != stOpen || c.is(bWriteClose) {
		// Closing (LoseConnection, which also stops a Write from
		// passing MaxWriteBuffer and aborting the drain), closed, or
		// its output ended (LoseWriteConnection).
		c.mu.Unlock()
		return 0, ErrClosed
	}
	if total == 0 {
		c.mu.Unlock()
		return 0, nil
	}
	buffered := c.bufferedLocked()
	// A peer is slow when output it has not taken piles up. A Write into
	// an empty buffer is taken whatever its size: everything before it has
	// gone, and its bytes are the caller's own (an echo of a frame as large
	// as the codec allows, say). So a buffer holds at most the larger of
	// MaxWriteBuffer and one Write.
	if buffered > 0 && buffered+total > c.opt.max {
		c.mu.Unlock()
		c.abort(ErrSlowConsumer, false)
		return 0, ErrSlowConsumer
	}
	c.reserveLocked(total)
	if frames != 0 {
		if c.outFrames > math.MaxUint16-frames {
			c.countFramesOutLocked()
		}
		c.outFrames += frames
	}
	*c.out = append(*c.out, a...)
	*c.out = append(*c.out, b...)
	*c.out = append(*c.out, d...)
	for _, p := range bufs {
		*c.out = append(*c.out, p...)
	}
	pause := false
	if x := c.x.Load(); x != nil && x.producer != nil {
		if !x.prodWant && c.opt.pauses(buffered+total) {
			x.prodWant, x.prodPend, pause = true, true, true
		}
	}
	start, sched := false, false
	if c.nio == nil && c.bits&(bInCallback|bFlushing|bWaitOut) == 0 &&
		buffered+total <= min(deferLimit, c.opt.high) {
		// Outside any callback on the readiness engine: let the worker
		// flush, so that more writes can join this one.
		sched = !c.is(bFlushQueued)
		c.bits |= bFlushQueued
	} else {
		start = c.startFlushLocked()
	}
	c.mu.Unlock()
	if pause {
		c.Post(c.syncProducer)
	}
	if sched {
		c.schedule()
	}
	if start {
		c.flush()
	}
	return len(a), nil
}

// reserveLocked makes room for n more bytes of output, growing the buffer by
// size class from the pool (append would allocate an unpooled one).
func (c *Conn) reserveLocked(n int) {
	if c.out == nil {
		c.out = getBuf(outSize(n))
		*c.out = (*c.out)[:0]
		return
	}
	have := len(*c.out)
	if have+n <= cap(*c.out) {
		return
	}
	want := have + n
	if want > 1<<maxClassBits {
		// Past the pooled size classes getBuf gives exactly what is
		// asked: grow by half at least, or each small Write would copy
		// everything queued (quadratic). A non-empty buffer never goes
		// past MaxWriteBuffer (write), so neither does this.
		want = max(want, min(have+have/2, c.opt.max))
	}
	bigger := getBuf(outSize(want))
	*bigger = append((*bigger)[:0], *c.out...)
	putBuf(c.out)
	c.out = bigger
}

// outSize is the capacity asked for when n bytes of output must fit: room
// for about three writes more like them, up to 64 KiB. A regrowth copies
// everything queued, and an echo of 4 KiB frames regrew its buffer at the
// second and fourth frame of each read (twice the payload copied again,
// perf of S3). Buffers are pooled and held only while output waits, so the
// headroom is not a per-connection cost.
func outSize(n int) int { return max(n, min(4*n, 64<<10), 2048) }

func (c *Conn) bufferedLocked() int {
	n := c.sending
	if c.out != nil {
		n += len(*c.out)
	}
	return n
}

// tlsPendingLocked reports whether a switch to TLS is waiting.
func (c *Conn) tlsPendingLocked() bool {
	x := c.x.Load()
	return x != nil && x.tlsCfg != nil
}

// startFlushLocked claims the write side if there is output (or a
// half-close due) and no one else will flush it.
func (c *Conn) startFlushLocked() bool {
	if c.bits&(bInCallback|bFlushing|bWaitOut) != 0 || c.state == stClosed || (c.out == nil || len(*c.out) == 0) && !c.shutDueLocked() || c.tlsPendingLocked() {
		return false
	}
	c.bits |= bFlushing
	return true
}

// takeOut hands the queued output to the flusher, or ends the flush
// (reporting whether a closing connection may now close). shut asks the
// flusher to half-close the socket (shutWrite), then to call takeOut again.
func (c *Conn) takeOut() (bp *[]byte, closeNow, shut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.takeOrEndLocked()
}

// shutDueLocked reports whether the half-close of LoseWriteConnection is
// due: asked for, not yet made, and all the output sent.
func (c *Conn) shutDueLocked() bool {
	return c.bits&(bWriteClose|bWriteShut|bInCallback|bWaitOut) == bWriteClose && c.state == stOpen &&
		(c.out == nil || len(*c.out) == 0) && !c.tlsPendingLocked()
}

// takeOrEndLocked is takeOut under c.mu. On the readiness engine it makes
// the half-close itself (a system call that does not block, on a
// descriptor the flush keeps open), so shut is only for the goroutine
// engine.
func (c *Conn) takeOrEndLocked() (bp *[]byte, closeNow, shut bool) {
	if c.shutDueLocked() {
		c.bits |= bWriteShut
		if c.nio != nil {
			return nil, false, true
		}
		sysShutdownWrite(int(c.fd))
	}
	// While a callback runs, its writes wait for its end (callback then
	// starts a flush), so they leave together.
	if c.state == stClosed || c.is(bInCallback) || c.out == nil || len(*c.out) == 0 || c.tlsPendingLocked() {
		c.endFlushLocked()
		if c.state == stClosed {
			c.releaseOutLocked()
		} else if c.out != nil && len(*c.out) == 0 && !c.is(bInCallback) {
			putBuf(c.out) // an idle connection keeps no buffer
			c.out = nil
		}
		return nil, c.drainedLocked(), false
	}
	return c.takeOutLocked(), false, false
}

// endFlushLocked gives up the write side (bFlushing) and wakes those who
// wait for the flush to end (waitFlush, a switch to TLS); c.mu is held.
func (c *Conn) endFlushLocked() {
	c.bits &^= bFlushing
	if x := c.x.Load(); x != nil && x.flushCond != nil {
		x.flushCond.Broadcast()
	}
}

// takeOutLocked hands c.out (not empty) to the flusher.
func (c *Conn) takeOutLocked() *[]byte {
	bp := c.out
	c.out = nil
	c.sending = len(*bp)
	c.countFramesOutLocked()
	return bp
}

// countFramesOutLocked adds the frames queued so far to Counters.FramesOut.
func (c *Conn) countFramesOutLocked() {
	if n := c.outFrames; n != 0 {
		c.outFrames = 0
		if cnt := c.opt.counters; cnt != nil {
			cnt.FramesOut.Add(int64(n))
		}
	}
}

// releaseOutLocked drops queued output.
func (c *Conn) releaseOutLocked() {
	putBuf(c.out)
	c.out = nil
	if x := c.x.Load(); x != nil && x.wait != nil {
		putBuf(x.wait)
		x.wait = nil
	}
	c.bits &^= bWaitOut
	c.sending = 0
}

// flush writes queued output; the caller claimed the write side. On a socket it
// writes inline without blocking and hands a remainder to a flusher goroutine
// (goroutine engine) or to the engine's worker when the socket is writable
// again (readiness engine); on other connections (net.Pipe, TLS) the whole
// flush runs on a goroutine, as their Write may block.
func (c *Conn) flush() {
	nio := c.nio
	if nio == nil {
		c.flushFD()
		return
	}
	if nio.rc == nil {
		c.armClose() // a close now waits for the peer to read
		nio.flushers.Add(1)
		go c.flushLoop(nio, nil, 0)
		return
	}
	for {
		bp, closeNow, shut := c.takeOut()
		if shut {
			c.shutWrite()
			continue
		}
		if bp == nil {
			if closeNow {
				c.closeSocket(false)
			}
			return
		}
		nio.wbuf, nio.wn, nio.werr = *bp, 0, nil
		err := nio.rc.Write(nio.writeFn)
		n, werr := nio.wn, nio.werr
		nio.wbuf = nil
		if err == nil {
			err = werr
		}
		if err != nil {
			putBuf(bp)
			c.writeFailed(err)
			return
		}
		if n < len(*bp) {
			// The socket took n bytes: they are no longer buffered
			// (Buffered), only the rest the flusher goroutine writes.
			c.wrote(n)
			c.sentPart(n)
			c.armClose() // a close now waits for the peer to read
			nio.flushers.Add(1)
			go c.flushLoop(nio, bp, n)
			return
		}
		c.wrote(n)
		c.sendDone(bp)
	}
}

// flushLoop writes queued output with blocking writes until none is left;
// it runs on a goroutine of its own (counted in nio.flushers, which the
// connection's end waits for: see waitFlush).
func (c *Conn) flushLoop(nio *netIO, bp *[]byte, off int) {
	defer nio.flushers.Done()
	nc := nio.nc
	cuttable := deadlineCuttable(nc)
	for {
		if bp == nil {
			var closeNow, shut bool
			if bp, closeNow, shut = c.takeOut(); shut {
				c.shutWrite()
				continue
			}
			if bp == nil {
				if closeNow {
					c.closeSocket(false)
				}
				return
			}
			off = 0
		}
		n, err := c.writeSome(nc, (*bp)[off:], cuttable)
		if n > 0 {
			c.wrote(n) // a Write that fails may have sent some bytes first
		}
		if err != nil {
			putBuf(bp)
			c.writeFailed(err)
			return
		}
		if off += n; off < len(*bp) {
			c.sentPart(n)
			continue
		}
		c.sendDone(bp)
		bp = nil
	}
}

// writeSome makes one blocking Write of (a first part of) p on nc, the
// flusher's (flushLoop) or a switch's clear text (maybeSwitchTLS), and
// returns what it sent; cuttable is deadlineCuttable(nc). The Write is cut
// short now and then when the timers or a paused producer must see its
// progress.
func (c *Conn) writeSome(nc net.Conn, p []byte, cuttable bool) (n int, err error) {
	c.mu.Lock()
	paused := c.pausedLocked()
	c.mu.Unlock()
	slice := c.progressSlice()
	switch {
	case paused:
		// A paused producer is resumed at the low-water mark: write a
		// piece (a TLS record) at a time, so that the progress is seen
		// (by the timers too: each piece is a write taken).
		return nc.Write(p[:min(len(p), idleChunk)])
	case slice <= 0:
		return nc.Write(p)
	case !cuttable:
		// A TLS Write cannot be cut short by a deadline (the connection
		// is broken after one, and every later Write fails at once), nor
		// can a Write of a net.Conn not known to survive one (a wrapper,
		// perhaps of TLS): write a record at a time.
		return nc.Write(p[:min(len(p), idleChunk)])
	}
	// IdleTimeout and CloseTimeout count bytes that leave, not whole
	// Writes: a peer reading slowly but steadily is neither idle nor
	// stalled. The deadline cuts the Write short to record its progress; a
	// peer that reads nothing is left to the timers. The deadline is
	// cleared at once: an inline flush's raw Write would obey it.
	_ = nc.SetWriteDeadline(time.Now().Add(slice))
	n, err = nc.Write(p)
	_ = nc.SetWriteDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}

// idleChunk bounds one Write of the flusher on a TLS connection (or another
// that a deadline could break) when IdleTimeout or CloseTimeout is set, so
// that a slow reader's progress is seen between Writes.
const idleChunk = 16 << 10

// deadlineCuttable reports whether a Write on nc may be cut short by a write
// deadline and resumed with the rest: a socket of package net, whose Write
// reports what it sent and stays usable, or a net.Pipe. Not a *tls.Conn,
// which a cut Write breaks for good (a record half sent), nor a net.Conn
// the runtime does not know, which may layer such a stream too.
func deadlineCuttable(nc net.Conn) bool {
	switch nc.(type) {
	case *tls.Conn:
		return false
	case syscall.Conn:
		return true
	}
	return reflect.TypeOf(nc) == pipeType()
}

// pipeType is the type of net.Pipe's ends, found the first time it is
// needed (not at start-up in every program that imports weft).
var pipeType = sync.OnceValue(func() reflect.Type {
	a, b := net.Pipe()
	a.Close()
	b.Close()
	return reflect.TypeOf(a)
})

// progressSlice is how long one blocking Write of the flusher may last
// before it is cut short to record its progress: half the shorter of
// IdleTimeout and CloseTimeout, or 0 (no limit) when neither is set.
// CloseTimeout counts even before the connection closes: a Write started
// then may still run when LoseConnection comes.
func (c *Conn) progressSlice() time.Duration {
	d := c.opt.idle
	if to := c.opt.closeTO; to > 0 && (d <= 0 || to < d) {
		d = to
	}
	return d / 2
}

// wrote records n bytes sent.
func (c *Conn) wrote(n int) {
	c.touch()
	if n > 0 && c.flags.Load()&fDrain != 0 {
		c.x.Load().lastOut.Store(monoNow())
	}
	if cnt := c.opt.counters; cnt != nil {
		cnt.BytesOut.Add(int64(n))
	}
}

// sentPart records that n bytes of the flusher's buffer went to the socket
// and the rest did not yet, and resumes a paused producer if that took the
// buffer to the low-water mark (resumeLocked). The count never goes below
// zero: a connection that ended meanwhile (finalize) has dropped it already.
func (c *Conn) sentPart(n int) {
	c.mu.Lock()
	c.sending = max(0, c.sending-n)
	resume := c.resumeLocked()
	c.mu.Unlock()
	if resume {
		c.Post(c.syncProducer)
	}
}

// resumeLocked reports whether a paused producer should be resumed now that
// the buffer went down (the caller posts syncProducer after unlocking): at
// the low-water mark, counting what the flusher still has to write, so that
// LowWater holds while a slow reader drains a large write, not only once
// all of it has gone.
func (c *Conn) resumeLocked() bool {
	x := c.x.Load()
	if x == nil || x.producer == nil || !x.prodWant || c.bufferedLocked() > c.opt.low {
		return false
	}
	x.prodWant = false
	return true
}

// pausedLocked reports whether a registered producer is paused (or about to
// be): the flusher then writes in pieces, so that its progress is seen and
// the producer resumed at the low-water mark (sentPart).
func (c *Conn) pausedLocked() bool {
	x := c.x.Load()
	return x != nil && x.producer != nil && x.prodWant
}

// sendDone recycles a buffer the flusher finished writing and resumes a
// paused producer when the buffer went below the low-water mark.
func (c *Conn) sendDone(bp *[]byte) {
	putBuf(bp)
	c.mu.Lock()
	resume := c.sentLocked()
	c.mu.Unlock()
	if resume {
		c.Post(c.syncProducer)
	}
}

// sentLocked records that the flusher's buffer went out whole and reports
// whether a paused producer should now be resumed (the caller posts
// syncProducer after unlocking).
func (c *Conn) sentLocked() (resume bool) {
	c.sending = 0
	return c.resumeLocked()
}

// writeFailed ends the connection after a write error.
func (c *Conn) writeFailed(err error) {
	c.mu.Lock()
	c.endFlushLocked()
	c.sending = 0
	// Closed already (an Abort from another goroutine during this flush):
	// abort does nothing, and the engine's runner, which left the
	// descriptor to this flush, must look again to close it.
	closed := c.nio == nil && c.is(bSockClosed)
	c.mu.Unlock()
	c.abort(err, false)
	if closed {
		c.schedule()
	}
}

// syncProducer tells the producer to pause or resume to match the buffer. It
// runs as a callback, so producers are never called concurrently with the
// Protocol. A pause that the buffer's drain overtook before it ran (the
// socket took everything at once) is still told, followed by the resume
// (connExt.prodPend): a producer that saw the buffer pass the mark, or find
// no room, and stopped would otherwise never hear that it may go on.
func (c *Conn) syncProducer() {
	x := c.ext()
	c.mu.Lock()
	p, want, is, pend := x.producer, x.prodWant, x.prodIs, x.prodPend
	x.prodIs = want
	if want != is || !want {
		x.prodPend = false
	}
	c.mu.Unlock()
	switch {
	case p == nil:
	case want != is && want:
		p.PauseProducing()
	case want != is:
		p.ResumeProducing()
	case pend && !want:
		// The buffer passed the mark (or filled) and drained before
		// the pause was delivered: the producer, which may have seen
		// it and stopped, still hears that it may go on.
		p.PauseProducing()
		p.ResumeProducing()
	}
}
