package weft_test

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// lostPoster is a Protocol whose ConnectionLost runs onLost.
type lostPoster struct {
	made   chan weft.Transport
	onLost func()
}

func (p *lostPoster) ConnectionMade(t weft.Transport) { p.made <- t }
func (p *lostPoster) DataReceived([]byte)             {}
func (p *lostPoster) ConnectionLost(error)            { p.onLost() }

// TestPostDuringConnectionLost: work posted once ConnectionLost was called —
// from ConnectionLost itself, from another goroutine while it runs, or
// after the connection ended — never runs and is not kept (Post's
// contract): the connection holds none of it, so it holds nothing the work
// refers to. On both engines.
func TestPostDuringConnectionLost(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			var ran atomic.Int32
			work := func() { ran.Add(1) }
			var conn *weft.Conn
			p := &lostPoster{made: make(chan weft.Transport, 1)}
			p.onLost = func() {
				conn.Post(work) // from ConnectionLost
				posted := make(chan struct{})
				go func() { conn.Post(work); close(posted) }() // from another goroutine, meanwhile
				<-posted
			}
			conn = weft.NewConn(s, p, connOpts(s))
			done := make(chan error, 1)
			conn.Start(func(err error) { done <- err })
			<-p.made
			c.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the connection did not end")
			}
			if n := weft.PendingWork(conn); n != 0 {
				t.Errorf("the ended connection still holds %d functions posted during ConnectionLost", n)
			}
			conn.Post(work) // after the end
			if n := weft.PendingWork(conn); n != 0 {
				t.Errorf("the ended connection holds %d functions posted after it ended", n)
			}
			if n := ran.Load(); n != 0 {
				t.Errorf("%d posted functions ran after ConnectionLost", n)
			}
		})
	}
}

// connOpts returns the Options that serve uses for s: the test engine for
// the "epoll" transport.
func connOpts(s net.Conn) *weft.Options {
	if _, ok := s.(engineConn); ok {
		return &weft.Options{Engine: testEngine}
	}
	return &weft.Options{}
}

// TestBufferedAfterPartialInlineWrite: a Write from outside the callbacks
// that the socket takes only part of is written inline up to what the
// socket took, and the rest is handed to a flusher. Buffered then counts
// only the rest: Buffered plus the bytes handed to the socket
// (Counters.BytesOut) is what was written, never more. The peer does not
// read, so the numbers settle.
func TestBufferedAfterPartialInlineWrite(t *testing.T) {
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue // no inline write: a pipe's flush runs on a goroutine
		}
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t) // the peer reads nothing
			// Small socket buffers: a few MiB is far more than they hold.
			s.(interface{ SetWriteBuffer(int) error }).SetWriteBuffer(64 << 10)
			c.(interface{ SetReadBuffer(int) error }).SetReadBuffer(64 << 10)
			var cnt weft.Counters
			opts := connOpts(s)
			opts.Counters = &cnt
			p := &lostPoster{made: make(chan weft.Transport, 1), onLost: func() {}}
			conn := weft.NewConn(s, p, opts)
			done := make(chan error, 1)
			conn.Start(func(err error) { done <- err })
			tr := <-p.made
			const total = 4 << 20
			if _, err := tr.Write(bytes.Repeat([]byte("x"), total)); err != nil {
				t.Fatal(err)
			}
			// The flusher may still be handing bytes over; wait (bounded)
			// until the counts agree, which a correct runtime reaches as
			// soon as the socket is full.
			var buffered, out int
			deadline := time.Now().Add(5 * time.Second)
			for {
				buffered, out = tr.Buffered(), int(cnt.BytesOut.Load())
				if buffered+out == total && buffered > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if out == 0 || out >= total {
				t.Fatalf("%d of %d bytes went to the socket: the test needs a partial write", out, total)
			}
			if buffered+out != total {
				t.Errorf("Buffered() = %d with %d bytes handed to the socket: %d counted for %d written",
					buffered, out, buffered+out, total)
			}
			tr.Abort()
			<-done
		})
	}
}
