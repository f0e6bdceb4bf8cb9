package weft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/weftkit/weft/internal/eofmark"
)

// StartTLS upgrades the connection behind t to TLS like Transport.StartTLS,
// handing buffered — bytes already received after the command that asked for
// TLS, which belong to the TLS stream — to TLS first. A framed protocol calls
// it with its decoder's unread bytes, so nothing the peer pipelined is lost or
// read as clear text. A nil t is an error.
func StartTLS(t Transport, cfg *tls.Config, buffered []byte) error {
	if bt, ok := t.(interface {
		startTLSBuffered(*tls.Config, []byte) error
	}); ok {
		return bt.startTLSBuffered(cfg, buffered)
	}
	if t == nil {
		return errors.New("weft: StartTLS: nil Transport")
	}
	if len(buffered) > 0 {
		return errors.New("weft: StartTLS: this Transport cannot take buffered bytes")
	}
	return t.StartTLS(cfg)
}

// startTLS records the request; the switch happens when the current callback
// returns (maybeSwitchTLS), after the output queued so far is sent in clear
// text. Output written after the call waits and goes out over TLS. On the
// readiness engine the runner first hands the connection over to a
// goroutine of its own (handOff), which switches: crypto/tls reads and
// writes block.
func (c *Conn) startTLS(cfg *tls.Config, buffered []byte) error {
	if cfg == nil {
		return errors.New("weft: StartTLS: nil *tls.Config")
	}
	x := c.ext()
	c.mu.Lock()
	onEngine := c.nio == nil
	switch {
	case x.tlsOn || x.tlsCfg != nil || !onEngine && speaksTLS(c.nio.raw):
		c.mu.Unlock()
		return ErrTLSActive
	case c.state != stOpen || c.bits&(bWriteClose|bPeerEOF) != 0:
		// Closing, or half-closed: a handshake needs both directions
		// (and after the peer's end of stream no one reads to switch).
		c.mu.Unlock()
		return ErrClosed
	}
	x.tlsCfg = cfg
	if c.out != nil {
		x.tlsClear = len(*c.out)
	}
	x.tlsFrames = c.outFrames // all in the clear text
	x.tlsBuf = append([]byte(nil), buffered...)
	if onEngine {
		c.flags.Or(fSwitch)
		c.mu.Unlock()
		c.schedule() // the runner hands the connection over (handOff)
		return nil
	}
	// The switch is made by the reading goroutine, which may be waiting
	// for the peer (StartTLS called from another goroutine or a posted
	// function): wake it up, so that the clear-text output goes out now
	// (the peer may wait for it before sending anything). maybeSwitchTLS
	// clears the deadline, under c.mu, so after this.
	c.nio.nc.SetReadDeadline(aLongTimeAgo)
	c.wakeLocked(x) // a reader paused by PauseReading
	c.mu.Unlock()
	return nil
}

// aLongTimeAgo is a read deadline that wakes up a blocked Read at once.
var aLongTimeAgo = time.Unix(1, 0)

// tlsKick reports whether err is the wake-up of a reader for a switch to
// TLS (see startTLS): the read loop then goes on, and switches.
func (c *Conn) tlsKick(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tlsPendingLocked()
}

// speaksTLS reports whether nc is TLS already: a *tls.Conn (or another
// connection with a TLS ConnectionState), or a wrapper that exposes one with
// NetConn. (A wrapper that hides its TLS layer cannot be told apart.)
func speaksTLS(nc net.Conn) bool {
	for l := range layers(nc) {
		if _, ok := l.(interface{ ConnectionState() tls.ConnectionState }); ok {
			return true
		}
	}
	return false
}

// maybeSwitchTLS performs a requested switch to TLS; it runs on the reading
// goroutine between two reads. It sends the clear-text output queued before
// StartTLS, runs the TLS handshake, then switches: output written meanwhile
// waits (the switch is pending) and goes out over TLS once the handshake is
// done. A failed handshake ends the connection with a reason that says so
// (handshakeError).
func (c *Conn) maybeSwitchTLS() error {
	x := c.x.Load()
	if x == nil {
		return nil
	}
	c.mu.Lock()
	if x.tlsCfg == nil {
		c.mu.Unlock()
		return nil
	}
	c.nio.nc.SetReadDeadline(time.Time{}) // startTLS's wake-up
	if x.flushCond == nil {
		x.flushCond = sync.NewCond(&c.mu)
	}
	for c.is(bFlushing) && c.state != stClosed {
		x.flushCond.Wait()
	}
	if c.state == stClosed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	cfg := x.tlsCfg
	var clear []byte
	if c.out != nil && x.tlsClear > 0 {
		clear = append(clear, (*c.out)[:x.tlsClear]...)
		*c.out = append((*c.out)[:0], (*c.out)[x.tlsClear:]...)
	}
	// The clear text's frames are handed to the socket with it: counted
	// now, not with the TLS output, which may never come.
	if n := min(x.tlsFrames, c.outFrames); n != 0 {
		c.outFrames -= n
		if cnt := c.opt.counters; cnt != nil {
			cnt.FramesOut.Add(int64(n))
		}
	}
	x.tlsClear, x.tlsFrames = 0, 0
	c.sending = len(clear)
	if len(clear) > 0 {
		// A flush of the clear text: a LoseConnection meanwhile waits
		// for it (drainedLocked), and an Abort leaves it the buffer.
		c.bits |= bFlushing
	}
	c.mu.Unlock()

	nio := c.nio
	if len(clear) > 0 {
		// As the flusher writes: a slow but steady reader of a long
		// clear text is neither idle nor a stalled close.
		cuttable := deadlineCuttable(nio.nc)
		for rest := clear; len(rest) > 0; {
			n, err := c.writeSome(nio.nc, rest, cuttable)
			if n > 0 {
				c.wrote(n) // counted even when the Write failed after them
			}
			if err != nil {
				c.writeFailed(err)
				return err
			}
			if rest = rest[n:]; len(rest) > 0 {
				c.sentPart(n)
			}
		}
		c.mu.Lock()
		c.endFlushLocked()
		resume := c.sentLocked()
		// A LoseConnection with nothing queued for TLS closes now: the
		// clear text it waited for is sent, and no handshake is needed.
		closeNow := c.drainedLocked()
		if closeNow {
			x.tlsCfg, x.tlsBuf = nil, nil
		}
		c.mu.Unlock()
		if resume {
			c.Post(c.syncProducer)
		}
		if closeNow {
			c.closeSocket(false)
			return nil
		}
	}
	tc, err := c.handshakeTLS(cfg, nio.nc, x.tlsBuf)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.state == stClosed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	nio.nc, nio.rc = tc, nil
	x.tlsCfg, x.tlsBuf, x.tlsClear, x.tlsOn = nil, nil, 0, true
	start := c.startFlushLocked()
	// A LoseConnection made while the switch waited, with nothing queued
	// for TLS, closes now.
	closeNow := !start && c.drainedLocked()
	c.mu.Unlock()
	if start {
		c.flush()
	} else if closeNow {
		c.closeSocket(false)
	}
	return nil
}

// handshakeTLS runs the TLS handshake of a switch, within a slot of
// Options.HandshakeLimiter if there is one, over nc. It runs before the
// switch: an Abort (or a LoseConnection with nothing to send) closes the
// socket under it, and HandshakeTimeout, IdleTimeout, or CloseTimeout once
// closing, bounds it.
func (c *Conn) handshakeTLS(cfg *tls.Config, nc net.Conn, pre []byte) (*tls.Conn, error) {
	if l := c.opt.hsLimit; l != nil {
		if !l.TryAcquire() {
			return nil, errNoHandshakeSlot
		}
		defer l.Release()
	}
	pc := &prefixConn{Conn: eofmark.Wrap(nc), pre: pre}
	var tc *tls.Conn
	if c.opt.client {
		tc = tls.Client(pc, cfg)
	} else {
		tc = tls.Server(pc, cfg)
	}
	// On a goroutine of its own: the handshake's cryptography grows a
	// stack to 8 KiB, which the reading goroutine, waiting in reads for
	// the rest of the connection's life, would keep (the runtime halves a
	// stack only below a quarter in use), although its reads need half.
	// 3,000 idle connections after a StartTLS: 30.6–32.2 → 24.1–24.4 KB of RSS
	// each (loadgen -mode tlsidle).
	done := make(chan error, 1)
	go func() { done <- handshake(tc, c.opt.hsTO) }()
	if err := <-done; err != nil {
		return nil, handshakeError(err)
	}
	return tc, nil
}

// errNoHandshakeSlot ends a connection whose StartTLS found every slot of
// Options.HandshakeLimiter taken.
var errNoHandshakeSlot = fmt.Errorf("weft: StartTLS: %w: no handshake slot free (Options.HandshakeLimiter)", ErrRejected)

// handshake runs tc's handshake, within timeout if it is positive: past
// it, crypto/tls closes the connection under tc, and the error matches
// ErrHandshakeTimeout.
func handshake(tc *tls.Conn, timeout time.Duration) error {
	if timeout <= 0 {
		return tc.Handshake()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := tc.HandshakeContext(ctx)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: not done within %v", ErrHandshakeTimeout, timeout)
	}
	return err
}

// handshakeError is the close reason of a failed StartTLS handshake: it
// names the handshake, matches ErrHandshakeFailed, and wraps crypto/tls's
// error (errors.As finds the *net.OpError of a peer's alert, say). The peer's
// end of stream during it is io.ErrUnexpectedEOF, not io.EOF: the connection
// did not end cleanly.
func handshakeError(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &startTLSError{err}
}

// startTLSError is handshakeError's reason.
type startTLSError struct{ err error }

func (e *startTLSError) Error() string   { return "weft: StartTLS: TLS handshake: " + e.err.Error() }
func (e *startTLSError) Unwrap() []error { return []error{ErrHandshakeFailed, e.err} }

// switchAtEOF runs a switch to TLS asked for (from another goroutine) while
// the read that ended the stream (err) was under way: the reader would
// otherwise leave without switching, and the clear text queued before
// StartTLS, with a LoseConnection waiting for it, would never go out. The
// clear text is sent; the handshake, which the peer can no longer make,
// gives the reason the connection ends with (nil if it closed meanwhile).
//
// The peer's end is marked (bPeerEOF) in the same step as the look: a
// StartTLS after it is refused with ErrClosed, where one landing between
// the look and endRead's mark was accepted with no reader left to switch,
// and its clear text and the close waited forever.
func (c *Conn) switchAtEOF(err error) error {
	if !errors.Is(err, io.EOF) {
		return nil
	}
	c.mu.Lock()
	c.bits |= bPeerEOF
	pending := c.tlsPendingLocked()
	c.mu.Unlock()
	if !pending {
		return nil
	}
	return c.maybeSwitchTLS()
}

// truncatedTLS reports whether the connection reads through a TLS layer
// whose stream underneath ended (an end-of-stream marker under it saw
// io.EOF: eofmark.Conn, which StartTLS's prefixConn embeds): crypto/tls
// reads that as a clean end when it falls on a record boundary, but no
// close_notify came. After a close_notify, crypto/tls reads nothing more
// under it.
func (c *Conn) truncatedTLS() bool {
	if c.nio == nil {
		return false
	}
	c.mu.Lock()
	nc := c.nio.nc // a switch to TLS replaces it (maybeSwitchTLS)
	c.mu.Unlock()
	under := false
	for l := range layers(nc) {
		if _, ok := l.(interface{ ConnectionState() tls.ConnectionState }); ok {
			under = true
			continue
		}
		if m, ok := l.(interface{ SawEOF() bool }); ok && under && m.SawEOF() {
			return true
		}
	}
	return false
}

// prefixConn reads pre before the connection itself, which records the end
// of its stream (eofmark.Conn; SawEOF, see truncatedTLS).
type prefixConn struct {
	*eofmark.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
