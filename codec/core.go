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
// the connection's callback goroutine only, except for the atomic flags. It
// is embedded in every connection's protocol, so it is kept small.
//
// The undecoded bytes are pending followed by the tail of the current read,
// in[inN:]. pending points either into the runtime's read (zero copy) or
// into buf, of which it is then the end (inBuf). A partial frame is completed
// by copying the read in pieces at least as long as what is buffered (so
// copying stays linear); in[:inN] is what has been copied, and buf then ends
// with it. As soon as everything undecoded comes from the read, decoding goes
// on in the read itself. So a 64 KiB read is copied only as far as the frame
// that straddles reads needs, and buf stays about the size of a partial
// frame.
type core struct {
	t   weft.Transport
	dec Decoder

	buf     []byte // owned storage; pending is its end when inBuf
	pending []byte
	in      []byte // the current read, while its tail in[inN:] is pending
	inN     int    // in[:inN] was copied into buf (and ends it); 0 if none

	failed  error // decode error that closed the connection
	inBuf   bool
	busy    bool  // inside run
	piece   int32 // minimum piece; 0 means minPiece (tests set it small)
	paused  atomic.Bool
	closing atomic.Bool
}

// sink receives what the loop decodes: the adapter or the LineReceiver. It is
// passed to the loop rather than stored, so that the loop costs no closure.
type sink interface {
	deliver(frame []byte)
	// decodeError handles a decode error; false means fail and close.
	decodeError(err error) bool
}

// tail returns the part of the current read not yet decoded nor copied.
func (c *core) tail() []byte { return c.in[c.inN:] }

// feed runs the loop over newly received data.
func (c *core) feed(data []byte, s sink) {
	if c.failed != nil || len(data) == 0 {
		return
	}
	if len(c.pending) == 0 {
		c.pending, c.inBuf = data, false
	} else {
		c.in, c.inN = data, 0
	}
	c.run(s)
}

// own makes pending live in buf.
func (c *core) own() {
	if c.inBuf {
		return
	}
	c.buf = append(c.buf[:0], c.pending...)
	c.pending, c.inBuf = c.buf, true
}

// pull copies the next piece of the tail behind pending.
func (c *core) pull() {
	c.own()
	src := c.tail()
	piece := int(c.piece)
	if piece == 0 {
		piece = minPiece
	}
	n := min(len(src), max(len(c.pending), piece))
	off := len(c.buf) - len(c.pending)
	c.buf = append(c.buf, src[:n]...)
	c.pending = c.buf[off:]
	c.inN += n
}

// undecoded returns pending followed by the tail, copying only when both are
// present (rare operations: ClearLineBuffer, StartTLS, LineLengthExceeded).
func (c *core) undecoded() []byte {
	tail := c.tail()
	if len(tail) == 0 {
		return c.pending
	}
	return append(append(make([]byte, 0, len(c.pending)+len(tail)), c.pending...), tail...)
}

// drop forgets every undecoded byte without reusing storage a callback may
// still read.
func (c *core) drop() {
	c.pending, c.in, c.inN = nil, nil, 0
	if c.inBuf {
		c.buf, c.inBuf = nil, false
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
	c.buf, c.pending, c.inBuf = nb, nb, true
	// buf no longer ends with in[:inN]: keep only the tail as the read.
	c.in, c.inN = c.tail(), 0
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

// run decodes and delivers frames to s until more bytes are needed, the
// reader is paused, or the connection is closing. It is not re-entrant: a
// nested call (from a callback) returns at once and the outer loop carries
// on.
func (c *core) run(s sink) {
	if c.busy {
		return
	}
	c.busy = true
	defer func() { c.busy = false }()
	c.decode(s)
	c.stash()
}

func (c *core) decode(s sink) {
	for c.failed == nil && !c.closing.Load() && !c.paused.Load() {
		if len(c.pending) == 0 {
			tail := c.tail()
			if len(tail) == 0 {
				return
			}
			c.pending, c.in, c.inN, c.inBuf = tail, nil, 0, false
			c.buf = c.buf[:0]
		}
		adv, frame, err := c.dec.Decode(c.pending)
		if err != nil {
			if s.decodeError(err) {
				continue
			}
			c.fail(err)
			return
		}
		if adv == 0 {
			if len(c.tail()) == 0 {
				return
			}
			c.pull()
			continue
		}
		c.pending = c.pending[adv:]
		if c.inN > 0 && len(c.pending) <= c.inN {
			// Everything undecoded came from the current read: decode
			// there, without copying the rest of it.
			c.pending = c.in[c.inN-len(c.pending):]
			c.in, c.inN, c.inBuf = nil, 0, false
		}
		weft.AddFrames(c.t, 1, 0)
		s.deliver(frame)
	}
}

// stash keeps the undecoded bytes for the next read, compacting with
// amortized linear cost.
func (c *core) stash() {
	if c.failed != nil {
		c.drop()
		c.buf = nil
		return
	}
	if tail := c.tail(); len(tail) > 0 { // stopped (paused, closing) in the middle of a read
		c.own()
		off := len(c.buf) - len(c.pending)
		c.buf = append(c.buf, tail...)
		c.pending = c.buf[off:]
	}
	c.in, c.inN = nil, 0
	if len(c.pending) == 0 {
		c.pending, c.inBuf = nil, false
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
	if len(c.buf)-len(c.pending) > len(c.pending) { // more dead than live bytes: move the live ones down
		n := copy(c.buf, c.pending)
		c.buf = c.buf[:n]
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
func (c *core) resume(s sink) {
	c.paused.Store(false)
	if p, ok := c.t.(poster); ok {
		p.Post(func() { c.run(s) })
	}
}
