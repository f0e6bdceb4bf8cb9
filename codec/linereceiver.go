package codec

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/weftkit/weft"
)

// LineHandler receives the events of a LineReceiver (Twisted's LineReceiver
// subclass methods). Its methods are never called concurrently.
//
// A handler may also implement RawDataReceived(data []byte), called in raw
// mode, and LineLengthExceeded(line []byte), called instead of closing the
// connection when a line is too long; and weft.HalfCloseable's
// ReadConnectionLost, called after the last line when the peer ends its
// stream (see LineReceiver.ReadConnectionLost), and weft.ShutdownNotifier.
type LineHandler interface {
	// ConnectionMade is called once, first.
	ConnectionMade(r *LineReceiver)
	// LineReceived is called with each line, without its delimiter; line is
	// only valid during the call.
	LineReceived(line []byte)
	// ConnectionLost is called once, last; reason matches ErrFrameTooLarge
	// if an over-long line closed the connection, and ErrTruncated if the
	// peer ended the stream cleanly inside a line (one without its
	// delimiter) while the handler had not closed the connection itself.
	ConnectionLost(reason error)
}

// RawHandler is implemented by a LineHandler that uses raw mode.
type RawHandler interface {
	// RawDataReceived is called in raw mode with the bytes received (never
	// empty), valid only during the call.
	RawDataReceived(data []byte)
}

// LineLengthExceeder is implemented by a LineHandler that reacts to an
// over-long line itself (Twisted's lineLengthExceeded override).
type LineLengthExceeder interface {
	// LineLengthExceeded is called with everything buffered (the long line,
	// its delimiter if it arrived, and what followed), which is then dropped;
	// the connection stays open unless the handler closes it. Without this
	// method the connection is closed with ErrFrameTooLarge.
	LineLengthExceeded(data []byte)
}

// LineReceiver is a weft.Protocol that splits input into lines for a
// LineHandler and can switch to raw mode and back, as Twisted's
// twisted.protocols.basic.LineReceiver does:
//
//   - SetRawMode, called from LineReceived, hands everything after the current
//     line to RawDataReceived; SetLineMode(extra), called from RawDataReceived,
//     goes back to lines, decoding extra first and then whatever follows. No
//     byte is lost or reordered, whatever the chunking of the input.
//   - Delivery stops after a callback that closed the connection, and between
//     two lines while the reader is paused (PauseReading).
//   - The line loop is iterative: mode flips never recurse.
//   - DataReceived called from inside a callback appends its bytes to those
//     not yet delivered, as Twisted's re-entrant dataReceived does; the
//     running loop decodes them.
//
// Make it with NewLineReceiver (a literal &LineReceiver{...} has no handler:
// served, it closes its connection with ErrConfig). Set Delimiter and
// MaxLength before serving. Methods other than SendLine and Transport must be
// called from the handler's callbacks (with Coalesce, SendLine too).
type LineReceiver struct {
	// Delimiter, if not empty, is the strict line delimiter in both
	// directions (Twisted's delimiter attribute). Empty (the zero value)
	// means lines end in "\n" or "\r\n" on input and "\r\n" on output.
	Delimiter []byte
	// MaxLength is the longest line accepted (Twisted's MAX_LENGTH). Zero
	// means DefaultMaxLineLength (16 KiB).
	MaxLength int

	h    LineHandler
	core core
	raw  bool

	// Coalesce, for a handler that calls SendLine and its Transport's
	// writing and closing methods only from its callbacks (as
	// NewCoalescingProtocol asks), gathers the lines sent while the lines
	// of one read are delivered and writes them together after the last
	// of them: see NewCoalescingProtocol, whose rules and guarantees it
	// shares. Other goroutines reach the connection through the
	// Transport's Post. Set it before serving. (It is declared next to an
	// unexported bool, so that it adds no padding: a LineReceiver stays in
	// the 144-byte size class.)
	Coalesce bool

	line Line // set by ConnectionMade, then never changed
}

// NewLineReceiver returns a LineReceiver that calls h.
// It panics if h is nil.
func NewLineReceiver(h LineHandler) *LineReceiver {
	if h == nil {
		panic("codec: NewLineReceiver: nil LineHandler")
	}
	return &LineReceiver{h: h}
}

// ConnectionMade implements weft.Protocol.
//
// Bytes given to DataReceived before ConnectionMade (by a test driving the
// receiver by hand; the runtime never does) are decoded once the handler's
// ConnectionMade has been called: when it returns, or at once if it
// switches mode (see DataReceived).
func (r *LineReceiver) ConnectionMade(t weft.Transport) {
	r.line = Line{Delimiter: r.Delimiter, MaxLength: r.MaxLength}
	c := &r.core
	c.t = t
	c.coalesce = r.Coalesce
	if r.h == nil {
		// Not made by NewLineReceiver (a literal &LineReceiver{...}):
		// closed with an error that says so, not a nil-handler panic.
		r.h = noLineHandler{}
		c.fail(fmt.Errorf("%w: LineReceiver has no handler: make it with NewLineReceiver", ErrConfig))
		return
	}
	if r.raw { // SetRawMode was called before ConnectionMade
		c.dec = Raw{}.NewDecoder()
	} else {
		c.dec = decoderFor(&r.line)
	}
	r.h.ConnectionMade(r)
	if err := Validate(&r.line); err != nil && !c.failed {
		c.fail(err)
	}
	c.made(r)
}

// DataReceived implements weft.Protocol. Called before ConnectionMade (a
// Protocol driven by hand, as in Twisted's proto.dataReceived before
// makeConnection; the runtime never does it), it keeps a copy of data:
// the handler gets its ConnectionMade first, then those lines, as if they
// had arrived right after it. SetRawMode and SetLineMode(extra) called
// before ConnectionMade apply to them; so does a ReadConnectionLost, which
// comes after them; ConnectionLost before ConnectionMade drops them and
// passes its reason on to the handler.
func (r *LineReceiver) DataReceived(data []byte) { r.core.feed(data, r) }

// ConnectionLost implements weft.Protocol.
func (r *LineReceiver) ConnectionLost(reason error) {
	reason = r.core.lost(reason)
	if r.h != nil { // nil: never made (see ConnectionMade)
		r.h.ConnectionLost(reason)
	}
}

// noLineHandler stands for the missing handler of a LineReceiver not made
// by NewLineReceiver, whose connection ConnectionMade closes.
type noLineHandler struct{}

func (noLineHandler) ConnectionMade(*LineReceiver) {}
func (noLineHandler) LineReceived([]byte)          {}
func (noLineHandler) ConnectionLost(error)         {}

// ReadConnectionLost implements weft.HalfCloseable: the peer ended its
// stream. A handler that implements weft.HalfCloseable is told, and the
// connection stays open for its output; the connection is closed instead,
// as for a Protocol without it, when the handler does not implement it or
// the stream ended inside a line (ConnectionLost then gets ErrTruncated).
// In raw mode nothing is ever left inside a frame.
func (r *LineReceiver) ReadConnectionLost() { r.core.readLost(r.h) }

// Shutdown implements weft.ShutdownNotifier: it calls the handler's Shutdown
// if it has one.
func (r *LineReceiver) Shutdown() {
	if n, ok := r.h.(weft.ShutdownNotifier); ok {
		n.Shutdown()
	}
}

// Transport returns the connection's transport (nil before ConnectionMade).
// Its LoseConnection and Abort stop line delivery at once.
func (r *LineReceiver) Transport() weft.Transport {
	if r.core.t == nil {
		return nil
	}
	return (*lineTransport)(r)
}

// errNotConnected is SendLine's error before ConnectionMade.
var errNotConnected = fmt.Errorf("codec: SendLine before ConnectionMade: %w", weft.ErrClosed)

// SendLine writes line followed by the delimiter ("\r\n" by default). It
// refuses a line the peer's LineReceiver would refuse: longer than MaxLength
// (ErrFrameTooLarge) or containing the delimiter (ErrDelimiter). Before
// ConnectionMade it returns an error matching weft.ErrClosed. With
// Coalesce, a line sent while the lines of a read are delivered is gathered
// (nil is returned) and written after the last of them.
func (r *LineReceiver) SendLine(line []byte) error {
	if r.core.t == nil {
		return errNotConnected
	}
	if r.core.coalesce && r.core.busy {
		return r.core.gather(&r.line, &lineKey, line)
	}
	return sendFrame(r.core.t, &r.line, line)
}

// SetRawMode switches to raw mode: the bytes after the current line, and all
// later bytes, go to RawDataReceived (and are dropped if the handler does not
// implement RawHandler). Called outside the loop (from a function given to
// the transport's Post), the bytes already buffered are delivered at once.
func (r *LineReceiver) SetRawMode() {
	r.raw = true
	r.core.setDecoder(Raw{}.NewDecoder())
	r.core.run(r) // outside the loop (a posted function) the buffered bytes go to RawDataReceived now
}

// SetLineMode switches back to line mode. extra (for example the bytes of a
// raw chunk after the end of the raw data) is decoded first, then the bytes
// received later. Called from RawDataReceived, the current raw chunk has been
// consumed entirely; called from LineReceived, extra goes before the rest of
// the current read. extra is read after the callback returns: when it is the
// end of the raw chunk (data[n:]), the receiver decodes those bytes in place
// rather than copying them, so the callback must not modify them afterwards.
func (r *LineReceiver) SetLineMode(extra []byte) {
	r.raw = false
	r.core.setDecoder(decoderFor(&r.line))
	r.core.unread(extra)
	r.core.run(r) // outside the loop (e.g. a resumed producer) extra is decoded now
}

// ClearLineBuffer drops the bytes received and not yet delivered, and returns
// them (valid until the callback returns).
func (r *LineReceiver) ClearLineBuffer() []byte { return r.core.clear() }

// RawMode reports whether the receiver is in raw mode.
func (r *LineReceiver) RawMode() bool { return r.raw }

func (r *LineReceiver) deliver(b []byte) {
	if r.raw {
		if rh, ok := r.h.(RawHandler); ok {
			rh.RawDataReceived(b)
		}
		return
	}
	r.h.LineReceived(b)
}

// decodeError gives an over-long line to LineLengthExceeded when the handler
// has it; the buffer is dropped and decoding resumes with the next bytes.
func (r *LineReceiver) stepsBack() bool { return true }

func (r *LineReceiver) decodeError(err error) bool {
	le, ok := r.h.(LineLengthExceeder)
	if !ok || !errors.Is(err, ErrFrameTooLarge) {
		return false
	}
	data := r.core.undecoded()
	r.core.drop()
	r.core.setDecoder(decoderFor(&r.line))
	le.LineLengthExceeded(data)
	return true
}

// lineTransport marks the receiver as closing when the handler closes the
// connection, so that no line is delivered after it. It is the receiver
// itself under another method set, so that handing it out allocates nothing.
type lineTransport LineReceiver

func (t *lineTransport) LoseConnection() {
	t.core.settle()
	t.core.setClosing()
	t.core.t.LoseConnection()
}

func (t *lineTransport) Abort() {
	t.core.settle() // the runtime's Abort then discards it with the rest
	t.core.setClosing()
	t.core.t.Abort()
}

func (t *lineTransport) PauseReading()  { t.core.setPaused(true); t.core.t.PauseReading() }
func (t *lineTransport) ResumeReading() { t.core.resumeReading((*LineReceiver)(t)) }

// LoseConnectionWithReason implements weft.ReasonCloser: LoseConnection,
// with reason passed on to the Transport under the receiver
// (weft.LoseConnectionWithReason).
func (t *lineTransport) LoseConnectionWithReason(reason error) {
	t.core.settle()
	t.core.setClosing()
	weft.LoseConnectionWithReason(t.core.t, reason)
}

// LoseWriteConnection implements weft.HalfCloser: it half-closes the
// Transport under the receiver (weft.LoseWriteConnection).
func (t *lineTransport) LoseWriteConnection() error {
	t.core.settle()
	return weft.LoseWriteConnection(t.core.t)
}

// The rest of weft.Transport is the runtime's.

func (t *lineTransport) Write(p []byte) (int, error) {
	t.core.settle()
	return t.core.t.Write(p)
}

func (t *lineTransport) WriteBuffers(bufs ...[]byte) error {
	t.core.settle()
	return t.core.t.WriteBuffers(bufs...)
}

func (t *lineTransport) Buffered() int {
	t.core.settle()
	return t.core.t.Buffered()
}

func (t *lineTransport) WriteRoom() int {
	t.core.settle()
	return writeRoom(t.core.t)
}

func (t *lineTransport) LocalAddr() net.Addr              { return t.core.t.LocalAddr() }
func (t *lineTransport) RemoteAddr() net.Addr             { return t.core.t.RemoteAddr() }
func (t *lineTransport) RegisterProducer(p weft.Producer) { t.core.t.RegisterProducer(p) }
func (t *lineTransport) UnregisterProducer()              { t.core.t.UnregisterProducer() }
func (t *lineTransport) Context() context.Context         { return t.core.t.Context() }

// Post is FrameTransport's Post for the LineReceiver's Transport.
func (t *lineTransport) Post(fn func()) { post(t.core.t, fn) }
