package wire

import (
	"context"
	"net"

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
// (modulo 95), followed by "\r\n".
func ChargenPattern(n int) []byte {
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
// cycle of it), never more. The zero value is ready to use.
type Chargen struct{}

// BuildProtocol implements weft.Factory.
func (c Chargen) BuildProtocol(net.Addr) weft.Protocol { return &chargen{} }

// chargen writes full cycles of 95 lines from its own goroutine, each after
// the Gate lets it.
type chargen struct {
	gate *weft.Gate
}

func (p *chargen) ConnectionMade(t weft.Transport) {
	cycle := ChargenPattern(chargenCount * (ChargenLineLength + 2))
	p.gate = weft.NewGate(t)
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

// ConnectionLost ends the goroutine (the runtime's Transport also stops the
// Gate; another Transport may not).
func (p *chargen) ConnectionLost(error) {
	if p.gate != nil {
		p.gate.StopProducing()
	}
}
