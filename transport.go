package weft

import (
	"context"
	"crypto/tls"
	"net"
)

// transport is the Transport of a Conn.
type transport struct{ c *Conn }

func (t *transport) Write(p []byte) (int, error) { return t.c.write(p, nil, nil, nil, 0) }

func (t *transport) WriteBuffers(bufs ...[]byte) error {
	_, err := t.c.write(nil, nil, nil, bufs, 0)
	return err
}

// WriteParts writes one frame — head, body and tail — as one atomic write
// (what t.WriteBuffers(head, body, tail) does), without allocating and
// without first copying them together, and counts it as one frame out, as
// AddFrames(t, 0, 1) does. Codecs use it to send a frame's header, payload
// and trailer. On a Transport not made by this package it calls
// WriteBuffers, then AddFrames.
func WriteParts(t Transport, head, body, tail []byte) error {
	if tr, ok := t.(*transport); ok {
		// A static call: head does not escape, so a caller may build it
		// on its stack. The frame is counted when it goes to the socket,
		// with the others written with it.
		_, err := tr.c.write(head, body, tail, nil, 1)
		return err
	}
	h := make([]byte, len(head))
	copy(h, head)
	if err := t.WriteBuffers(h, body, tail); err != nil {
		return err
	}
	AddFrames(t, 0, 1)
	return nil
}

func (t *transport) LoseConnection() { t.c.loseConnection() }

func (t *transport) Abort() { t.c.abort(ErrAborted, true) }

func (t *transport) LocalAddr() net.Addr { return t.c.laddr }

func (t *transport) RemoteAddr() net.Addr { return t.c.raddr }

func (t *transport) PauseReading() {
	c := t.c
	c.mu.Lock()
	c.readPaused = true
	c.mu.Unlock()
}

func (t *transport) ResumeReading() {
	c := t.c
	c.mu.Lock()
	c.readPaused = false
	if x := c.x.Load(); x != nil && x.resume != nil {
		close(x.resume)
		x.resume = nil
	}
	onEngine := c.nio == nil
	c.mu.Unlock()
	if onEngine {
		c.flags.Or(fIn) // bytes may wait in the socket with no new edge
		c.schedule()
	}
}

func (t *transport) RegisterProducer(p Producer) {
	c := t.c
	x := c.ext()
	c.mu.Lock()
	if c.lost || c.state == stClosed {
		c.mu.Unlock()
		if p != nil {
			p.StopProducing()
		}
		return
	}
	x.producer = p
	x.prodIs = false
	x.prodWant = p != nil && c.bufferedLocked() > c.opt.high
	pause := x.prodWant
	c.mu.Unlock()
	if pause {
		c.Post(c.syncProducer)
	}
}

func (t *transport) UnregisterProducer() {
	c := t.c
	x := c.ext()
	c.mu.Lock()
	x.producer = nil
	x.prodWant, x.prodIs = false, false
	c.mu.Unlock()
}

func (t *transport) Buffered() int {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bufferedLocked()
}

func (t *transport) Context() context.Context {
	c := t.c
	x := c.ext()
	c.mu.Lock()
	defer c.mu.Unlock()
	if x.ctx == nil {
		x.ctx, x.cancel = context.WithCancel(context.Background())
		if c.lost {
			x.cancel()
		}
	}
	return x.ctx
}

func (t *transport) StartTLS(cfg *tls.Config) error { return t.c.startTLS(cfg, nil) }

func (t *transport) startTLSBuffered(cfg *tls.Config, buffered []byte) error {
	return t.c.startTLS(cfg, buffered)
}

func (t *transport) addFrames(in, out int64) { t.c.addFrames(in, out) }

// Post runs fn serialized with the connection's callbacks (see Conn.Post).
// It is not part of the Transport interface; reach it with a type assertion
// to interface{ Post(func()) } — the codec adapter does, to resume delivery
// of buffered frames when ResumeReading is called from another goroutine.
func (t *transport) Post(fn func()) { t.c.Post(fn) }

func (t *transport) loseConnectionReason(reason error) { t.c.loseConnectionReason(reason) }

// LoseConnectionWithReason is Transport.LoseConnection — stop reading, flush
// pending output, close — with reason given to ConnectionLost (and returned by
// Serve) instead of nil. Codecs use it after a decode error so that the close
// is counted as "frame too large" or "malformed frame". On a Transport not made
// by this package it calls LoseConnection.
func LoseConnectionWithReason(t Transport, reason error) {
	if r, ok := t.(interface{ loseConnectionReason(error) }); ok {
		r.loseConnectionReason(reason)
		return
	}
	t.LoseConnection()
}
