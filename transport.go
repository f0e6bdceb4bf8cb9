package weft

import (
	"context"
	"crypto/tls"
	"errors"
	"math"
	"net"
)

// transport is the Transport of a Conn: the Conn itself under another
// method set, so the Transport costs no field and no allocation.
type transport Conn

func (t *transport) Write(p []byte) (int, error) { return (*Conn)(t).write(p, nil, nil, nil, 0) }

func (t *transport) WriteBuffers(bufs ...[]byte) error {
	_, err := (*Conn)(t).write(nil, nil, nil, bufs, 0)
	return err
}

// WriteParts writes one frame — head, body and tail — as one atomic write
// (what t.WriteBuffers(head, body, tail) does), without allocating and
// without first copying them together, and counts it as one frame out, as
// AddFrames(t, 0, 1) does. Codecs use it to send a frame's header, payload
// and trailer. On a Transport not made by this package it calls
// WriteBuffers, then AddFrames. A nil t is an error.
func WriteParts(t Transport, head, body, tail []byte) error {
	if tr, ok := t.(*transport); ok {
		// A static call: head does not escape, so a caller may build it
		// on its stack. The frame is counted when it goes to the socket,
		// with the others written with it.
		_, err := (*Conn)(tr).write(head, body, tail, nil, 1)
		return err
	}
	if t == nil {
		return errors.New("weft: WriteParts: nil Transport")
	}
	h := make([]byte, len(head))
	copy(h, head)
	if err := t.WriteBuffers(h, body, tail); err != nil {
		return err
	}
	AddFrames(t, 0, 1)
	return nil
}

// WriteFrames writes p, which holds n whole frames, as one Write, and counts
// the frames in Counters.FramesOut: over the runtime's Transport when they go
// to the socket, with the rest of the output written with them; over another
// Transport once its Write has returned (AddFrames). The codec package writes
// the frames a coalescing handler sends in one delivery loop with it (see
// codec.NewCoalescingProtocol).
func WriteFrames(t Transport, p []byte, n int) error {
	n = max(n, 0)
	if tr, ok := t.(*transport); ok {
		c := (*Conn)(tr)
		frames := uint16(min(n, math.MaxUint16))
		if _, err := c.write(p, nil, nil, nil, frames); err != nil || n == int(frames) {
			return err
		}
		c.addFrames(0, int64(n-int(frames)))
		return nil
	}
	if t == nil {
		return errors.New("weft: WriteFrames: nil Transport")
	}
	if _, err := t.Write(p); err != nil {
		return err
	}
	AddFrames(t, 0, int64(n))
	return nil
}

func (t *transport) LoseConnection() { (*Conn)(t).loseConnection() }

func (t *transport) Abort() { (*Conn)(t).abort(ErrAborted, true) }

// LoseWriteConnection implements HalfCloser.
func (t *transport) LoseWriteConnection() error { return (*Conn)(t).loseWriteConnection() }

func (t *transport) LocalAddr() net.Addr { return (*Conn)(t).localAddr() }

// RemoteAddr returns the peer's address. An IPv4 TCP address is unpacked
// into a new *net.TCPAddr on each call (see tcp4).
func (t *transport) RemoteAddr() net.Addr { return (*Conn)(t).remoteAddr() }

func (t *transport) PauseReading() {
	c := (*Conn)(t)
	c.mu.Lock()
	c.bits |= bReadPaused
	c.mu.Unlock()
}

func (t *transport) ResumeReading() {
	c := (*Conn)(t)
	c.mu.Lock()
	c.bits &^= bReadPaused
	if x := c.x.Load(); x != nil {
		c.wakeLocked(x)
	}
	onEngine := c.nio == nil
	c.mu.Unlock()
	if onEngine {
		c.flags.Or(fIn) // bytes may wait in the socket with no new edge
		c.schedule()
	}
}

func (t *transport) RegisterProducer(p Producer) {
	c := (*Conn)(t)
	x := c.ext()
	c.mu.Lock()
	if c.is(bEnded) {
		if !c.is(bStopsDone) {
			// finalize is stopping producers: it stops this one too,
			// serialized with the one it is stopping.
			x.producer = p
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if p != nil {
			p.StopProducing()
		}
		return
	}
	// On a connection that is closed but not yet ended, p is kept: the
	// runtime stops it serialized with the callbacks (finalize), not
	// concurrently with one still running.
	x.producer = p
	x.prodIs = false
	x.prodWant = p != nil && c.state != stClosed && c.opt.pauses(c.bufferedLocked())
	x.prodPend = x.prodWant
	pause := x.prodWant
	c.mu.Unlock()
	if pause {
		c.Post(c.syncProducer)
	}
}

func (t *transport) UnregisterProducer() {
	c := (*Conn)(t)
	x := c.ext()
	c.mu.Lock()
	x.producer = nil
	x.prodWant, x.prodIs, x.prodPend = false, false, false
	c.mu.Unlock()
}

func (t *transport) Buffered() int {
	c := (*Conn)(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bufferedLocked()
}

// WriteRoom implements WriteRoomer: any size into an empty buffer (see
// Write), else what is left below MaxWriteBuffer; 0 once closed.
func (t *transport) WriteRoom() int {
	c := (*Conn)(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stClosed || c.is(bWriteClose) {
		return 0
	}
	if b := c.bufferedLocked(); b > 0 {
		return max(0, c.opt.max-b)
	}
	return math.MaxInt
}

func (t *transport) Context() context.Context {
	c := (*Conn)(t)
	x := c.ext()
	c.mu.Lock()
	defer c.mu.Unlock()
	if x.ctx == nil {
		x.ctx, x.cancel = context.WithCancel(context.Background())
		if c.is(bLost) {
			x.cancel()
		}
	}
	return x.ctx
}

func (t *transport) StartTLS(cfg *tls.Config) error { return (*Conn)(t).startTLS(cfg, nil) }

func (t *transport) startTLSBuffered(cfg *tls.Config, buffered []byte) error {
	return (*Conn)(t).startTLS(cfg, buffered)
}

func (t *transport) addFrames(in, out int64) { (*Conn)(t).addFrames(in, out) }

// Post runs fn serialized with the connection's callbacks (see Conn.Post).
// It is not part of the Transport interface; reach it with a type assertion
// to Poster — the codec adapter does, to resume delivery of buffered frames
// when ResumeReading is called from another goroutine.
// fn never runs after ConnectionLost: posted once the connection ends (from
// ConnectionLost too), it is dropped at once and not kept.
func (t *transport) Post(fn func()) { (*Conn)(t).Post(fn) }

// LoseConnectionWithReason implements ReasonCloser.
func (t *transport) LoseConnectionWithReason(reason error) { (*Conn)(t).loseConnectionReason(reason) }

// LoseConnectionWithReason is Transport.LoseConnection — stop reading, flush
// pending output, close — with reason given to ConnectionLost (and returned by
// Serve) instead of nil. Codecs use it after a decode error so that the close
// is counted as "frame too large" or "malformed frame". If Options.CloseTimeout
// then cuts the close short, the reason is ErrCloseTimeout wrapping reason. On a
// Transport that is not a ReasonCloser (the runtime's and the codec package's
// are) it calls LoseConnection; a nil t is ignored.
func LoseConnectionWithReason(t Transport, reason error) {
	if r, ok := t.(ReasonCloser); ok {
		r.LoseConnectionWithReason(reason)
		return
	}
	if t != nil {
		t.LoseConnection()
	}
}

// LoseWriteConnection half-closes t (see HalfCloser) if it is a HalfCloser,
// and returns ErrNotSupported otherwise.
func LoseWriteConnection(t Transport) error {
	if h, ok := t.(HalfCloser); ok {
		return h.LoseWriteConnection()
	}
	return ErrNotSupported
}
