// Package poetry is the poetry service of Dave Peticolas's Twisted
// introduction, on the weft toolkit.
//
// The pieces:
//
//   - Server: a weft.Factory that sends a poem to each client and closes
//     the connection, either at once or slowly (Chunk bytes every Delay),
//     with a timer instead of a sleeping goroutine. Either way it goes at
//     the client's pace (the sender is the Transport's Producer), and a
//     client that does not read is dropped after StallTimeout.
//   - Client and GetPoetry: download poems from many servers at once, report
//     progress, and return each poem or the error of each server.
package poetry

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/weftkit/weft"
)

// ErrConfig reports an invalid Server or Client field.
var ErrConfig = errors.New("poetry: invalid configuration")

// Server sends Poem to every client, then closes the connection. What the
// client sends is ignored.
type Server struct {
	// Poem is the text sent. Empty means the client is closed at once. Sent
	// at once, a poem of more than 64 KiB goes out in 64 KiB pieces, each
	// when the client has taken enough of the ones before (weft.Gate): a
	// slow client costs about the write buffer's high-water mark, whatever
	// the poem's size.
	Poem []byte
	// Chunk is the number of bytes sent every Delay. Zero (or a zero Delay)
	// means the whole poem is sent at once. While the write buffer is above
	// its high-water mark (the client reads slower) the chunks that come due
	// wait; the sending goes on when it has drained to the low-water mark.
	// A chunk is cut to the room left below MaxWriteBuffer.
	Chunk int
	// Delay is the pause between two chunks. Zero means no pause: the whole
	// poem is sent at once.
	Delay time.Duration
	// StallTimeout bounds how long a client that does not read can hold
	// its connection (see DefaultStallTimeout). Zero means
	// DefaultStallTimeout; negative means none: such a client holds its
	// connection until the runtime's IdleTimeout, forever without one.
	StallTimeout time.Duration
}

// DefaultStallTimeout is Server.StallTimeout when zero: the connection is
// aborted (weft.ErrAborted) when the sending stays paused this long: from
// the moment the write buffer passes its high-water mark until it has
// drained to the low-water mark (so a client that reads must take, in that
// time, what the buffer holds above the low-water mark: up to the
// high-water mark plus one Chunk, or one 64 KiB piece of a poem sent at
// once, less LowWater; 48 to 112 KiB a minute by default, about 0.8 to 1.9
// KB a second, less what its socket buffers hold), or when the last
// of the poem, written, is not all sent this long after. A poem is closed
// as soon as the kernel has taken it, so only a client that leaves unread
// more than its socket buffers hold meets the second bound.
const DefaultStallTimeout = time.Minute

// Validate reports the first invalid field, naming it (ErrConfig for a nil
// *Server, which BuildProtocol then refuses too).
func (s *Server) Validate() error {
	switch {
	case s == nil:
		return fmt.Errorf("%w: nil *Server", ErrConfig)
	case s.Chunk < 0:
		return fmt.Errorf("%w: Server.Chunk %d is negative", ErrConfig, s.Chunk)
	case s.Delay < 0:
		return fmt.Errorf("%w: Server.Delay %v is negative", ErrConfig, s.Delay)
	}
	return nil
}

// IgnoresAddr implements weft.AddrIgnorer: BuildProtocol does not use its
// address, so a server may pass nil.
func (*Server) IgnoresAddr() bool { return true }

// BuildProtocol implements weft.Factory. An invalid Server refuses every
// connection (call Validate first).
func (s *Server) BuildProtocol(net.Addr) weft.Protocol {
	if s.Validate() != nil {
		return nil
	}
	stall := s.StallTimeout
	if stall == 0 {
		stall = DefaultStallTimeout
	}
	return &sender{poem: s.Poem, chunk: s.Chunk, delay: s.Delay, stall: stall}
}

// sender sends the poem; in slow mode a timer sends the next chunk. It is
// the Transport's Producer: in slow mode, while the write buffer is above
// its high-water mark (the client does not read as fast as the poem is
// sent) the due chunks wait, and the sending goes on when the buffer has
// drained to the low-water mark; a big poem sent at once is held by a
// weft.Gate, to which it passes the calls. Paused for stall, or closing
// for stall with output unsent, it aborts the connection.
type sender struct {
	poem  []byte
	chunk int
	delay time.Duration
	stall time.Duration // <= 0: none
	gate  *weft.Gate    // a big poem sent at once: the writer's Gate

	mu         sync.Mutex
	t          weft.Transport
	timer      *time.Timer
	stallTimer *time.Timer // armed while paused, and once closing
	lost       bool
	closing    bool // LoseConnection was called
	paused     bool // PauseProducing: write nothing until ResumeProducing
	waiting    bool // a chunk came due while paused: ResumeProducing sends it
}

// bigPoem is the size past which a poem sent at once goes out in pieces
// from a goroutine held by a weft.Gate (Gate.WriteAll), so that a connection
// buffers about the high-water mark of it, not a copy of the whole poem.
const bigPoem = weft.GatePiece

func (p *sender) ConnectionMade(t weft.Transport) {
	p.t = t
	if p.chunk <= 0 || p.delay <= 0 || len(p.poem) <= p.chunk {
		if len(p.poem) <= bigPoem {
			_, _ = t.Write(p.poem)
			p.close()
			return
		}
		p.gate = weft.NewGate(t)
		t.RegisterProducer(p) // in front of the Gate, to watch the pauses
		go func() {
			if p.gate.WriteAll(t.Context(), p.poem) == nil {
				p.close()
			}
		}()
		return
	}
	t.RegisterProducer(p)
	p.next()
}

// close closes the connection once the poem is written, and gives the
// client stall to take the rest.
func (p *sender) close() {
	p.t.LoseConnection()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closing = true
	p.armStallLocked()
}

// armStallLocked starts the stall timer unless it runs; called with p.mu.
func (p *sender) armStallLocked() {
	if p.stall > 0 && p.stallTimer == nil && !p.lost {
		p.stallTimer = time.AfterFunc(p.stall, p.t.Abort)
	}
}

// next sends one chunk and arms the timer for the following one; while
// the sender is paused it only notes that a chunk is due. One next runs at
// a time: the timer is armed again only at its end, or by ResumeProducing
// when a due chunk waits (and then no timer is pending). The Write is made
// without p.mu: called outside the callbacks, it may run the Producer
// calls it causes at once.
func (p *sender) next() {
	p.mu.Lock()
	if p.lost {
		p.mu.Unlock()
		return
	}
	if p.paused {
		p.waiting = true
		p.mu.Unlock()
		return
	}
	n := min(p.chunk, len(p.poem))
	if r, ok := p.t.(weft.WriteRoomer); ok {
		// A chunk larger than the room left below MaxWriteBuffer would
		// close the connection as a slow consumer: send what fits now.
		n = min(n, r.WriteRoom())
	}
	chunk := p.poem[:n]
	p.poem = p.poem[n:]
	last := len(p.poem) == 0
	p.mu.Unlock()
	if n > 0 {
		if _, err := p.t.Write(chunk); err != nil {
			return
		}
	}
	if last {
		p.close()
		return
	}
	p.mu.Lock()
	if !p.lost {
		p.timer = time.AfterFunc(p.delay, p.next)
	}
	p.mu.Unlock()
}

// PauseProducing implements weft.Producer: the write buffer is above its
// high-water mark, the chunks that come due wait (or the Gate holds the
// writer), and the stall timer runs.
func (p *sender) PauseProducing() {
	p.mu.Lock()
	p.paused = true
	p.armStallLocked()
	p.mu.Unlock()
	if p.gate != nil {
		p.gate.PauseProducing()
	}
}

// ResumeProducing implements weft.Producer: the buffer has drained, the
// stall timer stops (unless closing), a chunk that came due meanwhile is
// sent now (from the timer's goroutine: this call may come from inside
// next's Write), or the Gate lets the writer go on.
func (p *sender) ResumeProducing() {
	p.mu.Lock()
	p.paused = false
	if p.stallTimer != nil && !p.closing {
		p.stallTimer.Stop()
		p.stallTimer = nil
	}
	if p.waiting && !p.lost {
		p.waiting = false
		p.timer = time.AfterFunc(0, p.next)
	}
	p.mu.Unlock()
	if p.gate != nil {
		p.gate.ResumeProducing()
	}
}

// StopProducing implements weft.Producer: the connection is lost.
func (p *sender) StopProducing() {
	if p.gate != nil {
		p.gate.StopProducing()
	}
	p.ConnectionLost(nil)
}

func (p *sender) DataReceived([]byte) {}

func (p *sender) ConnectionLost(error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lost = true
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.stallTimer != nil {
		p.stallTimer.Stop()
	}
}
