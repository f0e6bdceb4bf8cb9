package weft_test

import (
	"fmt"
	"io"
	"net"

	"github.com/weftkit/weft"
)

// chunkPump is a Protocol that is its own Producer: it streams size bytes in
// chunks, one chunk per turn. A Twisted push producer's loop
// (while not paused: write) would never see the pause here: PauseProducing
// is a callback, delivered only after the running callback returns, so the
// loop would fill the buffer up to MaxWriteBuffer and be dropped with
// ErrSlowConsumer. Instead each turn writes one chunk and posts the next:
// posted work runs after the pause that an earlier Write queued. Only one
// turn is ever posted: the runtime may call PauseProducing then
// ResumeProducing at once (the buffer drained before the pause was told),
// and a ResumeProducing that started a second chain of turns would write
// two chunks a round.
type chunkPump struct {
	t          weft.Transport
	post       func(func())
	left       int
	paused     bool
	queued     bool // a turn is posted and has not run yet
	maxBuf     int
	firstPause chan struct{}
}

const pumpChunk = 16 << 10

func (p *chunkPump) ConnectionMade(t weft.Transport) {
	p.t = t
	p.post = t.(weft.Poster).Post // not part of Transport
	t.RegisterProducer(p)
	p.produce()
}

func (p *chunkPump) produce() {
	p.queued = false
	if p.paused || p.left == 0 {
		return
	}
	n := min(pumpChunk, p.left)
	p.t.Write(make([]byte, n))
	p.left -= n
	p.maxBuf = max(p.maxBuf, p.t.Buffered())
	if p.left == 0 {
		p.t.UnregisterProducer()
		p.t.LoseConnection() // after the output is flushed
		return
	}
	p.queued = true
	p.post(p.produce) // the next chunk, after any pause just queued
}

func (p *chunkPump) PauseProducing() {
	if !p.paused && p.firstPause != nil {
		close(p.firstPause)
		p.firstPause = nil
	}
	p.paused = true
}

func (p *chunkPump) ResumeProducing() {
	p.paused = false
	if !p.queued { // else the posted turn goes on
		p.produce()
	}
}

func (p *chunkPump) StopProducing()       {}
func (p *chunkPump) DataReceived([]byte)  {}
func (p *chunkPump) ConnectionLost(error) {}

// A Protocol that streams a large body under flow control, as its own
// Producer, writing one chunk per turn (Twisted's push producer).
func ExampleProducer() {
	server, client := net.Pipe()
	p := &chunkPump{left: 4 << 20, firstPause: make(chan struct{})}
	paused := p.firstPause
	done := make(chan error, 1)
	go func() { done <- weft.Serve(server, p, nil) }()

	select {
	case <-paused: // the client has read nothing yet: the producer was paused
	case err := <-done:
		fmt.Println("lost before any pause:", err) // a loop in one callback: ErrSlowConsumer
		return
	}
	n, _ := io.Copy(io.Discard, client)
	fmt.Println("received:", n)
	fmt.Println("ConnectionLost reason:", <-done)
	fmt.Println("buffer stayed near HighWater:", p.maxBuf <= weft.DefaultHighWater+pumpChunk)
	// Output:
	// received: 4194304
	// ConnectionLost reason: <nil>
	// buffer stayed near HighWater: true
}
