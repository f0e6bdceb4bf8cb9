// Package poetry is the poetry service of Dave Peticolas's Twisted
// introduction, on the weft toolkit.
//
// The pieces:
//
//   - Server: a weft.Factory that sends a poem to each client and closes
//     the connection, either at once or slowly (Chunk bytes every Delay),
//     with a timer instead of a sleeping goroutine.
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
	// means the whole poem is sent at once.
	Chunk int
	// Delay is the pause between two chunks. Zero means no pause: the whole
	// poem is sent at once.
	Delay time.Duration
}

// Validate reports the first invalid field, naming it.
func (s *Server) Validate() error {
	switch {
	case s.Chunk < 0:
		return fmt.Errorf("%w: Server.Chunk %d is negative", ErrConfig, s.Chunk)
	case s.Delay < 0:
		return fmt.Errorf("%w: Server.Delay %v is negative", ErrConfig, s.Delay)
	}
	return nil
}

// BuildProtocol implements weft.Factory. An invalid Server refuses every
// connection (call Validate first).
func (s *Server) BuildProtocol(net.Addr) weft.Protocol {
	if s.Validate() != nil {
		return nil
	}
	return &sender{poem: s.Poem, chunk: s.Chunk, delay: s.Delay}
}

// sender sends the poem; in slow mode a timer sends the next chunk.
type sender struct {
	poem  []byte
	chunk int
	delay time.Duration

	mu    sync.Mutex
	t     weft.Transport
	timer *time.Timer
	lost  bool
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
			t.LoseConnection()
			return
		}
		gate := weft.NewGate(t)
		go func() {
			if gate.WriteAll(t.Context(), p.poem) == nil {
				t.LoseConnection()
			}
		}()
		return
	}
	p.next()
}

// next sends one chunk and arms the timer for the following one.
func (p *sender) next() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lost {
		return
	}
	n := min(p.chunk, len(p.poem))
	if _, err := p.t.Write(p.poem[:n]); err != nil {
		return
	}
	p.poem = p.poem[n:]
	if len(p.poem) == 0 {
		p.t.LoseConnection()
		return
	}
	p.timer = time.AfterFunc(p.delay, p.next)
}

func (p *sender) DataReceived([]byte) {}

func (p *sender) ConnectionLost(error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lost = true
	if p.timer != nil {
		p.timer.Stop()
	}
}
