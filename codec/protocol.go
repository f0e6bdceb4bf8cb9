package codec

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/weftkit/weft"
)

// FrameHandler receives the frames of one connection. Its methods are called
// like a weft.Protocol's: one at a time, never concurrently. A handler may
// also implement weft.HalfCloseable (ReadConnectionLost, called after the
// last frame when the peer ends its stream on a frame boundary; the
// connection stays open for the handler's output) and
// weft.ShutdownNotifier.
type FrameHandler interface {
	// ConnectionMade is called once, first, with the framed transport.
	ConnectionMade(t FrameTransport)
	// FrameReceived is called with each decoded frame. frame is only valid
	// during the call: copy what must be kept.
	FrameReceived(frame []byte)
	// ConnectionLost is called once, last. reason is the decode error that
	// closed the connection (matching ErrFrameTooLarge or ErrMalformed),
	// ErrTruncated if the peer ended the stream cleanly inside a frame (its
	// bytes are lost), or the runtime's reason (nil for a clean close), which
	// is also what the handler gets after its own LoseConnection or Abort,
	// even with bytes left undelivered.
	ConnectionLost(reason error)
}

// FrameTransport is the weft.Transport of a framed connection, with frame
// output and codec switching. Like weft.Transport it is safe to use from any
// goroutine, except SetCodec (see there) and, for the handler of a
// NewCoalescingProtocol, the writing and closing methods (see there). The adapter's FrameTransport is also
// a weft.Poster and a weft.HalfCloser (weft.LoseWriteConnection passes on to
// the Transport under it).
type FrameTransport interface {
	weft.Transport
	// SendFrame encodes p with the current codec and writes it. It returns
	// the codec's refusal (ErrFrameTooLarge, ErrDelimiter) without writing,
	// or the Transport's Write error.
	SendFrame(p []byte) error
	// SetCodec switches the framing in both directions. Called from
	// FrameReceived (or any callback of the connection, or a function
	// given to Post), the bytes already received after the current frame
	// are decoded with c, at once: nothing is lost or decoded twice. It
	// must not be called concurrently with the callbacks.
	SetCodec(c Codec)
}

// NewProtocol returns a weft.Protocol that decodes the byte stream with c and
// hands each frame to h. It panics if h is nil; an invalid c (nil included)
// closes each connection with an error matching ErrConfig.
//
// Delivery stops as soon as the handler calls LoseConnection or Abort, and
// between two frames while reading is paused (PauseReading); frames already
// buffered are delivered after ResumeReading, before anything read later.
// ResumeReading called outside the callbacks delivers them through the
// runtime's Post, which may run them on the calling goroutine when no
// callback is running: do not call it while holding a lock the handler's
// callbacks take.
//
// A decode error (ErrFrameTooLarge, ErrMalformed, or ErrConfig for an invalid
// codec) stops delivery and closes the connection with LoseConnection, so that
// whatever the handler already wrote — a reply, an error message — is flushed
// first; h.ConnectionLost then receives the decode error. Frames in and out
// are counted with weft.AddFrames. If h implements weft.ShutdownNotifier, its
// Shutdown is called on a graceful server shutdown. If h implements
// weft.HalfCloseable, the peer's end of stream on a frame boundary calls its
// ReadConnectionLost instead of closing the connection (a stream that ends
// inside a frame still closes, with ErrTruncated).
//
// Driven by hand in an order the runtime never uses (DataReceived or
// ReadConnectionLost before ConnectionMade, as a test in Twisted's habit
// may), the Protocol keeps a copy of the bytes and the end: the handler
// gets ConnectionMade first, then those frames, then the end, as if they
// had arrived right after ConnectionMade. ConnectionLost before
// ConnectionMade drops what was kept and passes its reason on.
func NewProtocol(c Codec, h FrameHandler) weft.Protocol {
	if h == nil {
		panic("codec: NewProtocol: nil FrameHandler")
	}
	p := &framed{h: h}
	p.codec.Store(boxCodec(c))
	return p
}

// NewCoalescingProtocol is NewProtocol for a handler that uses its
// FrameTransport's writing and closing methods (SendFrame, Write,
// WriteBuffers, WriteRoom, Buffered, StartTLS, LoseConnection,
// LoseConnectionWithReason, LoseWriteConnection, Abort) only from its
// callbacks: its own methods and the functions it runs through Post — as
// Twisted code calls its transport from the reactor thread only, and other
// threads use callFromThread. Other goroutines reach the connection through
// Post; the other methods (Post, PauseReading, ResumeReading, the addresses,
// Context, the Producer's) are safe from any goroutine as usual.
//
// In return, the frames the handler sends while the frames of one read are
// being delivered are gathered and written together, in one Write, after the
// last of them, instead of one Write each: an echo or a request–reply server
// answering pipelined requests takes the connection's write lock once per
// read, not once per frame. The order of the output is unchanged: a Write,
// WriteRoom, Buffered, StartTLS (what was gathered goes in clear text) or
// close from a callback first writes what was gathered, and a frame larger
// than 512 bytes is written at once after it.
// SendFrame still returns the codec's refusal at once; it returns nil for a
// frame it gathers, and a Write error at the end of the loop (the connection
// is closing or aborted then) is not reported: the frames are lost with the
// connection, as they would have been written one by one. Abort, too,
// first writes what was gathered, which the runtime's Abort then discards
// with the rest of the pending output.
//
// A handler that breaks the rule (SendFrame from another goroutine while a
// read is being delivered) races with the loop; the race detector reports
// it.
func NewCoalescingProtocol(c Codec, h FrameHandler) weft.Protocol {
	if h == nil {
		panic("codec: NewCoalescingProtocol: nil FrameHandler")
	}
	p := &framed{h: h}
	p.coalesce = true
	p.codec.Store(boxCodec(c))
	return p
}

// lastBox is the box of the codec most recently given to NewProtocol. A
// server's connections are built from one Factory value, so they share one
// box (16 bytes each otherwise). Boxes are never written after they are
// published: SetCodec stores a new one.
var lastBox atomic.Pointer[Codec]

// boxCodec returns a box holding c, shared when c is the same interface
// value as the last one boxed.
func boxCodec(c Codec) *Codec {
	if b := lastBox.Load(); b != nil && sameValue(*b, c) {
		return b
	}
	b := new(Codec) // not &c: c would escape, and be allocated, on every call
	*b = c
	lastBox.Store(b)
	return b
}

// sameValue reports whether a and b are one interface value: the same
// dynamic type and the same data word. The data an interface points to is
// never modified, so equal words mean equal values. Equal values in
// different words are not recognised; that costs only a box.
func sameValue(a, b Codec) bool {
	return *(*[2]uintptr)(unsafe.Pointer(&a)) == *(*[2]uintptr)(unsafe.Pointer(&b))
}

type framed struct {
	core
	h FrameHandler

	// codec is the current codec, read by SendFrame on any goroutine
	// without a lock; SetCodec stores another box. framed fits the 80-byte
	// size class.
	codec atomic.Pointer[Codec]
}

func (p *framed) ConnectionMade(t weft.Transport) {
	p.t = t
	// The decoder is made by the first read (or SetCodec): a connection
	// that has sent nothing yet holds none.
	p.h.ConnectionMade((*frameTransport)(p))
	if err := Validate(*p.codec.Load()); err != nil && !p.failed {
		p.fail(err)
	}
	p.made(p) // what DataReceived kept if called before (by hand)
}

func (p *framed) DataReceived(data []byte) {
	if len(data) == 0 {
		return // nothing to decode: no span, no decoder
	}
	if p.dec == nil {
		p.dec = p.decoderIn()
	}
	p.feed(data, p)
}

// decoderIn returns the decoder for a read. A built-in Line (without a
// Delimiter of its own), LengthPrefix or Netstring decodes with a decoder
// configured in the span the read takes anyway, at the stream offset the
// last one reached (core.off): when the span goes back to its pool with
// nothing pending, the decoder goes with it (core.release), and an idle
// connection holds none. Any other codec, a codec of the user's own too,
// even one embedding a built-in, gets a decoder of its own, made once and
// kept, as does an invalid codec (its errDecoder).
func (p *framed) decoderIn() Decoder {
	c := *p.codec.Load()
	if p.off == 0 && Validate(c) != nil { // checked until a first byte is decoded
		return decoderFor(c)
	}
	switch v := c.(type) {
	case Line:
		if len(v.Delimiter) != 0 {
			return decoderFor(c)
		}
	case *Line:
		if len(v.Delimiter) != 0 {
			return decoderFor(c)
		}
	case LengthPrefix, *LengthPrefix, Netstring, *Netstring:
	default: // exact types: not a codec embedding one of them
		return decoderFor(c)
	}
	return c.(spanDecoded).decoderIn(p.span(), p.off)
}

// spanDecoded is implemented by the codecs whose decoder can live in a span
// (framed.decoderIn): decoderIn configures it in st at stream offset off;
// the codec is valid.
type spanDecoded interface {
	decoderIn(st *span, off int64) Decoder
}

func (p *framed) ConnectionLost(reason error) { p.h.ConnectionLost(p.lost(reason)) }

// ReadConnectionLost implements weft.HalfCloseable: the peer ended its
// stream. A handler that implements weft.HalfCloseable is told, and the
// connection stays open for its output; the connection is closed instead,
// as for a Protocol without it, when the handler does not implement it or
// the stream ended inside a frame (the handler's ConnectionLost then gets
// ErrTruncated).
func (p *framed) ReadConnectionLost() { p.readLost(p.h) }

// Shutdown forwards a graceful-shutdown notice to a handler that implements
// weft.ShutdownNotifier.
func (p *framed) Shutdown() {
	if n, ok := p.h.(weft.ShutdownNotifier); ok {
		n.Shutdown()
	}
}

func (p *framed) deliver(frame []byte) { p.h.FrameReceived(frame) }

func (p *framed) decodeError(error) bool { return false }

func (p *framed) stepsBack() bool { return false }

func decoderFor(c Codec) Decoder {
	if err := Validate(c); err != nil {
		return errDecoder{err}
	}
	return c.NewDecoder()
}

// scratchPool holds the buffers frames are encoded into: shared rather than
// kept per connection, so that an idle connection holds none.
var scratchPool = sync.Pool{New: func() any { return new([]byte) }}

// sendFrame encodes payload with c and writes it. A built-in codec hands
// the Transport the frame's header, payload and trailer (one copy of the
// payload, no scratch buffer); another codec encodes into a pooled scratch
// buffer that the Transport copies. Codecs are immutable and safe for
// concurrent use, so no lock is taken.
func sendFrame(t weft.Transport, c Codec, payload []byte) error {
	var hdr [24]byte
	if n, tail, split, builtin, err := builtinParts(c, &hdr, payload); builtin {
		if err != nil {
			return err
		}
		if split {
			return weft.WriteParts(t, hdr[:n], payload, tail) // counts the frame
		}
	}
	if err := nilCodec(c); err != nil {
		return err
	}
	scratch := scratchPool.Get().(*[]byte)
	out, err := c.AppendFrame((*scratch)[:0], payload)
	if err == nil {
		_, err = t.Write(out)
	}
	if cap(out) <= keepScratch {
		*scratch = out
	}
	scratchPool.Put(scratch)
	if err != nil {
		return err
	}
	weft.AddFrames(t, 0, 1)
	return nil
}

// keepScratch is the largest encoding buffer put back in scratchPool (the
// pool is shared, so this is not a per-connection cost).
const keepScratch = 64 << 10

// builtinParts splits a frame of a built-in codec into the bytes before the
// payload (written into hdr[:n]) and after it (tail), checking payload as
// AppendFrame does; builtin is false for another codec. The calls are static
// (a type switch), so hdr stays on the caller's stack: through an interface
// the header came back by value, a measured stall on every frame.
func builtinParts(c Codec, hdr *[24]byte, payload []byte) (n int, tail []byte, split, builtin bool, err error) {
	switch c := c.(type) {
	case *Line:
		if c == nil {
			return 0, nil, false, true, Validate(c)
		}
		n, tail, split, err = c.frameInto(hdr, payload)
	case Line:
		n, tail, split, err = c.frameInto(hdr, payload)
	case *Netstring:
		if c == nil {
			return 0, nil, false, true, Validate(c)
		}
		n, tail, split, err = c.frameInto(hdr, payload)
	case Netstring:
		n, tail, split, err = c.frameInto(hdr, payload)
	case *LengthPrefix:
		if c == nil {
			return 0, nil, false, true, Validate(c)
		}
		n, tail, split, err = c.frameInto(hdr, payload)
	case LengthPrefix:
		n, tail, split, err = c.frameInto(hdr, payload)
	default:
		return 0, nil, false, false, nil
	}
	return n, tail, split, true, err
}

// frameTransport decorates the runtime's Transport. It is the adapter itself
// under another method set, so that handing it out allocates nothing.
type frameTransport framed

func (t *frameTransport) SendFrame(b []byte) error {
	if t.coalesce && t.busy {
		box := t.codec.Load()
		return t.gather(*box, box, b)
	}
	return sendFrame(t.t, *t.codec.Load(), b)
}

func (t *frameTransport) SetCodec(c Codec) {
	t.codec.Store(&c)
	if !t.failed {
		// A new decoder, from offset 0: in the span if bytes are
		// pending, else made by the next read (decoderIn).
		t.off, t.dec = 0, nil
		if t.st != nil {
			t.dec = (*framed)(t).decoderIn()
		}
	}
	// Outside the loop (a posted function), the buffered bytes may hold
	// frames of c: decode them now rather than at the next read. Inside
	// the loop this returns at once and the loop carries on with c.
	t.run((*framed)(t))
}

func (t *frameTransport) LoseConnection() {
	t.settle()
	t.setClosing()
	t.t.LoseConnection()
}

// LoseWriteConnection implements weft.HalfCloser: it half-closes the
// Transport under the adapter (weft.LoseWriteConnection).
func (t *frameTransport) LoseWriteConnection() error {
	t.settle()
	return weft.LoseWriteConnection(t.t)
}

// LoseConnectionWithReason implements weft.ReasonCloser: LoseConnection,
// with reason passed on to the Transport under the adapter
// (weft.LoseConnectionWithReason).
func (t *frameTransport) LoseConnectionWithReason(reason error) {
	t.settle()
	t.setClosing()
	weft.LoseConnectionWithReason(t.t, reason)
}

func (t *frameTransport) Abort() {
	t.settle() // the runtime's Abort then discards it with the rest
	t.setClosing()
	t.t.Abort()
}

func (t *frameTransport) PauseReading() {
	t.setPaused(true)
	t.t.PauseReading()
}

func (t *frameTransport) ResumeReading() { t.resumeReading((*framed)(t)) }

// The rest of weft.Transport is the runtime's.

func (t *frameTransport) Write(p []byte) (int, error) {
	t.settle()
	return t.t.Write(p)
}

func (t *frameTransport) WriteBuffers(bufs ...[]byte) error {
	t.settle()
	return t.t.WriteBuffers(bufs...)
}

func (t *frameTransport) Buffered() int {
	t.settle()
	return t.t.Buffered()
}

func (t *frameTransport) WriteRoom() int {
	t.settle()
	return writeRoom(t.t)
}

func (t *frameTransport) LocalAddr() net.Addr              { return t.t.LocalAddr() }
func (t *frameTransport) RemoteAddr() net.Addr             { return t.t.RemoteAddr() }
func (t *frameTransport) RegisterProducer(p weft.Producer) { t.t.RegisterProducer(p) }
func (t *frameTransport) UnregisterProducer()              { t.t.UnregisterProducer() }
func (t *frameTransport) Context() context.Context         { return t.t.Context() }

// Post runs fn serialized with the connection's callbacks, through the
// runtime Transport's Post (weft.Conn.Post); over a Transport without Post
// it runs fn at once. weft.NewGate uses it.
func (t *frameTransport) Post(fn func()) { post(t.t, fn) }
