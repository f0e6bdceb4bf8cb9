package codec

import (
	"sync/atomic"

	"github.com/weftkit/weft"
)

// keepBuffer is the largest input buffer kept while no partial frame is
// pending; a larger one is released so that idle connections stay cheap.
const keepBuffer = 4 << 10

// core is the decode loop shared by NewProtocol and LineReceiver. It runs on
// the connection's callback goroutine only, except for the atomic flags.
type core struct {
	t   weft.Transport
	dec Decoder

	buf     []byte // owned storage; pending is buf[off:] when inBuf
	off     int
	pending []byte // bytes received and not yet decoded
	inBuf   bool

	busy    bool  // inside run
	failed  error // decode error that closed the connection
	paused  atomic.Bool
	closing atomic.Bool

	deliver func(frame []byte)
	// onError handles a decode error; nil means fail and close.
	onError func(err error) bool
}

// feed runs the loop over newly received data.
func (c *core) feed(data []byte) {
	if c.failed != nil || len(data) == 0 {
		return
	}
	if len(c.pending) == 0 {
		c.pending, c.inBuf = data, false
	} else {
		c.own()
		c.buf = append(c.buf, data...)
		c.pending = c.buf[c.off:]
	}
	c.run()
}

// own makes pending live in buf (it may point into the runtime's data).
func (c *core) own() {
	if c.inBuf {
		return
	}
	c.buf = append(c.buf[:0], c.pending...)
	c.off, c.pending, c.inBuf = 0, c.buf, true
}

// unread puts extra in front of the pending bytes (SetLineMode(extra)). It
// never overwrites bytes a callback may still hold.
func (c *core) unread(extra []byte) {
	if len(extra) == 0 {
		return
	}
	nb := make([]byte, 0, len(extra)+len(c.pending))
	nb = append(append(nb, extra...), c.pending...)
	c.buf, c.off, c.pending, c.inBuf = nb, 0, nb, true
	c.dec.Reset()
}

// clear drops the pending bytes and returns them (valid during the callback).
func (c *core) clear() []byte {
	p := c.pending
	c.pending = nil
	if c.inBuf {
		// The bytes may still be read by the caller: do not reuse the storage.
		c.buf, c.off, c.inBuf = nil, 0, false
	}
	c.dec.Reset()
	return p
}

// setDecoder switches to a new decoder; the pending bytes are decoded by it.
func (c *core) setDecoder(d Decoder) { c.dec = d }

// run decodes and delivers frames until more bytes are needed, the reader is
// paused, or the connection is closing. It is not re-entrant: a nested call
// (from a callback) returns at once and the outer loop carries on.
func (c *core) run() {
	if c.busy {
		return
	}
	c.busy = true
	defer func() { c.busy = false }()
	for c.failed == nil && !c.closing.Load() && !c.paused.Load() && len(c.pending) > 0 {
		adv, frame, err := c.dec.Decode(c.pending)
		if err != nil {
			if c.onError != nil && c.onError(err) {
				continue
			}
			c.fail(err)
			break
		}
		if adv == 0 {
			break
		}
		c.pending = c.pending[adv:]
		if c.inBuf {
			c.off += adv
		}
		weft.AddFrames(c.t, 1, 0)
		c.deliver(frame)
	}
	c.stash()
}

// stash keeps the pending bytes for the next read, compacting with amortized
// linear cost.
func (c *core) stash() {
	if c.failed != nil {
		c.buf, c.pending, c.off, c.inBuf = nil, nil, 0, false
		return
	}
	if len(c.pending) == 0 {
		c.pending, c.inBuf, c.off = nil, false, 0
		if cap(c.buf) > keepBuffer {
			c.buf = nil
		} else {
			c.buf = c.buf[:0]
		}
		return
	}
	if !c.inBuf {
		c.own()
		return
	}
	if c.off > len(c.pending) { // more dead than live bytes: move the live ones down
		n := copy(c.buf, c.pending)
		c.buf, c.off = c.buf[:n], 0
		c.pending = c.buf
	}
}

// fail stops delivery and closes the connection after flushing what the
// handler wrote; ConnectionLost will report err.
func (c *core) fail(err error) {
	c.failed = err
	c.t.LoseConnection()
}

// lost returns the reason to give the handler: the decode error if one closed
// the connection, else the runtime's reason.
func (c *core) lost(reason error) error {
	c.pending, c.buf = nil, nil
	if c.failed != nil {
		return c.failed
	}
	return reason
}

// poster is implemented by transports that can run a function serialized with
// the connection's callbacks.
type poster interface{ Post(fn func()) }

// resume restarts delivery after a pause. Called from a callback inside the
// loop, the loop simply carries on. Otherwise the buffered frames are
// delivered through the transport's Post when it has one (serialized with the
// callbacks), else when the next bytes arrive.
func (c *core) resume() {
	c.paused.Store(false)
	if p, ok := c.t.(poster); ok {
		p.Post(c.run)
	}
}
