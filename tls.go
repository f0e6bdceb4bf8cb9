package weft

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// StartTLS upgrades the connection behind t to TLS like Transport.StartTLS,
// handing buffered — bytes already received after the command that asked for
// TLS, which belong to the TLS stream — to TLS first. A framed protocol calls
// it with its decoder's unread bytes, so nothing the peer pipelined is lost or
// read as clear text.
func StartTLS(t Transport, cfg *tls.Config, buffered []byte) error {
	if bt, ok := t.(interface {
		startTLSBuffered(*tls.Config, []byte) error
	}); ok {
		return bt.startTLSBuffered(cfg, buffered)
	}
	if len(buffered) > 0 {
		return errors.New("weft: StartTLS: this Transport cannot take buffered bytes")
	}
	return t.StartTLS(cfg)
}

// startTLS records the request; the switch happens when the current callback
// returns (maybeSwitchTLS), after the output queued so far is sent in clear
// text. Output written after the call waits and goes out over TLS.
func (c *Conn) startTLS(cfg *tls.Config, buffered []byte) error {
	if cfg == nil {
		return errors.New("weft: StartTLS: nil *tls.Config")
	}
	x := c.ext()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nio == nil {
		return ErrNotSupported // the readiness engine reads sockets directly
	}
	switch {
	case x.tlsOn || x.tlsCfg != nil:
		return ErrTLSActive
	case c.state != stOpen:
		return ErrClosed
	}
	x.tlsCfg = cfg
	if c.out != nil {
		x.tlsClear = len(*c.out)
	}
	x.tlsBuf = append([]byte(nil), buffered...)
	// The switch is made by the reading goroutine, which may be waiting
	// for the peer (StartTLS called from another goroutine or a posted
	// function): wake it up, so that the clear-text output goes out now
	// (the peer may wait for it before sending anything). maybeSwitchTLS
	// clears the deadline, under c.mu, so after this.
	c.nio.nc.SetReadDeadline(aLongTimeAgo)
	if x.resume != nil { // a reader paused by PauseReading
		close(x.resume)
		x.resume = nil
	}
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

// maybeSwitchTLS performs a requested switch to TLS; it runs on the reading
// goroutine between two reads.
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
	c.sending = len(clear)
	c.mu.Unlock()

	nio := c.nio
	if len(clear) > 0 {
		n, err := nio.nc.Write(clear)
		if n > 0 {
			c.wrote(n) // counted even when the Write failed after them
		}
		if err != nil {
			return err
		}
		c.sendDone(nil)
	}
	pc := &prefixConn{Conn: nio.nc, pre: x.tlsBuf}
	var tc *tls.Conn
	if c.opt.client {
		tc = tls.Client(pc, cfg)
	} else {
		tc = tls.Server(pc, cfg)
	}
	c.mu.Lock()
	nio.nc, nio.rc = tc, nil
	x.tlsCfg, x.tlsBuf, x.tlsClear, x.tlsOn = nil, nil, 0, true
	start := c.startFlushLocked()
	// A LoseConnection made while the switch waited, with nothing queued
	// for TLS, closes now: the clear text it waited for is sent.
	closeNow := !start && c.drainedLocked()
	c.mu.Unlock()
	if start {
		c.flush()
	} else if closeNow {
		c.closeSocket(false)
	}
	return nil
}

// prefixConn reads pre before the connection itself.
type prefixConn struct {
	net.Conn
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
