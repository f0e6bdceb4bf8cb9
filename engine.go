package weft

import (
	"io"
	"time"
)

// The readiness engine's per-connection runner. The Engine (engine_linux.go)
// owns the connection's descriptor, watches it with epoll and calls schedule
// when it becomes ready; schedule puts the connection on the engine's run
// queue, and a worker then runs step: ConnectionMade first, then output the
// socket can now take, then reads and deliveries until the socket is
// drained, and ConnectionLost once the connection is closed. At most one
// worker owns a connection at a time (the rs state word), so callbacks stay
// ordered and never concurrent, and a callback that blocks stalls only its
// own connection.

const (
	rsRunning = 1 << iota // the connection is queued or a worker owns it
	rsPending             // an event arrived meanwhile: look again
)

// maxReadsPerTurn bounds the reads of one turn, so that a connection whose
// peer never stops sending cannot keep a worker from the others; it goes to
// the back of the run queue instead.
const maxReadsPerTurn = 16

// schedule makes sure a worker looks at the connection soon.
func (c *Conn) schedule() {
	for {
		s := c.rs.Load()
		if s&rsRunning != 0 {
			if s&rsPending != 0 || c.rs.CompareAndSwap(s, s|rsPending) {
				return
			}
			continue
		}
		if c.rs.CompareAndSwap(s, rsRunning) {
			c.opt.engine.enqueue(c)
			return
		}
	}
}

// Results of step.
const (
	stepIdle = iota // nothing more to do until the next event
	stepMore        // more to read: requeue for fairness
	stepDone        // ConnectionLost was called
	stepGone        // handed over to a goroutine (handOff): the engine is done with it
)

// run is called by the worker that took the connection from the run queue;
// it reports whether the connection must go back on the queue (its turn
// ended with work left). buf points to the worker's read buffer, nil until
// the worker first reads (step takes one then).
func (c *Conn) run(buf **[]byte) (requeue bool) {
	for round := 0; ; round++ {
		c.rs.Store(rsRunning)
		switch c.step(buf) {
		case stepDone, stepGone:
			return false // never scheduled again: rs stays set
		case stepMore:
			return true
		}
		if c.rs.CompareAndSwap(rsRunning, 0) {
			return false
		}
		if round == 3 {
			return true // events keep coming: let the others run first
		}
	}
}

// step does what the connection's state asks (see the file comment).
func (c *Conn) step(buf **[]byte) int {
	f := c.flags.Load() // fFinal and fStarted are set by the runner only
	if f&fFinal != 0 {
		return stepDone
	}
	if f&fStarted == 0 {
		c.flags.Or(fStarted)
		c.madeCallback()
	}
	// Options.Preread, or bytes read before a PauseReading from another
	// goroutine (deliver): they go first, whenever reading is on, even if
	// ConnectionMade paused it.
	// While some are held (paused, maybe again during their delivery),
	// nothing is read after them: a ResumeReading may come at any moment,
	// and schedules the runner again.
	held := c.hasPreread()
	if held && c.readable() {
		held = c.deliverPreread()
	}
	c.continueWrite()
	if c.closeIfDone() {
		c.flags.Or(fFinal)
		c.finalize()
		c.ended(c.doneCallback(), c.closeReason())
		return stepDone
	}
	if c.flags.Load()&fSwitch != 0 {
		return c.handOff() // StartTLS: a goroutine switches
	}
	// Read only when epoll said there is something to read (fIn): a new
	// connection's first turn (ConnectionMade) and a turn for output take
	// no buffer and make no read that would only find EAGAIN. The worker's
	// read buffer is taken only now: a worker that blocks elsewhere
	// (ConnectionMade, a close, a lock) holds none.
	if held || c.flags.Load()&fIn == 0 {
		if c.resetWhilePaused() {
			return stepMore // the runner closes it
		}
		return stepIdle // held: ResumeReading schedules us again
	}
	if *buf == nil || cap(**buf) < c.opt.readSize {
		putBuf(*buf)
		*buf = getBuf(max(c.opt.readSize, DefaultReadBufferSize))
	}
	b := (**buf)[:c.opt.readSize]
	for reads := 0; ; reads++ {
		if c.flags.Load()&fSwitch != 0 {
			return c.handOff() // StartTLS in the last DataReceived
		}
		if !c.readable() {
			if c.resetWhilePaused() {
				return stepMore // the runner closes it
			}
			return stepIdle // ResumeReading (which sets fIn) or the close schedules us again
		}
		if reads == maxReadsPerTurn {
			c.flags.Or(fIn) // not drained
			return stepMore
		}
		if reads == 0 {
			// Cleared before reading: an edge from now on sets it again
			// (and makes run look again), so no byte is left unread.
			c.flags.And(^uint32(fIn))
		}
		n, err := readFD(int(c.fd), b)
		if n < 0 {
			return stepIdle // EAGAIN: drained
		}
		if n > 0 {
			c.touch()
			if c.deliver(b[:n]) {
				// Paused after the read: the bytes are kept as
				// preread. Read nothing more (a ResumeReading from
				// now on, which sets fIn, schedules us again and
				// they go first). The socket may hold more, and a
				// hang-up after them is in fHup.
				return stepIdle
			}
		}
		switch {
		case err != nil:
			c.endRead(err)
		case n == 0:
			c.endRead(io.EOF)
		case n < len(b) && c.flags.Load()&fHup == 0:
			// A short read means the socket is drained: any later data
			// raises a new edge. A hang-up queued behind the data raised
			// its edge already, hence the sticky hup bit.
			return stepIdle
		}
	}
}

// readFD reads once from a non-blocking descriptor; n is -1 for EAGAIN.
func readFD(fd int, p []byte) (int, error) {
	n, again, err := onceFD(sysRead, fd, p)
	if again {
		return -1, nil
	}
	return n, err
}

// resetWhilePaused ends, with the socket's error, a connection whose
// reading is paused when epoll reported a hang-up or an error (fHup) and the
// socket holds an error: the peer reset it, or a keep-alive or
// retransmission timeout found the peer gone. Nothing more can be sent or
// received, so waiting for a ResumeReading that may never come would keep
// a dead connection for ever; the input not yet delivered is dropped, as
// TCP discards a reset connection's data. A peer's plain end of stream
// leaves no error: the paused connection keeps it for its ResumeReading.
func (c *Conn) resetWhilePaused() bool {
	if c.flags.Load()&fHup == 0 {
		return false
	}
	c.mu.Lock()
	paused := c.is(bReadPaused) && c.state == stOpen
	c.mu.Unlock()
	if !paused {
		return false
	}
	err := sockError(int(c.fd))
	if err == nil {
		return false
	}
	c.endRead(err)
	return true
}

// readable reports whether the connection should read now.
func (c *Conn) readable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.is(bReadPaused) && c.state == stOpen && !c.is(bPeerEOF)
}

// continueWrite, on the runner, writes output that waited for the socket to
// become writable, and flushes writes made outside callbacks (flushQueued).
func (c *Conn) continueWrite() {
	c.mu.Lock()
	if c.is(bWaitOut) && !c.is(bFlushing) && c.state != stClosed {
		x := c.x.Load()
		bp, off := x.wait, x.waitOff
		x.wait = nil
		c.bits = c.bits&^bWaitOut | bFlushing
		c.mu.Unlock()
		n, err := writeFD(int(c.fd), (*bp)[off:])
		if err != nil {
			putBuf(bp)
			c.writeFailed(err)
			return
		}
		c.wrote(n)
		if off+n < len(*bp) {
			c.parkOutput(bp, off+n, false) // wait for the next edge
			return
		}
		c.flushFDFrom(c.nextOut(bp))
		c.mu.Lock()
	}
	if !c.is(bFlushQueued) {
		c.mu.Unlock()
		return
	}
	c.bits &^= bFlushQueued
	start := c.startFlushLocked()
	closeNow := !start && c.drainedLocked()
	c.mu.Unlock()
	if start {
		c.flushFD()
	} else if closeNow {
		c.closeSocket(false)
	}
}

// flushFD is flush for a descriptor owned by the engine: it writes without
// blocking and parks what the socket did not take until it is writable.
func (c *Conn) flushFD() { c.flushFDFrom(c.nextOut(nil)) }

// flushFDFrom is flushFD with the first buffer already taken (nextOut's
// results).
func (c *Conn) flushFDFrom(bp *[]byte, closeNow, closed bool) {
	for bp != nil {
		n, err := writeFD(int(c.fd), *bp)
		if err != nil {
			putBuf(bp)
			c.writeFailed(err)
			return
		}
		c.wrote(n)
		if n < len(*bp) {
			c.parkOutput(bp, n, true)
			return
		}
		bp, closeNow, closed = c.nextOut(bp)
	}
	if closeNow {
		c.closeSocket(false)
	} else if closed {
		c.schedule() // the runner closes the descriptor
	}
}

// nextOut recycles done, a buffer written whole (what sendDone does), and
// takes the next output (what takeOut does), under one lock. When bp is nil
// the flush has ended: closeNow says the connection may close now, closed
// that its socket is closed.
func (c *Conn) nextOut(done *[]byte) (bp *[]byte, closeNow, closed bool) {
	resume := false
	if done != nil {
		putBuf(done)
	}
	c.mu.Lock()
	if done != nil {
		resume = c.sentLocked()
	}
	bp, closeNow, _ = c.takeOrEndLocked() // no shut on the engine
	closed = c.is(bSockClosed)
	c.mu.Unlock()
	if resume {
		c.Post(c.syncProducer)
	}
	return bp, closeNow, closed
}

// parkOutput keeps bp[off:] until the socket is writable again and gives up
// the write side. The EPOLLOUT edge schedules the runner, which goes on
// (continueWrite). kick schedules it now as well, for an edge that may have
// come before the output was parked.
func (c *Conn) parkOutput(bp *[]byte, off int, kick bool) {
	x := c.ext()
	c.mu.Lock()
	c.endFlushLocked() // and wakes a handOff waiting for the write side
	if c.state == stClosed {
		c.mu.Unlock()
		putBuf(bp)
		c.schedule()
		return
	}
	x.wait, x.waitOff = bp, off
	c.bits |= bWaitOut
	c.sending = len(*bp) - off
	c.armCloseLocked() // a close (if closing) now waits for the peer
	resume := c.resumeLocked()
	c.mu.Unlock()
	if resume {
		c.Post(c.syncProducer)
	}
	if kick {
		c.schedule()
	}
}

// closeIfDone, on the runner, closes the descriptor of a closed connection
// once no writer uses it, and reports whether it did.
func (c *Conn) closeIfDone() bool {
	c.mu.Lock()
	if !c.is(bSockClosed) || c.is(bFlushing) {
		c.mu.Unlock()
		return false
	}
	c.releaseOutLocked()
	rst := c.is(bRst)
	// A graceful close of a socket that holds input the Protocol did not
	// read lingers: half-closed, what the peer still sends is read and
	// discarded until it ends its side or closeLinger passes (see
	// closeLinger).
	check := !rst && !c.is(bAborted) && !c.is(bPeerEOF)
	lingering := c.is(bLinger)
	c.mu.Unlock()
	if check && !lingering {
		if due, outputOnly := c.lingerDue(); due {
			c.mu.Lock()
			c.bits |= bLinger
			x := c.ext()
			d := lingerTime()
			x.lingerBegan = monoNow()
			x.lingerEnd = x.lingerBegan + int64(d)
			x.lingerQ = sendQueue(int(c.fd))
			if outputOnly {
				// Look at the send queue now and then (see
				// closeLinger), not only at the bound.
				x.lingerPoll = lingerPollMin
				d = min(d, lingerPollMin)
			}
			x.lingerT = time.AfterFunc(d, c.schedule)
			c.mu.Unlock()
			sysShutdownWrite(int(c.fd))
			lingering = true
		}
	}
	if check && lingering && !c.drainFD() && !c.lingerAcked() {
		return false // an edge (more input, the peer's end) or the timer schedules us
	}
	c.opt.engine.remove(c)
	if rst {
		lingerZero(int(c.fd))
	}
	sysClose(int(c.fd))
	return true
}

// lingerDue reads once from the descriptor of a connection that is
// closing, discarding what it gets, and reports whether its close must
// linger (see closeLinger): it held input (not the end of the stream, not
// EAGAIN), or, with no input waiting (outputOnly), the socket holds output
// the peer has not acknowledged, which input sent after the close would
// destroy.
func (c *Conn) lingerDue() (due, outputOnly bool) {
	var buf [512]byte
	n, err := readFD(int(c.fd), buf[:])
	if n > 0 && err == nil {
		return true, false
	}
	q := n < 0 && sendQueued(int(c.fd)) // EAGAIN: no input, no end
	return q, q
}

// lingerAcked, on the runner, ends a linger for output only (see
// closeLinger) once the peer has acknowledged all of it, and otherwise
// sets its timer for the next look (at most at the linger's bound); a
// linger for unread input, or one past its bound (which drainFD ended),
// reports false.
func (c *Conn) lingerAcked() bool {
	x := c.x.Load()
	if x.lingerPoll == 0 {
		return false
	}
	if !sendQueued(int(c.fd)) {
		return true
	}
	x.lingerPoll = min(2*x.lingerPoll, lingerPollMax)
	left := time.Duration(x.lingerEnd - monoNow())
	x.lingerT.Reset(max(0, min(left, x.lingerPoll)))
	return false
}

// lingerExtend, on the runner, lets a linger that reached its bound go on
// for another span while the peer still takes its output (see closeLinger
// and lingerGoesOn), and reports whether it did.
func (c *Conn) lingerExtend() bool {
	x := c.x.Load()
	q, now := sendQueue(int(c.fd)), monoNow()
	if !lingerGoesOn(q, x.lingerQ, x.lingerBegan, now) {
		return false
	}
	d := lingerTime()
	x.lingerQ, x.lingerEnd = q, now+int64(d)
	if x.lingerPoll == 0 {
		x.lingerT.Reset(d) // lingerAcked sets it for a linger for output only
	}
	return true
}

// drainFD reads and discards what a lingering connection's peer sends; it
// reports whether the linger is over: the peer ended its stream (or the
// socket failed), closeLingerBytes came (over all its turns), or the time
// is up.
func (c *Conn) drainFD() bool {
	x := c.x.Load()
	var buf [4096]byte
	for x.lingerN < closeLingerBytes {
		m, err := readFD(int(c.fd), buf[:])
		switch {
		case m < 0: // EAGAIN
			return monoNow() >= x.lingerEnd && !c.lingerExtend()
		case m == 0 || err != nil:
			return true
		}
		x.lingerN += m
	}
	return true
}
