package wire

import (
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// Echo is the Factory of the echo service (RFC 862): every byte received is
// sent back unchanged, in order, whatever the connection's Options.
//
// Reading stops while the output waiting for the client is above the write
// buffer's high-water mark and resumes at the low-water mark, so a client
// that sends faster than it reads is slowed down (its writes wait), not
// dropped as a slow consumer, and nothing it sent is lost. A read that does
// not fit below MaxWriteBuffer (a MaxWriteBuffer under HighWater plus
// ReadBufferSize) is cut to the room left: the rest is kept (one read at
// most, copied into a pooled buffer), reading stops, and the rest is sent
// as the client takes its output: at the low-water mark (the runtime pauses
// the echo when the buffer passes HighWater or is full at MaxWriteBuffer),
// or, on a transport that pauses no Producer at a full buffer, by a look
// every weft.GateRetry. A connection's echo thus holds at most about
// MaxWriteBuffer plus one read. A graceful close (LoseConnection, a
// server's Shutdown) sends the output already written, but takes no Write
// once it began: on a Shutdown (Echo is a weft.ShutdownNotifier) the echo
// first sends what it holds that fits below MaxWriteBuffer; the rest of
// what is held is dropped with the connection (all of it on a
// LoseConnection made by other code), as are the bytes not yet read.
// (On a Transport that is
// not a weft.WriteRoomer and a weft.Poster, whose Post queues work
// serialized with the callbacks, each read is written whole, as the
// runtime's Transport would take it into an empty buffer.) The zero value
// is ready to use.
type Echo struct{}

// IgnoresAddr implements weft.AddrIgnorer: BuildProtocol does not use its
// address, so a server may pass nil.
func (Echo) IgnoresAddr() bool { return true }

// BuildProtocol implements weft.Factory.
func (Echo) BuildProtocol(net.Addr) weft.Protocol { return &echo{} }

type echo struct{ flow }

func (p *echo) ConnectionMade(t weft.Transport) { p.t = t }

func (p *echo) DataReceived(data []byte) {
	if s := p.slow; s != nil && s.held != nil {
		// Reading is paused while bytes are held; should a read come
		// anyway, it goes after them.
		*s.held = append(*s.held, data...)
		return
	}
	room := p.roomFor(p, len(data))
	if len(data) <= room { // the fast path: no copy, no allocation
		p.spent(len(data))
		_, _ = p.t.Write(data)
		return
	}
	if !p.canHold(p) {
		p.spent(len(data))
		_, _ = p.t.Write(data) // as before: whole
		return
	}
	if room > 0 {
		p.spent(room)
		if _, err := p.t.Write(data[:room]); err != nil {
			return
		}
	}
	p.hold(data[room:])
}

func (p *echo) ConnectionLost(error) { p.stop() }

// sendHeld writes what of the held bytes fits in room.
func (p *echo) sendHeld(room int) (done bool) {
	s := p.slow
	b := (*s.held)[s.off:]
	n := min(room, len(b))
	if n <= 0 {
		return false
	}
	p.spent(n)
	if _, err := p.t.Write(b[:n]); err != nil {
		return true // closing: nothing more will be sent
	}
	s.off += n
	return n == len(b)
}

// PauseProducing implements weft.Producer: reading stops.
func (p *echo) PauseProducing() { p.pause() }

// ResumeProducing implements weft.Producer: what is held is sent, then
// reading resumes.
func (p *echo) ResumeProducing() { p.resume() }

// StopProducing implements weft.Producer.
func (p *echo) StopProducing() { p.stop() }

// Shutdown implements weft.ShutdownNotifier: what is held that fits is sent
// before the close (see flow.shutdown).
func (p *echo) Shutdown() { p.shutdown() }

// flow is the flow control of the echo services, whose output is made of
// their input. The protocol is registered as the Transport's Producer the
// first time output is found waiting (a connection whose peer keeps up
// never needs one, and so never pays for the producer's state): the write
// buffer's water marks then pause and resume reading. Output that does not
// fit below MaxWriteBuffer is held (what is left of one read, or one
// frame) with reading paused until it has been written; the state for that
// is made the first time it happens.
//
// The room left is asked of t (under its lock) only when the flow's own
// account cannot vouch for a write: the last room t gave, less what the
// flow wrote since, is a lower bound of the room now, since output only
// drains between writes and the flow is its connection's only writer.
// An echo of 16 frames read at once thus asks twice, not 16 times. flow
// fits the 32-byte size class with framedEcho and echo (TestIdleSize).
type flow struct {
	t     weft.Transport
	slow  *slowFlow
	room  int32 // a lower bound of t's WriteRoom; 0: ask t
	extra int8  // framedEcho's (see framing)

	throttled bool // registered as t's Producer
	paused    bool // paused by the high-water mark, not resumed since
	stopped   bool // the connection is lost
}

// slowFlow is the state of a flow whose output had to be held.
type slowFlow struct {
	sender  sender
	post    weft.Poster
	held    *[]byte // nil: nothing held
	off     int     // (*held)[off:] is what waits
	looking bool    // a look is posted or its timer armed
	noPost  bool    // t's Post runs work at once: nothing is held
	timer   *time.Timer
	lookFn  func() // flow.lookNow

	// codec is framedEcho's codec when it is not a built-in one (extra is
	// unknown): its frames are encoded to measure them. It is kept here,
	// made with the protocol, so that framedEcho stays in the 32-byte size
	// class (an idle connection's memory is a benchmarked goal).
	codec codec.Codec
}

// sender is the protocol of a flow: it writes what is held.
type sender interface {
	weft.Producer
	// sendHeld writes what of the held output fits in room (math.MaxInt:
	// any size) and reports whether nothing is left to send.
	sendHeld(room int) (done bool)
}

// roomNow is the largest Write t takes now (math.MaxInt when t cannot tell,
// or its buffer is empty), asked of t; it renews the flow's account. known
// reports whether t can tell (is a weft.WriteRoomer).
func (f *flow) roomNow() (room int, known bool) {
	room = math.MaxInt
	r, known := f.t.(weft.WriteRoomer)
	if known {
		room = r.WriteRoom()
	}
	f.room = 0 // an empty buffer's room depends on what is written into it
	if room != math.MaxInt {
		f.room = int32(min(room, math.MaxInt32))
	}
	return room, known
}

// roomFor returns the room for a write of need bytes (-1: unknown): the
// flow's account when it covers need, else roomNow. It registers s as t's
// Producer the first time output is found waiting (a room below
// math.MaxInt, which only an empty buffer gives; or, when t cannot tell its
// room, Buffered): s is paused at once if above HighWater.
func (f *flow) roomFor(s sender, need int) int {
	if need >= 0 && need <= int(f.room) {
		return int(f.room)
	}
	room, known := f.roomNow()
	if !f.throttled && (room != math.MaxInt || (!known && f.t.Buffered() > 0)) {
		f.throttled = true
		f.t.RegisterProducer(s)
	}
	return room
}

// spent takes n bytes written (at most; -1: unknown) off the account.
func (f *flow) spent(n int) {
	if n < 0 || n >= int(f.room) {
		f.room = 0
		return
	}
	f.room -= int32(n)
}

// canHold makes the flow's slow state if it can hold output: t must run
// posted work serialized with the callbacks (the runtime's Transport does,
// and codec's FrameTransport over it). Called from a callback, such a Post
// queues the work until the callback returns; codec's FrameTransport over
// a Transport without Post runs it at once instead, and the flow's looks
// would then run on its timer's goroutine, concurrently with the
// callbacks: that is probed once, and such a flow holds nothing.
func (f *flow) canHold(s sender) bool {
	if f.slow != nil && (f.slow.post != nil || f.slow.noPost) {
		return f.slow.post != nil
	}
	p, ok := f.t.(weft.Poster)
	if !ok {
		return false
	}
	if f.slow == nil {
		f.slow = new(slowFlow)
	}
	ran := new(atomic.Bool)
	p.Post(func() { ran.Store(true) })
	if ran.Load() {
		f.slow.noPost = true
		return false
	}
	f.slow.sender, f.slow.post = s, p
	f.slow.lookFn = f.lookNow
	return true
}

// heldPool holds the buffers of held output: a connection that keeps up,
// or has caught up, holds none.
var heldPool = sync.Pool{New: func() any { return new([]byte) }}

// keepHeld is the largest buffer put back in heldPool.
const keepHeld = 1 << 20

// hold keeps a copy of b (canHold said it can), stops reading, and looks
// for room once the pause that the last Write may have caused has been
// delivered (posted work runs in order).
func (f *flow) hold(b []byte) {
	s := f.slow
	s.held = heldPool.Get().(*[]byte)
	*s.held = append((*s.held)[:0], b...)
	s.off = 0
	f.t.PauseReading()
	f.look()
}

func (f *flow) release() {
	s := f.slow
	if s == nil || s.held == nil {
		return
	}
	if cap(*s.held) <= keepHeld {
		*s.held = (*s.held)[:0]
		heldPool.Put(s.held)
	}
	s.held, s.off = nil, 0
}

// look posts a look for room, unless one waits already.
func (f *flow) look() {
	s := f.slow
	if s.looking {
		return
	}
	s.looking = true
	s.post.Post(s.lookFn)
}

// lookNow (serialized with the callbacks) sends what is held if there is
// room. With no room and no pause coming (whose resume sends it), it looks
// again after weft.GateRetry: on a transport that pauses no Producer at a
// full buffer (the runtime's Transport does), a buffer at MaxWriteBuffer
// that does not pass HighWater (MaxWriteBuffer == HighWater) leaves nothing
// else to tell when the client has taken its output.
func (f *flow) lookNow() {
	s := f.slow
	s.looking = false
	if f.stopped || s.held == nil || f.paused || f.send() {
		return
	}
	s.looking = true
	if s.timer == nil {
		s.timer = time.AfterFunc(weft.GateRetry, f.postLook)
		return
	}
	s.timer.Reset(weft.GateRetry)
}

// postLook is the timer's function (on a goroutine of its own).
func (f *flow) postLook() { f.slow.post.Post(f.slow.lookFn) }

// send writes what is held that fits; once all has gone, it lets reading
// resume (unless the high-water mark paused it). It reports whether all
// has gone.
func (f *flow) send() bool {
	if room, _ := f.roomNow(); !f.slow.sender.sendHeld(room) {
		return false
	}
	f.release()
	if !f.paused {
		f.t.ResumeReading()
	}
	return true
}

func (f *flow) pause() {
	f.paused = true
	f.t.PauseReading()
}

func (f *flow) resume() {
	f.paused = false
	switch {
	case f.stopped:
	case f.slow == nil || f.slow.held == nil:
		f.t.ResumeReading()
	case !f.send():
		f.look()
	}
}

// shutdown is a graceful shutdown's notice (serialized with the
// callbacks). The close that follows (the runtime's Conn.Shutdown calls
// LoseConnection right after the hook) takes no Write, so what is held is
// sent now, as much as the room left takes (a frame: whole, if it fits);
// reading stays paused. What does not fit is dropped with the connection
// (ConnectionLost), as the bytes not yet read are: keeping it until the
// client has taken its output would need the close to wait for the echo,
// which the runtime does not offer.
func (f *flow) shutdown() {
	s := f.slow
	if f.stopped || s == nil || s.held == nil {
		return
	}
	if room, _ := f.roomNow(); s.sender.sendHeld(room) {
		f.release()
	}
}

func (f *flow) stop() {
	if f.stopped {
		return
	}
	f.stopped = true
	if s := f.slow; s != nil && s.timer != nil {
		s.timer.Stop()
	}
	f.release()
}

// Discard is the Factory of the discard service (RFC 863): everything
// received is dropped and nothing is ever sent. The zero value is ready to
// use.
type Discard struct{}

// IgnoresAddr implements weft.AddrIgnorer: BuildProtocol does not use its
// address, so a server may pass nil.
func (Discard) IgnoresAddr() bool { return true }

// BuildProtocol implements weft.Factory.
func (Discard) BuildProtocol(net.Addr) weft.Protocol { return discard{} }

type discard struct{}

func (discard) ConnectionMade(weft.Transport) {}
func (discard) DataReceived([]byte)           {}
func (discard) ConnectionLost(error)          {}

// FramedEcho is the Factory of a framed echo service: each frame received is
// sent back as one frame of the same codec. A frame the codec refuses
// (too large, malformed) closes the connection with the codec's error.
//
// Its flow control is Echo's, with any Options: a frame is sent whole, with
// SendFrame, once the room left below MaxWriteBuffer takes it (or into an
// empty buffer, whatever its size); until then it is held whole — one
// frame, copied into a pooled buffer — with reading paused, so the frames
// after it wait in the codec and the socket. (codec.Raw frames, which have
// no boundaries to keep, are cut to the room as Echo's reads are.) The room
// a frame needs is its payload plus the built-in codecs' framing; another
// codec's frame is encoded to measure it when the buffer is not empty.
// As with Echo, a graceful close drops a held frame unless it fits below
// MaxWriteBuffer at a Shutdown (weft.ShutdownNotifier, forwarded by codec's
// adapter), and drops the frames not yet delivered; over a Transport
// without a Post that queues work (codec's FrameTransport over one that has
// none) each frame is written whole.
//
// The echoes of the frames of one read are written together, in one Write
// (codec.NewCoalescingProtocol: the echo uses its transport from its
// callbacks only).
type FramedEcho struct {
	// Codec is the framing in both directions. Nil means codec.Raw{}, which
	// is plain Echo.
	Codec codec.Codec
}

// IgnoresAddr implements weft.AddrIgnorer: BuildProtocol does not use its
// address, so a server may pass nil.
func (FramedEcho) IgnoresAddr() bool { return true }

// BuildProtocol implements weft.Factory.
func (f FramedEcho) BuildProtocol(net.Addr) weft.Protocol {
	c := f.Codec
	if c == nil {
		c = codec.Raw{}
	}
	h := new(framedEcho)
	h.extra = framing(c)
	if h.extra == unknown {
		h.slow = &slowFlow{codec: c}
	}
	return codec.NewCoalescingProtocol(c, h)
}

type framedEcho struct{ flow }

// Values of flow.extra besides the most bytes the codec adds to a payload.
const (
	split   = -1 // codec.Raw: frames may be cut anywhere
	unknown = -2 // not a built-in codec: encode the frame to measure it
)

// framing returns flow.extra for c.
func framing(c codec.Codec) int8 {
	switch c := c.(type) {
	case codec.Raw, *codec.Raw:
		return split
	case codec.Line:
		return lineExtra(c)
	case *codec.Line:
		if c != nil {
			return lineExtra(*c)
		}
	case codec.Netstring, *codec.Netstring:
		return 20 + 2 // "<up to 20 digits>:" and ","
	case codec.LengthPrefix, *codec.LengthPrefix:
		return 8 // Size is at most 8
	}
	return unknown
}

func lineExtra(c codec.Line) int8 {
	switch n := len(c.Delimiter); {
	case n == 0:
		return 2 // "\r\n"
	case n <= math.MaxInt8:
		return int8(n)
	}
	return unknown // a delimiter this long is measured by encoding
}

func (p *framedEcho) ConnectionMade(t codec.FrameTransport) { p.t = t }

func (p *framedEcho) FrameReceived(frame []byte) {
	if need := p.need(frame); need >= 0 && need <= int(p.room) && (p.slow == nil || p.slow.held == nil) {
		// The account covers the frame (roomFor, fits and spent in
		// short): the path of every frame of a read but the first.
		p.room -= int32(need)
		p.send(frame)
		return
	}
	if s := p.slow; s != nil && s.held != nil {
		p.sendLate(frame)
		return
	}
	room := p.roomFor(p, p.need(frame))
	if p.fits(frame, room) || !p.canHold(p) { // the fast path
		p.sendFrame(frame)
		return
	}
	n := 0
	if p.extra == split && room > 0 {
		n = room
		if !p.sendFrame(frame[:n]) {
			return
		}
	}
	p.hold(frame[n:])
}

// sendLate handles a frame delivered while one is held (the codec stops
// delivery while reading is paused, so this is not expected): it is added
// to the held bytes when frames may be cut, else the held frame is sent
// first, whole, and this one after it, whatever the room.
func (p *framedEcho) sendLate(frame []byte) {
	s := p.slow
	if p.extra == split {
		*s.held = append(*s.held, frame...)
		return
	}
	p.sendFrame((*s.held)[s.off:])
	p.release()
	p.sendFrame(frame)
}

// fits reports whether frame, encoded, fits in room.
func (p *framedEcho) fits(frame []byte, room int) bool {
	switch {
	case room == math.MaxInt:
		return true
	case p.extra >= 0:
		return len(frame) <= room-int(p.extra)
	case p.extra == split:
		return len(frame) <= room
	case len(frame) > room:
		return false
	}
	scratch := heldPool.Get().(*[]byte)
	out, err := p.slow.codec.AppendFrame((*scratch)[:0], frame)
	if cap(out) <= keepHeld {
		*scratch = out[:0]
	}
	heldPool.Put(scratch)
	return err != nil || len(out) <= room // a refusal is SendFrame's to report
}

// sendFrame sends frame, closing the connection if the codec refuses it;
// it reports whether it was sent.
// need is the most bytes frame takes encoded, or -1 when that is not known
// without encoding it.
func (p *framedEcho) need(frame []byte) int {
	switch {
	case p.extra >= 0:
		return len(frame) + int(p.extra)
	case p.extra == split:
		return len(frame)
	}
	return -1
}

func (p *framedEcho) sendFrame(frame []byte) bool {
	p.spent(p.need(frame))
	return p.send(frame)
}

// send sends frame (its room accounted for), closing the connection if the
// codec refuses it; it reports whether it was sent.
func (p *framedEcho) send(frame []byte) bool {
	ft := p.t.(codec.FrameTransport)
	if err := ft.SendFrame(frame); err != nil {
		ft.LoseConnection()
		return false
	}
	return true
}

// sendHeld sends the held frame if it fits in room (Raw: what fits).
func (p *framedEcho) sendHeld(room int) (done bool) {
	s := p.slow
	b := (*s.held)[s.off:]
	if p.extra == split {
		n := min(room, len(b))
		if n <= 0 {
			return false
		}
		if !p.sendFrame(b[:n]) {
			return true
		}
		s.off += n
		return n == len(b)
	}
	if !p.fits(b, room) {
		return false
	}
	p.sendFrame(b)
	return true
}

func (p *framedEcho) ConnectionLost(error) { p.stop() }

// PauseProducing implements weft.Producer: reading stops.
func (p *framedEcho) PauseProducing() { p.pause() }

// ResumeProducing implements weft.Producer: a held frame is sent, then
// reading resumes.
func (p *framedEcho) ResumeProducing() { p.resume() }

// StopProducing implements weft.Producer.
func (p *framedEcho) StopProducing() { p.stop() }

// Shutdown implements weft.ShutdownNotifier (codec's adapter forwards it):
// a held frame is sent before the close if it fits (see flow.shutdown).
func (p *framedEcho) Shutdown() { p.shutdown() }
