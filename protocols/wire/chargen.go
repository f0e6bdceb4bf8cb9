package wire

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/weftkit/weft"
)

const (
	// ChargenLineLength is the number of characters on a chargen line,
	// before its "\r\n".
	ChargenLineLength = 72
	// chargenFirst and chargenCount delimit the printable ASCII characters.
	chargenFirst = ' '
	chargenCount = 95
)

// ChargenPattern returns the first n bytes the chargen service sends: line i
// (from 0) holds the 72 printable characters starting at the i-th one
// (modulo 95), followed by "\r\n". It panics if n is negative (as
// bytes.Repeat does for a negative count).
func ChargenPattern(n int) []byte {
	if n < 0 {
		panic(fmt.Sprintf("wire: ChargenPattern: negative length %d", n))
	}
	out := make([]byte, 0, n+ChargenLineLength+2)
	for i := 0; len(out) < n; i++ {
		out = appendChargenLine(out, i%chargenCount)
	}
	return out[:n]
}

func appendChargenLine(dst []byte, start int) []byte {
	for j := range ChargenLineLength {
		dst = append(dst, byte(chargenFirst+(start+j)%chargenCount))
	}
	return append(dst, '\r', '\n')
}

// Chargen is the Factory of the character generator service (RFC 864): it
// sends 72-character lines rotating through the 95 printable ASCII
// characters, each terminated by "\r\n", for as long as the client reads.
// Whatever the client sends is discarded.
//
// Each connection's protocol writes from its own goroutine through a
// weft.Gate: the goroutine is held while the write buffer is above the
// high-water mark and goes on below the low-water mark, so a client that
// never reads costs about the high-water mark in buffer (within one 7 KB
// cycle of it), never more, and only until StallTimeout (by default a
// minute) has passed with the sending paused: then its connection is
// aborted. The zero value is ready to use.
type Chargen struct {
	// StallTimeout bounds how long a client that does not read can hold
	// its connection (see DefaultStallTimeout). Zero means
	// DefaultStallTimeout; negative means none: such a client holds its
	// connection until the runtime's IdleTimeout, forever without one.
	StallTimeout time.Duration
}

// DefaultStallTimeout is Chargen.StallTimeout when zero: the connection is
// aborted (weft.ErrAborted) when the sending stays paused this long, from
// the moment the write buffer passes its high-water mark until it has
// drained to the low-water mark. A client that reads must so take, within
// that time, what the buffer holds above the low-water mark: up to the
// high-water mark plus one 7 KB cycle, less LowWater (about 55 KB a minute
// by default, 0.9 KB a second, less what its socket buffers hold; over a
// connection whose Write returns only once the peer has read all of it,
// such as net.Pipe, the whole buffer, about 70 KB).
const DefaultStallTimeout = time.Minute

// IgnoresAddr implements weft.AddrIgnorer: BuildProtocol does not use its
// address, so a server may pass nil.
func (Chargen) IgnoresAddr() bool { return true }

// BuildProtocol implements weft.Factory.
func (c Chargen) BuildProtocol(net.Addr) weft.Protocol {
	stall := c.StallTimeout
	if stall == 0 {
		stall = DefaultStallTimeout
	}
	return &chargen{stall: stall}
}

// chargen writes full cycles of 95 lines from its own goroutine, each after
// the Gate lets it. With a stall timeout it is the Transport's Producer, in
// front of the Gate, to which it passes the calls: paused for stall, it
// aborts the connection.
type chargen struct {
	gate  *weft.Gate
	stall time.Duration // <= 0: none

	mu    sync.Mutex
	t     weft.Transport
	timer *time.Timer // armed while paused
	lost  bool
}

func (p *chargen) ConnectionMade(t weft.Transport) {
	cycle := ChargenPattern(chargenCount * (ChargenLineLength + 2))
	p.t = t
	p.gate = weft.NewGate(t)
	if p.stall > 0 {
		t.RegisterProducer(p) // in front of the Gate, to watch the pauses
	}
	// The first Wait returns once this callback has returned: writes made
	// while it still ran would be flushed only at its end.
	go func() {
		for p.gate.Wait(context.Background()) == nil {
			if _, err := t.Write(cycle); err != nil {
				return
			}
		}
	}()
}

func (p *chargen) DataReceived([]byte) {}

// PauseProducing implements weft.Producer: the Gate holds the writer, and
// the stall timer runs.
func (p *chargen) PauseProducing() {
	p.mu.Lock()
	if p.timer == nil && !p.lost {
		p.timer = time.AfterFunc(p.stall, p.t.Abort)
	}
	p.mu.Unlock()
	p.gate.PauseProducing()
}

// ResumeProducing implements weft.Producer: the stall timer stops, the Gate
// lets the writer go on.
func (p *chargen) ResumeProducing() {
	p.stopTimer(false)
	p.gate.ResumeProducing()
}

// StopProducing implements weft.Producer: the connection is lost.
func (p *chargen) StopProducing() { p.ConnectionLost(nil) }

// ConnectionLost ends the goroutine (the runtime's Transport also stops the
// Gate; another Transport may not) and the stall timer.
func (p *chargen) ConnectionLost(error) {
	if p.gate != nil {
		p.gate.StopProducing()
	}
	p.stopTimer(true)
}

// stopTimer stops the stall timer; lost: for good.
func (p *chargen) stopTimer(lost bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lost = p.lost || lost
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}
