package weft

import (
	"context"
	"io"
	"sync"
	"time"
)

// Gate is flow control for a goroutine that writes to a Transport from
// outside the connection's callbacks: a file pump, a generator, a relay. It
// is the Transport's registered Producer; the writing goroutine calls Wait
// after each Write (or before it) and is held there while the write buffer
// is above Options.HighWater, until it drains to LowWater.
//
// The Transport pauses a Producer with a callback, serialized with the
// others, so a goroutine that only watched for PauseProducing would see it
// some time after the Write that crossed the mark and could write on, as
// far as the scheduler let it, until MaxWriteBuffer closed the connection
// as a slow consumer. Wait first lets the callbacks catch up with the
// caller's writes, through Post when the Transport has it (the runtime's
// Transport and codec's FrameTransport do): the buffer then stays within
// one Write of the high-water mark.
//
// Wait may be called from several goroutines. The Producer methods are for
// the Transport.
type Gate struct {
	t      GateTransport
	post   func(func())
	markFn func() // g.mark, made once

	mu      sync.Mutex
	paused  bool
	stopped bool
	waits   uint64        // Waits begun: the markers posted or about to be
	marks   uint64        // markers run (see Wait)
	change  chan struct{} // closed and replaced on every change above
}

// GateTransport is what a Gate needs of a transport. Transport, codec's
// FrameTransport and process.Transport (a child's stdin) have it; with a
// Post method as well (a Poster), serialized with the callbacks and in order
// with the producer calls, Wait keeps the buffer within one Write of the
// high-water mark.
type GateTransport interface {
	io.Writer
	// RegisterProducer registers the Gate (Transport.RegisterProducer).
	RegisterProducer(p Producer)
	// Context is done when the connection is lost.
	Context() context.Context
}

// NewGate returns a Gate registered as t's Producer (replacing any other).
// It panics if t is nil.
func NewGate(t GateTransport) *Gate {
	if t == nil {
		panic("weft: NewGate: nil GateTransport")
	}
	g := &Gate{t: t, change: make(chan struct{})}
	if p, ok := t.(Poster); ok {
		g.post, g.markFn = p.Post, g.mark
	}
	t.RegisterProducer(g)
	return g
}

// Wait returns nil when the goroutine may write: no pause is pending for
// the writes it made so far, or the buffer has drained since. It returns
// ErrClosed once the connection is lost (StopProducing, or the Transport's
// Context done), and ctx's error if ctx is done first.
//
// Wait is for goroutines other than the connection's callbacks: called from
// a callback, it would wait for posted work that runs only after that
// callback returns, until the connection is lost or ctx ends. Callbacks
// write freely; their writes are flushed when they return.
func (g *Gate) Wait(ctx context.Context) error {
	g.mu.Lock()
	g.waits++
	want := g.waits
	g.mu.Unlock()
	if g.post != nil {
		// Posted work runs in order. At most want-1 markers were posted
		// before this Wait began, so the want-th marker to run was posted
		// after it, and after any pause the caller's earlier Writes queued:
		// by then that pause has been delivered. (Counting Waits, not
		// markers run, keeps this true for concurrent Waits.)
		g.post(g.markFn)
	}
	lost := g.t.Context().Done()
	for {
		g.mu.Lock()
		stopped, wait, change := g.stopped, g.paused || (g.post != nil && g.marks < want), g.change
		g.mu.Unlock()
		if stopped {
			return ErrClosed
		}
		if !wait {
			return nil
		}
		select {
		case <-change:
		case <-lost:
			// Posted work is dropped once the connection is lost.
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WriteRoomer is implemented by a transport that can tell how large a Write
// it takes now without failing; Gate.WriteAll cuts its pieces to fit. The
// runtime's Transport, codec's transports and process's stdin implement it.
type WriteRoomer interface {
	// WriteRoom returns the largest Write taken now (math.MaxInt when any
	// size is: a weft Transport's buffer is empty).
	WriteRoom() int
}

// GateRetry is how often WriteAll looks for room in a full buffer that did
// not pause it (see WriteAll).
const GateRetry = time.Millisecond

// room waits until r takes a Write of at least one byte and returns its size.
func (g *Gate) room(ctx context.Context, r WriteRoomer) (int, error) {
	for {
		if n := r.WriteRoom(); n > 0 {
			return n, nil
		}
		t := time.NewTimer(GateRetry)
		select {
		case <-t.C:
		case <-g.t.Context().Done():
			t.Stop()
			return 0, ErrClosed
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		}
	}
}

// GatePiece is the largest Write that WriteAll makes.
const GatePiece = 64 << 10

// WriteAll writes p to the transport in pieces of at most GatePiece bytes,
// each after Wait: however large p is, the buffer holds about the
// high-water mark of it. It returns the first error of Wait or Write; the
// pieces before it were written. On a transport that is a WriteRoomer, a
// piece is also cut to the room left, so that a MaxWriteBuffer below the
// low-water mark plus GatePiece is never passed. When there is no room and
// no pause (a transport that pauses its Producer only past the high-water
// mark, with MaxWriteBuffer equal to it and the buffer full; the runtime's
// Transport pauses it then too), WriteAll looks again every GateRetry until
// bytes have been sent.
func (g *Gate) WriteAll(ctx context.Context, p []byte) error {
	for len(p) > 0 {
		if err := g.Wait(ctx); err != nil {
			return err
		}
		n := min(GatePiece, len(p))
		if r, ok := g.t.(WriteRoomer); ok {
			room, err := g.room(ctx, r)
			if err != nil {
				return err
			}
			n = min(n, room)
		}
		if _, err := g.t.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// update changes the state under mu and wakes Wait.
func (g *Gate) update(f func()) {
	g.mu.Lock()
	f()
	close(g.change)
	g.change = make(chan struct{})
	g.mu.Unlock()
}

func (g *Gate) mark() { g.update(func() { g.marks++ }) }

// PauseProducing implements Producer: Wait holds the writer.
func (g *Gate) PauseProducing() { g.update(func() { g.paused = true }) }

// ResumeProducing implements Producer: Wait lets the writer go on.
func (g *Gate) ResumeProducing() { g.update(func() { g.paused = false }) }

// StopProducing implements Producer: Wait returns ErrClosed from now on.
func (g *Gate) StopProducing() { g.update(func() { g.stopped = true }) }
