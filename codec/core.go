package codec

import (
	"sync/atomic"

	"github.com/weftkit/weft"
)

// keepBuffer is the largest input buffer kept while no partial frame is
// pending; a larger one is released so that idle connections stay cheap.
const keepBuffer = 4 << 10

// minPiece is the least a partial frame is extended by at a time.
const minPiece = 4 << 10

// core is the decode loop shared by NewProtocol and LineReceiver. It runs on
// the connection's callback goroutine only, except for the atomic flags.
//
// The undecoded bytes are pending followed by tail. pending points either
// into the runtime's read (zero copy) or into buf; tail is the part of the
// current read not yet copied behind a buffered partial frame. A partial
// frame is completed by copying the read in pieces at least as long as what
// is buffered (so copying stays linear); as soon as everything undecoded
// comes from the read, decoding goes on in the read itself. So a 64 KiB read
// is copied only as far as the frame that straddles reads needs, and buf
// stays about the size of a partial frame.
type core struct {
	t   weft.Transport
	dec Decoder

	buf     []byte // owned storage; pending is buf[off:] when inBuf
	off     int
	pending []byte
	inBuf   bool
	tail    []byte
	last    []byte // the read the last piece came from (nil: none)
	lastN   int    // the last piece was last[:lastN]
	piece   int    // minimum piece; 0 means minPiece (tests set it small)

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
		c.tail = data
	}
	c.run()
}

// own makes pending live in buf.
func (c *core) own() {
	if c.inBuf {
		return
	}
	c.buf = append(c.buf[:0], c.pending...)
	c.off, c.pending, c.inBuf = 0, c.buf, true
}

// pull copies the next piece of tail behind pending.
func (c *core) pull() {
	c.own()
	src := c.tail
	piece := c.piece
	if piece == 0 {
		piece = minPiece
	}
	n := min(len(src), max(len(c.pending), piece))
	c.buf = append(c.buf, src[:n]...)
	c.pending = c.buf[c.off:]
	c.tail = src[n:]
	c.last, c.lastN = src, n
}

// undecoded returns pending followed by tail, copying only when both are
// present (rare operations: ClearLineBuffer, StartTLS, LineLengthExceeded).
func (c *core) undecoded() []byte {
	if len(c.tail) == 0 {
		return c.pending
	}
	return append(append(make([]byte, 0, len(c.pending)+len(c.tail)), c.pending...), c.tail...)
}

// drop forgets every undecoded byte without reusing storage a callback may
// still read.
func (c *core) drop() {
	c.pending, c.tail, c.last = nil, nil, nil
	if c.inBuf {
		c.buf, c.off, c.inBuf = nil, 0, false
	}
}

// unread puts extra in front of the undecoded bytes (SetLineMode(extra)). It
// never overwrites bytes a callback may still hold.
func (c *core) unread(extra []byte) {
	if len(extra) == 0 {
		return
	}
	nb := make([]byte, 0, len(extra)+len(c.pending))
	nb = append(append(nb, extra...), c.pending...)
	c.buf, c.off, c.pending, c.inBuf, c.last = nb, 0, nb, true, nil
	c.dec.Reset()
}

// clear drops the undecoded bytes and returns them (valid during the
// callback).
func (c *core) clear() []byte {
	p := c.undecoded()
	c.drop()
	c.dec.Reset()
	return p
}

// setDecoder switches to a new decoder; the undecoded bytes are decoded by it.
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
	c.decode()
	c.stash()
}

func (c *core) decode() {
	for c.failed == nil && !c.closing.Load() && !c.paused.Load() {
		if len(c.pending) == 0 {
			if len(c.tail) == 0 {
				return
			}
			c.pending, c.tail, c.inBuf, c.last = c.tail, nil, false, nil
			c.buf, c.off = c.buf[:0], 0
		}
		adv, frame, err := c.dec.Decode(c.pending)
		if err != nil {
			if c.onError != nil && c.onError(err) {
				continue
			}
			c.fail(err)
			return
		}
		if adv == 0 {
			if len(c.tail) == 0 {
				return
			}
			c.pull()
			continue
		}
		c.pending = c.pending[adv:]
		if c.inBuf {
			c.off += adv
			if c.last != nil && len(c.pending) <= c.lastN {
				// Everything undecoded came from the current read: decode
				// there, without copying the rest of it.
				c.pending = c.last[c.lastN-len(c.pending):]
				c.tail, c.last, c.inBuf = nil, nil, false
			}
		}
		weft.AddFrames(c.t, 1, 0)
		c.deliver(frame)
	}
}

// stash keeps the undecoded bytes for the next read, compacting with
// amortized linear cost.
func (c *core) stash() {
	c.last = nil
	if c.failed != nil {
		c.drop()
		c.buf = nil
		return
	}
	if len(c.tail) > 0 { // stopped (paused, closing) in the middle of a read
		c.own()
		c.buf = append(c.buf, c.tail...)
		c.pending, c.tail = c.buf[c.off:], nil
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
	weft.LoseConnectionWithReason(c.t, err) // Serve and the server's stats see err too
}

// lost returns the reason to give the handler: the decode error if one closed
// the connection, else the runtime's reason.
func (c *core) lost(reason error) error {
	c.drop()
	c.buf = nil
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
