package weft

import (
	"fmt"
	"sync"
)

// handOff moves a connection whose Protocol called StartTLS from the
// readiness engine to a goroutine of its own — the goroutine engine, which
// makes the switch (maybeSwitchTLS): crypto/tls reads and writes block, and
// the engine's workers must not. It runs on the connection's runner,
// between callbacks, and reports stepGone once the connection is handed
// over: the engine forgets its descriptor, a net.Conn is made on a
// duplicate of it, and the runner never runs it again. Output the socket
// had not taken (clear text, queued before StartTLS) goes out first, as on
// the goroutine engine. A connection closed meanwhile stays with the
// engine, which closes it; one whose descriptor cannot be duplicated is
// aborted with a reason that says so.
func (c *Conn) handOff() int {
	x := c.x.Load()
	c.mu.Lock()
	// A write from another goroutine may own the descriptor: with a
	// switch waiting it takes no more output, so it ends soon (or parks
	// what the socket did not take).
	c.waitWriterLocked(x)
	if c.state == stClosed || !c.tlsPendingLocked() {
		c.mu.Unlock()
		return stepIdle // the close scheduled us: the next turn closes
	}
	c.mu.Unlock()
	fd := int(c.fd)
	nc, err := fdConn(fd)
	if err != nil {
		c.mu.Lock()
		x.tlsCfg, x.tlsBuf, x.tlsClear = nil, nil, 0
		c.mu.Unlock()
		c.abort(fmt.Errorf("weft: StartTLS: leaving the engine: %w", err), false)
		return stepIdle
	}
	c.mu.Lock()
	c.waitWriterLocked(x) // none can start (a switch waits), but be sure
	if c.state == stClosed {
		c.mu.Unlock()
		nc.Close() // the duplicate; the engine closes fd
		return stepIdle
	}
	if c.is(bWaitOut) {
		// Output the socket did not take, queued before StartTLS: it
		// goes first, in clear text.
		rest := (*x.wait)[x.waitOff:]
		n := len(rest)
		if c.out != nil {
			n += len(*c.out)
		}
		bp := getBuf(outSize(n))
		*bp = append((*bp)[:0], rest...)
		if c.out != nil {
			*bp = append(*bp, *c.out...)
			putBuf(c.out)
		}
		x.tlsClear += len(rest)
		putBuf(x.wait)
		c.out, x.wait, c.sending = bp, nil, 0
		c.bits &^= bWaitOut
	}
	c.bits &^= bFlushQueued // the switch flushes what waits
	c.nio, c.fd = c.newNetIO(nc), -1
	c.mu.Unlock()
	c.opt.engine.release(c, fd)
	sysClose(fd)
	done := c.doneCallback()
	go func() {
		c.serveReads()
		c.ended(done, c.closeReason())
	}()
	return stepGone
}

// waitWriterLocked waits until no goroutine writes to the socket (bFlushing)
// or the connection is closed; c.mu is held.
func (c *Conn) waitWriterLocked(x *connExt) {
	for c.is(bFlushing) && c.state != stClosed {
		if x.flushCond == nil {
			x.flushCond = sync.NewCond(&c.mu)
		}
		x.flushCond.Wait()
	}
}
