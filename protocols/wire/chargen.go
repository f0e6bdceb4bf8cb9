package wire

import (
	"net"
	"sync"

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
// Each connection's protocol is a weft.Producer written to by its own
// goroutine: the transport pauses it past the write buffer's high-water mark
// and resumes it below the low-water mark, so a client that never reads
// costs about the high-water mark in buffer, never more. The zero value is
// ready to use.
type Chargen struct{}

// BuildProtocol implements weft.Factory.
func (c Chargen) BuildProtocol(net.Addr) weft.Protocol { return &chargen{} }

// chargen is a push producer: a goroutine writes full cycles of 95 lines
// while the transport does not pause it.
//
// The transport delivers PauseProducing as a callback, serialized with the
// others, so from this goroutine it arrives some time after the Write that
// crossed the high-water mark returned; a goroutine that kept writing until
// then overshot the mark by as many cycles as the scheduler let it run
// (up to 30 cycles, 200 KiB, under -race). So after each Write the goroutine
// posts a marker and waits for it: posted work runs in order, so when the
// marker has run, the pause that Write queued (if any) has been delivered.
// The buffer stays within one cycle of the mark.
type chargen struct {
	t     weft.Transport
	post  func(func()) // the transport's Post, or nil
	mark  func()       // the posted marker: p.marked
	cycle []byte       // one full cycle of 95 lines

	mu     sync.Mutex
	cond   sync.Cond
	paused bool
	done   bool
	marks  uint64 // markers run so far
}

func (p *chargen) ConnectionMade(t weft.Transport) {
	p.t = t
	p.cycle = ChargenPattern(chargenCount * (ChargenLineLength + 2))
	p.cond.L = &p.mu
	t.RegisterProducer(p)
	// Start writing once ConnectionMade has returned: a pause is delivered
	// serialized with the callbacks, so writes made while this callback
	// still runs would overshoot the high-water mark until it ends.
	if ps, ok := t.(interface{ Post(func()) }); ok {
		p.post, p.mark = ps.Post, p.marked
		ps.Post(func() { go p.run() })
	} else {
		go p.run()
	}
}

func (p *chargen) run() {
	for {
		p.mu.Lock()
		for p.paused && !p.done {
			p.cond.Wait()
		}
		done := p.done
		want := p.marks + 1
		p.mu.Unlock()
		if done {
			return
		}
		// Not under mu: the transport may call PauseProducing from Write.
		if _, err := p.t.Write(p.cycle); err != nil {
			p.stop()
			return
		}
		if p.post == nil {
			continue
		}
		p.post(p.mark)
		p.mu.Lock()
		// Posted work is dropped once the connection is lost; ConnectionLost
		// sets done.
		for p.marks < want && !p.done {
			p.cond.Wait()
		}
		p.mu.Unlock()
	}
}

// marked runs as a posted callback after the Write before it.
func (p *chargen) marked() {
	p.mu.Lock()
	p.marks++
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *chargen) set(paused, done bool) {
	p.mu.Lock()
	p.paused = paused
	p.done = p.done || done
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *chargen) stop() { p.set(true, true) }

func (p *chargen) PauseProducing()  { p.set(true, false) }
func (p *chargen) ResumeProducing() { p.set(false, false) }
func (p *chargen) StopProducing()   { p.stop() }

func (p *chargen) DataReceived([]byte)  {}
func (p *chargen) ConnectionLost(error) { p.stop() }
