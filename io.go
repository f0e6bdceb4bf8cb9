package weft

import (
	"errors"
	"io"
	"syscall"
)

// errStopped ends the read loop when the connection stopped reading because it
// is closing; finish then waits for the close.
var errStopped = errors.New("weft: reading stopped")

// readLoop reads until the connection ends and returns why it ended.
func (c *Conn) readLoop() error {
	if len(c.opt.preread) > 0 {
		if err := c.waitReadable(); err != nil {
			return err
		}
		c.touch()
		c.deliver(c.opt.preread)
	}
	for {
		if err := c.maybeSwitchTLS(); err != nil {
			return err
		}
		if err := c.waitReadable(); err != nil {
			return err
		}
		var bp *[]byte
		var n int
		var err error
		if c.rc != nil {
			c.rbuf, c.rn, c.rerr, c.rskip = nil, 0, nil, false
			if err = c.rc.Read(c.readFn); err == nil {
				bp, n, err = c.rbuf, c.rn, c.rerr
				c.rbuf = nil
				if c.rskip {
					continue // paused or closing: look again
				}
				if n == 0 && err == nil {
					err = io.EOF
				}
			}
		} else {
			bp = getBuf(c.opt.readSize)
			n, err = c.nc.Read(*bp)
		}
		if n > 0 {
			c.touch()
			c.deliver((*bp)[:n])
		}
		putBuf(bp)
		if err != nil {
			return err
		}
	}
}

// waitReadable returns when reading may go on: not paused and open. It returns
// errStopped when the connection is closing or closed.
func (c *Conn) waitReadable() error {
	c.mu.Lock()
	for c.readPaused && c.state == stOpen {
		if c.resume == nil {
			c.resume = make(chan struct{})
		}
		ch := c.resume
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.closed:
		}
		c.mu.Lock()
	}
	open := c.state == stOpen
	c.mu.Unlock()
	if !open {
		return errStopped
	}
	return nil
}

// rawRead is the syscall.RawConn read callback: it takes a pooled buffer only
// when the socket has data, so a connection waiting for data holds none.
func (c *Conn) rawRead(fd uintptr) bool {
	c.mu.Lock()
	stop := c.readPaused || c.state != stOpen
	c.mu.Unlock()
	if stop {
		c.rskip = true
		return true
	}
	if c.rbuf == nil {
		c.rbuf = getBuf(c.opt.readSize)
	}
	for {
		n, err := syscall.Read(int(fd), *c.rbuf)
		switch err {
		case nil:
			c.rn = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			putBuf(c.rbuf)
			c.rbuf = nil
			return false // wait for readability, holding no buffer
		default:
			c.rerr = err
			return true
		}
	}
}

// rawWrite is the syscall.RawConn write callback: one non-blocking write.
func (c *Conn) rawWrite(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), c.wbuf)
		switch err {
		case nil:
			c.wn = n
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			c.wn = 0
		default:
			c.wn, c.werr = 0, err
		}
		return true
	}
}

// write queues p followed by bufs as one atomic write.
func (c *Conn) write(p []byte, bufs [][]byte) (int, error) {
	total := len(p)
	for _, b := range bufs {
		total += len(b)
	}
	c.mu.Lock()
	if c.state == stClosed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	if total == 0 {
		c.mu.Unlock()
		return 0, nil
	}
	buffered := c.bufferedLocked()
	if buffered+total > c.opt.max {
		c.mu.Unlock()
		c.abort(ErrSlowConsumer, false)
		return 0, ErrSlowConsumer
	}
	if c.out == nil {
		c.out = getBuf(max(total, 2048))
		*c.out = (*c.out)[:0]
	}
	*c.out = append(*c.out, p...)
	for _, b := range bufs {
		*c.out = append(*c.out, b...)
	}
	pause := c.producer != nil && !c.prodWant && buffered+total > c.opt.high
	if pause {
		c.prodWant = true
	}
	start := c.startFlushLocked()
	c.mu.Unlock()
	if pause {
		c.Post(c.syncFn)
	}
	if start {
		c.flush()
	}
	return len(p), nil
}

func (c *Conn) bufferedLocked() int {
	n := c.sending
	if c.out != nil {
		n += len(*c.out)
	}
	return n
}

// startFlushLocked claims the write side if there is output and no one else
// will flush it.
func (c *Conn) startFlushLocked() bool {
	if c.inCallback || c.flushing || c.tlsCfg != nil || c.state == stClosed || c.out == nil || len(*c.out) == 0 {
		return false
	}
	c.flushing = true
	return true
}

// takeOutLocked hands the queued output to the flusher, or ends the flush
// (reporting whether a closing connection may now close).
func (c *Conn) takeOut() (bp *[]byte, closeNow bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// While a callback runs, its writes wait for its end (callback then
	// starts a flush), so they leave together.
	if c.state == stClosed || c.tlsCfg != nil || c.inCallback || c.out == nil || len(*c.out) == 0 {
		c.flushing = false
		if c.flushCond != nil {
			c.flushCond.Broadcast()
		}
		if c.state == stClosed {
			c.releaseOutLocked()
		} else if c.out != nil && len(*c.out) == 0 && !c.inCallback {
			putBuf(c.out) // an idle connection keeps no buffer
			c.out = nil
		}
		return nil, c.drainedLocked()
	}
	bp = c.out
	c.out = nil
	c.sending = len(*bp)
	return bp, false
}

// releaseOutLocked drops queued output.
func (c *Conn) releaseOutLocked() {
	putBuf(c.out)
	c.out = nil
}

// flush writes queued output; the caller claimed the write side. On a socket it
// writes inline without blocking and hands a remainder to a flusher goroutine;
// on other connections (net.Pipe, TLS) the whole flush runs on a goroutine, as
// their Write may block.
func (c *Conn) flush() {
	if c.rc == nil {
		go c.flushLoop(nil, 0)
		return
	}
	for {
		bp, closeNow := c.takeOut()
		if bp == nil {
			if closeNow {
				c.closeSocket(false)
			}
			return
		}
		c.wbuf, c.wn, c.werr = *bp, 0, nil
		err := c.rc.Write(c.writeFn)
		n, werr := c.wn, c.werr
		c.wbuf = nil
		if err == nil {
			err = werr
		}
		if err != nil {
			putBuf(bp)
			c.writeFailed(err)
			return
		}
		if n < len(*bp) {
			go c.flushLoop(bp, n)
			return
		}
		c.sent(bp, n)
	}
}

// flushLoop writes queued output with blocking writes until none is left.
func (c *Conn) flushLoop(bp *[]byte, off int) {
	for {
		if bp == nil {
			var closeNow bool
			if bp, closeNow = c.takeOut(); bp == nil {
				if closeNow {
					c.closeSocket(false)
				}
				return
			}
			off = 0
		}
		n, err := c.nc.Write((*bp)[off:])
		if err != nil {
			putBuf(bp)
			c.writeFailed(err)
			return
		}
		c.sent(bp, off+n)
		bp = nil
	}
}

// sent records that the flusher wrote n bytes of bp and recycles bp.
func (c *Conn) sent(bp *[]byte, n int) {
	putBuf(bp)
	c.touch()
	if cnt := c.opt.counters; cnt != nil {
		cnt.BytesOut.Add(int64(n))
	}
	c.mu.Lock()
	c.sending = 0
	resume := c.producer != nil && c.prodWant && c.bufferedLocked() <= c.opt.low
	if resume {
		c.prodWant = false
	}
	c.mu.Unlock()
	if resume {
		c.Post(c.syncFn)
	}
}

// writeFailed ends the connection after a write error.
func (c *Conn) writeFailed(err error) {
	c.mu.Lock()
	c.flushing = false
	c.sending = 0
	if c.flushCond != nil {
		c.flushCond.Broadcast()
	}
	c.mu.Unlock()
	c.abort(err, false)
}

// syncProducer tells the producer to pause or resume to match the buffer. It
// runs as a callback, so producers are never called concurrently with the
// Protocol.
func (c *Conn) syncProducer() {
	c.mu.Lock()
	p, want, is := c.producer, c.prodWant, c.prodIs
	c.prodIs = want
	c.mu.Unlock()
	if p == nil || want == is {
		return
	}
	if want {
		p.PauseProducing()
	} else {
		p.ResumeProducing()
	}
}
