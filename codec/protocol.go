package codec

import (
	"sync"

	"github.com/weftkit/weft"
)

// FrameHandler receives the frames of one connection. Its methods are called
// like a weft.Protocol's: one at a time, never concurrently.
type FrameHandler interface {
	// ConnectionMade is called once, first, with the framed transport.
	ConnectionMade(t FrameTransport)
	// FrameReceived is called with each decoded frame. frame is only valid
	// during the call: copy what must be kept.
	FrameReceived(frame []byte)
	// ConnectionLost is called once, last. reason is the decode error that
	// closed the connection (matching ErrFrameTooLarge or ErrMalformed), or
	// the runtime's reason (nil for a clean close).
	ConnectionLost(reason error)
}

// FrameTransport is the weft.Transport of a framed connection, with frame
// output and codec switching. Like weft.Transport it is safe to use from any
// goroutine, except SetCodec (see there).
type FrameTransport interface {
	weft.Transport
	// SendFrame encodes p with the current codec and writes it. It returns
	// the codec's refusal (ErrFrameTooLarge, ErrDelimiter) without writing,
	// or the Transport's Write error.
	SendFrame(p []byte) error
	// SetCodec switches the framing in both directions. Called from
	// FrameReceived (or any callback of the connection), the bytes already
	// received after the current frame are decoded with c: nothing is lost
	// or decoded twice.
	SetCodec(c Codec)
}

// NewProtocol returns a weft.Protocol that decodes the byte stream with c and
// hands each frame to h.
//
// Delivery stops as soon as the handler calls LoseConnection or Abort, and
// between two frames while reading is paused (PauseReading); frames already
// buffered are delivered after ResumeReading.
//
// A decode error (ErrFrameTooLarge, ErrMalformed, or ErrConfig for an invalid
// codec) stops delivery and closes the connection with LoseConnection, so that
// whatever the handler already wrote — a reply, an error message — is flushed
// first; h.ConnectionLost then receives the decode error. Frames in and out
// are counted with weft.AddFrames. If h implements weft.ShutdownNotifier, its
// Shutdown is called on a graceful server shutdown.
func NewProtocol(c Codec, h FrameHandler) weft.Protocol {
	return &framed{h: h, codec: c}
}

type framed struct {
	core
	h FrameHandler

	mu      sync.Mutex // guards codec and scratch (SendFrame may run anywhere)
	codec   Codec
	scratch []byte
}

func (p *framed) ConnectionMade(t weft.Transport) {
	p.t = t
	p.dec = decoderFor(p.codec)
	p.deliver = p.h.FrameReceived
	p.h.ConnectionMade(&frameTransport{Transport: t, p: p})
	if err := Validate(p.codec); err != nil && p.failed == nil {
		p.fail(err)
	}
}

func (p *framed) DataReceived(data []byte) { p.feed(data) }

func (p *framed) ConnectionLost(reason error) { p.h.ConnectionLost(p.lost(reason)) }

// Shutdown forwards a graceful-shutdown notice to a handler that implements
// weft.ShutdownNotifier.
func (p *framed) Shutdown() {
	if n, ok := p.h.(weft.ShutdownNotifier); ok {
		n.Shutdown()
	}
}

func decoderFor(c Codec) Decoder {
	if err := Validate(c); err != nil {
		return errDecoder{err}
	}
	return c.NewDecoder()
}

// sendFrame encodes under the lock into a reused scratch buffer; the
// Transport copies what it is given.
func sendFrame(t weft.Transport, mu *sync.Mutex, codec *Codec, scratch *[]byte, payload []byte) error {
	mu.Lock()
	defer mu.Unlock()
	c := *codec
	if c == nil {
		return Validate(c)
	}
	out, err := c.AppendFrame((*scratch)[:0], payload)
	if err != nil {
		return err
	}
	if cap(out) <= keepBuffer {
		*scratch = out
	}
	if _, err := t.Write(out); err != nil {
		return err
	}
	weft.AddFrames(t, 0, 1)
	return nil
}

// frameTransport decorates the runtime's Transport.
type frameTransport struct {
	weft.Transport
	p *framed
}

func (t *frameTransport) SendFrame(b []byte) error {
	return sendFrame(t.Transport, &t.p.mu, &t.p.codec, &t.p.scratch, b)
}

func (t *frameTransport) SetCodec(c Codec) {
	t.p.mu.Lock()
	t.p.codec = c
	t.p.mu.Unlock()
	t.p.setDecoder(decoderFor(c))
}

func (t *frameTransport) LoseConnection() {
	t.p.closing.Store(true)
	t.Transport.LoseConnection()
}

func (t *frameTransport) Abort() {
	t.p.closing.Store(true)
	t.Transport.Abort()
}

func (t *frameTransport) PauseReading() {
	t.p.paused.Store(true)
	t.Transport.PauseReading()
}

func (t *frameTransport) ResumeReading() {
	t.Transport.ResumeReading()
	t.p.resume()
}
