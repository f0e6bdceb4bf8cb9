package codec

import (
	"bytes"
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"

	"github.com/weftkit/weft"
)

// keepBuffer is the largest input buffer kept with a span in the span pool;
// a larger one is released. The pool is shared by all connections (an idle
// connection holds no span), so this bounds reuse, not memory per connection:
// 64 KiB lets frames up to that size that straddle reads (4 KiB netstrings
// under load) reuse their buffer instead of allocating one each time.
const keepBuffer = 64 << 10

// Coalescing (NewCoalescingProtocol): a frame whose payload is larger than
// gatherMax is not gathered but written at once, after what was gathered
// before it, so that its payload is copied once, into the runtime's output,
// not twice; the gathered frames are written once they reach flushAt bytes;
// keepOut is the largest output buffer kept with a span in the pool.
const (
	gatherMax = 512
	flushAt   = 32 << 10
	keepOut   = 64 << 10
)

// shrinkAfter is how many reads in a row must leave a buffer over keepBuffer
// less than a quarter full before it is replaced by a smaller one.
const shrinkAfter = 8

// minPiece is the least a partial frame is extended by at a time.
const minPiece = 4 << 10

// core is the decode loop shared by NewProtocol and LineReceiver. It runs on
// the connection's callback goroutine only, except for the atomic flags. It
// is part of every connection's protocol, so it is kept small: the state of
// undecoded bytes (a span) is taken from a pool while bytes are pending and
// given back when none are, so that an idle connection holds no span and no
// buffer.
type core struct {
	t weft.Transport
	// dec is nil until first needed, and in the adapter between reads
	// when its decoder lived in the span (framed.decoderIn); once failed,
	// the errDecoder holding the decode error.
	dec Decoder
	st  *span // nil while nothing is pending (outside run)

	busy    bool // inside run
	failed  bool // a decode error closed the connection
	endHeld bool // ReadConnectionLost came before ConnectionMade (see made)
	// coalesce: frames the handler sends inside run are gathered in
	// st.out and written when the loop ends (NewCoalescingProtocol).
	coalesce bool
	flags    atomic.Uint32 // cPaused, cClosing; tests' minimum piece (cPieceShift)
	// off is the stream offset the adapter's next decoder starts at: that
	// of its last one, which lived in a span (framed.decoderIn).
	off int64
}

// Bits of core.flags, set from any goroutine: the decode loop stops when
// either cPaused or cClosing is set. Bits cPieceShift and up hold the
// minimum piece tests set (SetMinPiece, under 256), 0 meaning minPiece.
const (
	cPaused  uint32 = 1 << iota // the handler paused reading
	cClosing                    // the handler is closing the connection

	cStop       = cPaused | cClosing
	cPieceShift = 8
)

func (c *core) paused() bool  { return c.flags.Load()&cPaused != 0 }
func (c *core) closing() bool { return c.flags.Load()&cClosing != 0 }
func (c *core) setClosing()   { c.flags.Or(cClosing) }

// setPaused records PauseReading (true) or ResumeReading (false).
func (c *core) setPaused(v bool) {
	if v {
		c.flags.Or(cPaused)
	} else {
		c.flags.And(^cPaused)
	}
}

// span holds the undecoded bytes: pending followed by the tail of the current
// read, in[inN:]. pending points either into the runtime's read (zero copy)
// or into buf, of which it is then the end (inBuf). A partial frame is
// completed by copying the read in pieces at least as long as what is
// buffered (so copying stays linear); in[:inN] is what has been copied, and
// buf then ends with it. As soon as everything undecoded comes from the read,
// decoding goes on in the read itself. So a 64 KiB read is copied only as far
// as the frame that straddles reads needs, and buf stays about the size of a
// partial frame.
type span struct {
	buf     []byte // owned storage; pending is its end when inBuf
	pending []byte
	in      []byte // the current read, while its tail in[inN:] is pending
	inN     int    // in[:inN] was copied into buf (and ends it); 0 if none
	inBuf   bool
	idle    uint8 // reads in a row that left a buffer over keepBuffer mostly empty

	// back is the state before the frame being delivered was consumed
	// (valid during the callback only, until the span changes otherwise):
	// unread steps back into it, without copying, when extra is the end of
	// the consumed bytes (SetLineMode(data[n:]) from RawDataReceived).
	back backState

	// out gathers the frames a coalescing handler sends while the loop
	// delivers (NewCoalescingProtocol), outN counts them; run writes them
	// when the loop ends. Empty outside run.
	out  []byte
	outN int
	enc  encPlan // how out's frames are encoded (gather)

	// The decoder of the adapter's built-in codec lives here while the
	// span does (framed.decoderIn): one of these, configured at each read
	// that takes a span. An idle connection thus holds no decoder, only
	// its stream offset (core.off).
	lines      lineDecoder
	lengths    lengthDecoder
	netstrings netstringDecoder
}

// backState is a span's undecoded bytes as they were before a frame of adv
// bytes was consumed from the start of pending.
type backState struct {
	pending []byte
	in      []byte
	inN     int
	inBuf   bool
	adv     int // 0: no state to step back into
}

// spans are shared by all connections, each with a buffer of at most
// keepBuffer.
var spans = sync.Pool{New: func() any { return new(span) }}

// sink receives what the loop decodes: the adapter or the LineReceiver. It is
// passed to the loop rather than stored, so that the loop costs no closure.
type sink interface {
	deliver(frame []byte)
	// stepsBack reports whether the sink may unread into the frame just
	// consumed (span.back): the LineReceiver may, the adapter never does.
	stepsBack() bool
	// decodeError handles a decode error; false means fail and close.
	decodeError(err error) bool
	// ReadConnectionLost is the adapter's own (the peer's end of stream).
	ReadConnectionLost()
}

// span returns the connection's span, taking one from the pool if needed.
func (c *core) span() *span {
	if c.st == nil {
		c.st = spans.Get().(*span)
	}
	return c.st
}

// release gives the span back once nothing is pending. Its buffer is kept for
// the next user only if small and not exposed by drop.
func (c *core) release() {
	st := c.st
	if st == nil {
		return
	}
	c.st = nil
	// A decoder living in the span stays with it: keep its stream offset
	// for the next one (framed.decoderIn). Nothing is pending, so it is
	// between frames.
	switch c.dec {
	case Decoder(&st.lines):
		c.off, c.dec = st.lines.off, nil
	case Decoder(&st.lengths):
		c.off, c.dec = st.lengths.off, nil
	case Decoder(&st.netstrings):
		c.off, c.dec = st.netstrings.off, nil
	}
	if cap(st.buf) > keepBuffer {
		st.buf = nil
	}
	if cap(st.out) > keepOut {
		st.out = nil
	}
	st.buf, st.pending, st.in, st.inN, st.inBuf, st.back, st.idle = st.buf[:0], nil, nil, 0, false, backState{}, 0
	st.out, st.outN, st.enc = st.out[:0], 0, encPlan{}
	spans.Put(st)
}

// tail returns the part of the current read not yet decoded nor copied.
func (st *span) tail() []byte { return st.in[st.inN:] }

// feed runs the loop over newly received data. Before ConnectionMade (a
// Protocol driven by hand: the runtime never does that) the data is kept,
// copied, for made to decode.
func (c *core) feed(data []byte, s sink) {
	if c.failed || len(data) == 0 {
		return
	}
	if c.t == nil {
		c.hold(data)
		return
	}
	st := c.span()
	if c.busy {
		// Re-entrant (a callback called DataReceived): data goes after
		// every byte not yet decoded, as in Twisted, and the loop running
		// below will decode it. It is copied: it is only valid during this
		// call. Only the bytes after pending are new to the decoder.
		nb := append(append(make([]byte, 0, len(st.pending)+len(st.tail())+len(data)), st.pending...), st.tail()...)
		nb = append(nb, data...)
		st.buf, st.pending, st.inBuf, st.in, st.inN, st.back = nb, nb, true, nil, 0, backState{}
		return
	}
	if len(st.pending) == 0 {
		st.pending, st.inBuf = data, false
	} else {
		st.in, st.inN = data, 0
	}
	c.run(s)
}

// hold appends a copy of data to the undecoded bytes, for a connection not
// made yet (feed).
func (c *core) hold(data []byte) {
	st := c.span()
	st.own()
	off := len(st.buf) - len(st.pending)
	st.buf = append(st.buf, data...)
	st.pending = st.buf[off:]
}

// made runs at the end of the adapter's ConnectionMade: it decodes what was
// received before (DataReceived called by hand before ConnectionMade), with
// the mode and codec in force now, then delivers an end of stream that came
// before ConnectionMade too, once those bytes have been delivered.
func (c *core) made(s sink) {
	if c.st != nil {
		c.run(s)
	}
	c.endIfHeld(s)
}

// endIfHeld delivers an end of stream held since before ConnectionMade,
// once reading is not paused (the runtime never reads the end while
// paused).
func (c *core) endIfHeld(s sink) {
	if c.endHeld && !c.busy && !c.paused() {
		c.endHeld = false
		s.ReadConnectionLost()
	}
}

// own makes pending live in buf.
func (st *span) own() {
	if st.inBuf {
		return
	}
	st.buf = append(st.buf[:0], st.pending...)
	st.pending, st.inBuf = st.buf, true
}

// pull copies the next piece of the tail behind pending.
func (c *core) pull(st *span) {
	st.own()
	src := st.tail()
	piece := int(c.flags.Load() >> cPieceShift)
	if piece == 0 {
		piece = minPiece
	}
	n := min(len(src), max(len(st.pending), piece))
	off := len(st.buf) - len(st.pending)
	st.buf = append(st.buf, src[:n]...)
	st.pending = st.buf[off:]
	st.inN += n
}

// undecoded returns pending followed by the tail, copying only when both are
// present (rare operations: ClearLineBuffer, StartTLS, LineLengthExceeded).
func (c *core) undecoded() []byte {
	st := c.st
	if st == nil {
		return nil
	}
	tail := st.tail()
	if len(tail) == 0 {
		return st.pending
	}
	return append(append(make([]byte, 0, len(st.pending)+len(tail)), st.pending...), tail...)
}

// drop forgets every undecoded byte without reusing storage a callback may
// still read.
func (c *core) drop() {
	st := c.st
	if st == nil {
		return
	}
	st.pending, st.in, st.inN, st.back = nil, nil, 0, backState{}
	if st.inBuf {
		st.buf, st.inBuf = nil, false
	}
}

// unread puts extra in front of the undecoded bytes (SetLineMode(extra)). It
// never overwrites bytes a callback may still hold. When extra is the end of
// the bytes the current frame was consumed from (the rest of a raw chunk
// handed back from RawDataReceived), it steps back over them instead of
// copying: a copy of everything undecoded per mode switch would make a
// stream of alternating short lines and raw bytes cost quadratic time.
func (c *core) unread(extra []byte) {
	if len(extra) == 0 {
		return
	}
	st := c.span()
	if b := st.back; len(extra) <= b.adv && &b.pending[b.adv-len(extra)] == &extra[0] {
		st.pending, st.in, st.inN, st.inBuf = b.pending[b.adv-len(extra):], b.in, b.inN, b.inBuf
		st.back = backState{}
		c.resetDecoder()
		return
	}
	st.back = backState{}
	nb := make([]byte, 0, len(extra)+len(st.pending))
	nb = append(append(nb, extra...), st.pending...)
	st.buf, st.pending, st.inBuf = nb, nb, true
	// buf no longer ends with in[:inN]: keep only the tail as the read.
	st.in, st.inN = st.tail(), 0
	c.resetDecoder()
}

// clear drops the undecoded bytes and returns them (valid during the
// callback).
func (c *core) clear() []byte {
	p := c.undecoded()
	c.drop()
	c.resetDecoder()
	return p
}

// resetDecoder resets the decoder, if one was made yet; the next one made
// in a span starts at offset 0.
func (c *core) resetDecoder() {
	if c.dec != nil {
		c.dec.Reset()
	}
	c.off = 0
}

// setDecoder switches to a new decoder; the undecoded bytes are decoded by it.
// After a failure the decoder keeps the error and is not replaced.
func (c *core) setDecoder(d Decoder) {
	if !c.failed {
		c.dec = d
	}
}

// run decodes and delivers frames to s until more bytes are needed, the
// reader is paused, or the connection is closing. It is not re-entrant: a
// nested call (from a callback) returns at once and the outer loop carries
// on.
func (c *core) run(s sink) {
	if c.busy || c.t == nil { // nested, or before ConnectionMade (see made)
		return
	}
	if c.st == nil {
		return // nothing pending
	}
	c.busy = true
	done := false
	defer func() {
		c.busy = false
		if !done {
			// A callback panicked: the runtime aborts the connection,
			// which discards its output, gathered frames included.
			c.discardOut()
		}
	}()
	if n := c.decode(s); n > 0 {
		weft.AddFrames(c.t, n, 0) // once per read, not once per frame
	}
	if c.coalesce {
		c.flushOut()
	}
	c.stash()
	done = true
}

// flushOut writes the frames gathered so far (a coalescing handler's, see
// NewCoalescingProtocol) as one Write. A Write error is not reported: it
// means that the connection is closing or aborted, and the frames are lost
// with it as they would have been written one by one.
func (c *core) flushOut() {
	st := c.st
	if st == nil || len(st.out) == 0 {
		return
	}
	out, n := st.out, st.outN
	st.out, st.outN = out[:0], 0
	_ = weft.WriteFrames(c.t, out, n)
}

// gather adds the frame of payload b, encoded with cd, to the frames
// gathered by the loop (a coalescing handler's SendFrame or SendLine while
// the loop delivers), checking b as sendFrame does. A payload over
// gatherMax is written at once, after what was gathered. key identifies cd
// for the span's encoding plan (see encPlan): the adapter's codec box, or
// lineKey for a LineReceiver, whose codec never changes.
func (c *core) gather(cd Codec, key *Codec, b []byte) error {
	st := c.st
	if st == nil || len(b) > gatherMax {
		c.flushOut()
		return sendFrame(c.t, cd, b)
	}
	if st.enc.key != key {
		st.enc = planFor(cd, key)
	}
	e := &st.enc
	out := st.out
	switch e.kind {
	case encLength:
		if len(b) > e.limit {
			return c.gatherAny(cd, b) // which reports the error
		}
		out = e.appendLength(out, len(b))
		out = append(out, b...)
	case encCRLF:
		if len(b) > e.limit || bytes.IndexByte(b, '\n') >= 0 {
			return c.gatherAny(cd, b)
		}
		out = append(append(out, b...), '\r', '\n')
	default:
		return c.gatherAny(cd, b)
	}
	st.out = out
	c.gathered()
	return nil
}

// gathered counts the frame just added to st.out, and writes what was
// gathered once it reaches flushAt.
func (c *core) gathered() {
	st := c.st
	st.outN++
	if len(st.out) >= flushAt {
		c.flushOut()
	}
}

// gatherAny is gather for any codec, checked and encoded frame by frame.
func (c *core) gatherAny(cd Codec, b []byte) error {
	st := c.st
	var hdr [24]byte
	n, tail, split, builtin, err := builtinParts(cd, &hdr, b)
	switch {
	case builtin && err != nil:
		return err
	case builtin && split:
		st.out = append(append(append(st.out, hdr[:n]...), b...), tail...)
	default:
		if err := nilCodec(cd); err != nil {
			return err
		}
		out, err := cd.AppendFrame(st.out, b)
		if err != nil {
			return err
		}
		st.out = out
	}
	c.gathered()
	return nil
}

// lineKey is the encoding plan's key of a LineReceiver's codec.
var lineKey Codec

// Kinds of encPlan.
const (
	encAny    = iota // gatherAny: checked and encoded frame by frame
	encLength        // a valid LengthPrefix
	encCRLF          // a valid Line with the default delimiter
)

// encPlan is how gather encodes the frames of one codec, worked out once per
// read (the span is the read's) instead of for every frame: the codec's
// validation, its limit and its header's shape. A payload the plan would
// refuse goes to gatherAny, which reports the codec's own error.
type encPlan struct {
	key    *Codec // the codec the plan is for; nil: none yet
	kind   uint8
	size   uint8 // encLength: the header's size
	little bool  // encLength: little-endian
	incl   bool  // encLength: the length counts the header
	limit  int   // the longest payload
}

// planFor makes the encoding plan of cd.
func planFor(cd Codec, key *Codec) encPlan {
	e := encPlan{key: key}
	switch c := cd.(type) {
	case LengthPrefix:
		e.lengthPlan(c)
	case *LengthPrefix:
		if c != nil {
			e.lengthPlan(*c)
		}
	case Line:
		e.linePlan(c)
	case *Line:
		if c != nil {
			e.linePlan(*c)
		}
	}
	return e
}

func (e *encPlan) lengthPlan(c LengthPrefix) {
	if c.Validate() != nil {
		return
	}
	e.kind, e.size, e.little, e.incl, e.limit = encLength, uint8(c.size()), c.LittleEndian, c.IncludesHeader, c.Limit()
}

func (e *encPlan) linePlan(c Line) {
	if len(c.Delimiter) != 0 || c.Validate() != nil {
		return
	}
	e.kind, e.limit = encCRLF, c.limit()
}

// appendLength appends the length header of an n-byte payload, as
// LengthPrefix.appendHeader does.
func (e *encPlan) appendLength(dst []byte, n int) []byte {
	v := uint64(n)
	if e.incl {
		v += uint64(e.size)
	}
	switch {
	case e.size == 4 && !e.little:
		return binary.BigEndian.AppendUint32(dst, uint32(v))
	case e.little:
		for i := range int(e.size) {
			dst = append(dst, byte(v>>(8*i)))
		}
		return dst
	}
	for i := int(e.size) - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// settle writes what a coalescing handler gathered, before a call of its
// (from a callback: see NewCoalescingProtocol) that must come after it.
func (c *core) settle() {
	if c.coalesce && c.busy {
		c.flushOut()
	}
}

// discardOut drops the gathered frames (a panic: the runtime aborts).
func (c *core) discardOut() {
	if st := c.st; st != nil {
		st.out, st.outN = st.out[:0], 0
	}
}

// decode runs with c.st set: only run and stash release it. It returns the
// number of frames delivered.
func (c *core) decode(s sink) (n int64) {
	st := c.st
	back := s.stepsBack()
	for !c.failed && c.flags.Load()&cStop == 0 {
		if len(st.pending) == 0 {
			tail := st.tail()
			if len(tail) == 0 {
				return
			}
			st.pending, st.in, st.inN, st.inBuf = tail, nil, 0, false
			st.buf = st.buf[:0]
		}
		adv, frame, err := c.dec.Decode(st.pending)
		if err != nil {
			if s.decodeError(err) {
				continue
			}
			c.fail(err)
			return
		}
		if adv == 0 {
			if len(st.tail()) == 0 {
				return
			}
			c.pull(st)
			continue
		}
		if back {
			st.back = backState{st.pending, st.in, st.inN, st.inBuf, adv}
		}
		st.pending = st.pending[adv:]
		if st.inN > 0 && len(st.pending) <= st.inN {
			// Everything undecoded came from the current read: decode
			// there, without copying the rest of it.
			st.pending = st.in[st.inN-len(st.pending):]
			st.in, st.inN, st.inBuf = nil, 0, false
		}
		n++
		s.deliver(frame)
		if back {
			st.back = backState{}
		}
	}
	return n
}

// stash keeps the undecoded bytes for the next read, compacting with
// amortized linear cost, or releases the span when there are none.
func (c *core) stash() {
	st := c.st
	if c.failed {
		c.drop()
		c.release()
		return
	}
	if tail := st.tail(); len(tail) > 0 { // stopped (paused, closing) in the middle of a read
		st.own()
		off := len(st.buf) - len(st.pending)
		st.buf = append(st.buf, tail...)
		st.pending = st.buf[off:]
	}
	st.in, st.inN = nil, 0
	if len(st.pending) == 0 {
		c.release()
		return
	}
	if cap(st.buf) <= keepBuffer || cap(st.buf) <= 4*len(st.pending) {
		st.idle = 0
	} else if st.idle++; st.idle >= shrinkAfter {
		// A big frame grew the buffer and, for several reads now, only
		// small partial frames were left: do not keep the big buffer for
		// as long as reads keep ending inside frames. (A stream of big
		// frames needs it again within a few reads, and keeps it.)
		nb := make([]byte, len(st.pending), max(2*len(st.pending), minPiece))
		copy(nb, st.pending)
		st.buf, st.pending, st.inBuf, st.idle = nb, nb, true, 0
		return
	}
	if !st.inBuf {
		st.own()
		return
	}
	if len(st.buf)-len(st.pending) > len(st.pending) { // more dead than live bytes: move the live ones down
		n := copy(st.buf, st.pending)
		st.buf = st.buf[:n]
		st.pending = st.buf
	}
}

// fail stops delivery and closes the connection after flushing what the
// handler wrote; ConnectionLost will report err.
func (c *core) fail(err error) {
	c.failed, c.dec = true, errDecoder{err} // kept there: no field for it
	if c.coalesce {
		c.flushOut() // the replies to the frames before the bad one
	}
	weft.LoseConnectionWithReason(c.t, err) // Serve and the server's stats see err too
}

// readLost handles the peer's end of stream for the adapters: h (the
// handler) is told if it is a weft.HalfCloseable and no partial frame is
// left; otherwise the connection is closed as the runtime closes it for a
// Protocol that is not (lost then reports a partial frame as truncated).
func (c *core) readLost(h any) {
	if c.t == nil {
		c.endHeld = true // after the held bytes, once made (see made)
		return
	}
	if c.failed {
		return
	}
	hc, ok := h.(weft.HalfCloseable)
	if st := c.st; !ok || st != nil && (len(st.pending) > 0 || len(st.tail()) > 0) {
		c.t.LoseConnection()
		return
	}
	hc.ReadConnectionLost()
}

// lost returns the reason to give the handler: the decode error if one closed
// the connection; ErrTruncated if the peer ended it cleanly with part of a
// frame received (those bytes are lost, and the handler is told so), unless
// the handler closed it itself (LoseConnection, Abort); else the runtime's
// reason.
func (c *core) lost(reason error) error {
	if c.t == nil {
		// Before ConnectionMade (driven by hand): the connection was
		// never made, so what was held for it is dropped silently.
		c.drop()
		c.release()
		c.endHeld = false
		return reason
	}
	left := 0
	if st := c.st; st != nil {
		left = len(st.pending)
	}
	c.drop()
	c.release()
	switch {
	case c.failed:
		return c.dec.(errDecoder).err
	case reason == nil && left > 0 && !c.closing():
		// The peer ended the stream inside a frame. When the handler
		// closed the connection itself, what it left unread is its
		// choice, not a truncated stream.
		return truncated(left)
	}
	return reason
}

// post runs fn through t's Post, serialized with the connection's
// callbacks, or at once when t has no Post (the wrappers' Post, for
// weft.Gate and other users of the runtime's Post).
func post(t weft.Transport, fn func()) {
	if p, ok := t.(weft.Poster); ok {
		p.Post(fn)
		return
	}
	fn()
}

// writeRoom is t's WriteRoom (weft.WriteRoomer), or math.MaxInt when t
// cannot tell (the wrappers' WriteRoom, for weft.Gate.WriteAll).
func writeRoom(t weft.Transport) int {
	if r, ok := t.(weft.WriteRoomer); ok {
		return r.WriteRoom()
	}
	return math.MaxInt
}

// resumeReading is the adapter's ResumeReading. Through the transport's Post
// (serialized with the callbacks), it first delivers the frames buffered
// while paused and only then lets the transport read again, unless a frame's
// handler paused once more. So nothing the transport reads after resuming —
// more bytes, or the end of the connection, which drops what is still
// buffered — can overtake the buffered frames, even when ResumeReading comes
// from another goroutine and the transport's reader would run at once. Called
// from a callback inside the loop, the loop carries on and the posted
// function finds nothing more to deliver. A transport without Post resumes at
// once; the buffered frames are then delivered when the next bytes arrive.
func (c *core) resumeReading(s sink) {
	c.setPaused(false)
	p, ok := c.t.(weft.Poster)
	if !ok {
		c.t.ResumeReading()
		if c.endHeld {
			// The end of stream came before ConnectionMade: no more
			// bytes will come to deliver the held frames, so deliver
			// them now.
			c.run(s)
			c.endIfHeld(s)
		}
		return
	}
	p.Post(func() {
		c.run(s)
		if !c.paused() {
			c.endIfHeld(s)
			c.t.ResumeReading()
			// A PauseReading from another goroutine may have come
			// between the check and the call (after the ResumeReading
			// that posted this): it must win, or the transport would
			// read on into the buffer while paused.
			if c.paused() {
				c.t.PauseReading()
			}
		}
	})
}
