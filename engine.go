package weft

import (
	"io"
	"syscall"
)

// The readiness engine's per-connection runner. The Engine (engine_linux.go)
// watches sockets with epoll and calls schedule when one becomes readable; the
// runner then reads and delivers on a goroutine of its own until the socket is
// drained and lets go. At most one runner per connection exists at a time (the
// rs state word), so callbacks stay ordered and never concurrent, and a
// callback that blocks stalls only its own connection.

const (
	rsRunning = 1 << iota // a runner goroutine owns the connection
	rsPending             // an event arrived while it ran: look again
)

// schedule makes sure a runner looks at the connection soon.
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
			go c.run()
			return
		}
	}
}

// run is the runner: it steps until nothing is pending.
func (c *Conn) run() {
	for {
		c.rs.Store(rsRunning)
		if c.step() {
			return // ConnectionLost was called: the connection is gone
		}
		if c.rs.CompareAndSwap(rsRunning, 0) {
			return
		}
	}
}

// step does what the connection's state asks: ConnectionMade first, then
// reading and delivering until the socket has no more data, and ConnectionLost
// once the socket is closed. It reports whether the connection is finished.
func (c *Conn) step() bool {
	if c.finalized {
		return true
	}
	if !c.started {
		c.started = true
		c.made()
		if len(c.opt.preread) > 0 && c.readable() {
			c.touch()
			c.deliver(c.opt.preread)
		}
	}
	for {
		select {
		case <-c.closed:
			c.finalized = true
			c.finalize()
			return true
		default:
		}
		if !c.readable() {
			return false // ResumeReading or the close schedules us again
		}
		c.rbuf, c.rn, c.rerr, c.rskip = nil, 0, nil, false
		err := c.rc.Read(c.engineReadFn)
		bp, n := c.rbuf, c.rn
		c.rbuf = nil
		if err == nil {
			err = c.rerr
		}
		if err == nil && bp == nil {
			return false // EAGAIN: drained
		}
		if n > 0 {
			c.touch()
			c.deliver((*bp)[:n])
		}
		full := bp != nil && n == len(*bp)
		putBuf(bp)
		switch {
		case err != nil:
			c.endRead(err)
		case n == 0:
			c.endRead(io.EOF)
		case !full && !c.hup.Load():
			// A short read means the socket is drained: any later data
			// raises a new edge. A hang-up queued behind the data raised
			// its edge already, hence the sticky hup bit.
			return false
		}
	}
}

// readable reports whether the connection should read now.
func (c *Conn) readable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.readPaused && c.state == stOpen
}

// engineRead is the RawConn read callback of the engine: one non-blocking read
// into a pooled buffer, which it keeps only if data came.
func (c *Conn) engineRead(fd uintptr) bool {
	bp := getBuf(c.opt.readSize)
	for {
		n, err := syscall.Read(int(fd), *bp)
		switch err {
		case nil:
			c.rbuf, c.rn = bp, n
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			putBuf(bp)
		default:
			putBuf(bp)
			c.rerr = err
		}
		return true // never wait in Go's poller: epoll tells us
	}
}
