package weft_test

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/weftkit/weft"
)

// fullProducer writes n bytes in ConnectionMade, optionally registering
// itself as the Producer before or after, and counts the producer calls.
type fullProducer struct {
	n             int
	registerAfter bool
	t             weft.Transport
	pauses        atomic.Int32
	resumes       atomic.Int32
	room          atomic.Int64
}

func (p *fullProducer) ConnectionMade(t weft.Transport) {
	p.t = t
	if !p.registerAfter {
		t.RegisterProducer(p)
	}
	_, _ = t.Write(bytes.Repeat([]byte("z"), p.n))
	if p.registerAfter {
		t.RegisterProducer(p)
	}
	p.room.Store(int64(t.(weft.WriteRoomer).WriteRoom()))
}
func (p *fullProducer) DataReceived([]byte)  {}
func (p *fullProducer) ConnectionLost(error) {}
func (p *fullProducer) PauseProducing()      { p.pauses.Add(1) }
func (p *fullProducer) ResumeProducing()     { p.resumes.Add(1) }
func (p *fullProducer) StopProducing()       {}

// TestProducerPausedWhenBufferFull: with MaxWriteBuffer equal to HighWater,
// a buffer filled to it can take no Write (WriteRoom 0) and never passes
// the high-water mark, so a Producer that was not paused there would never
// hear when there is room again. It is paused when the buffer is full, and
// resumed at the low-water mark, whether it registered before the write that
// filled the buffer or after it.
func TestProducerPausedWhenBufferFull(t *testing.T) {
	const high = 8 << 10
	for _, after := range []bool{false, true} {
		name := map[bool]string{false: "registered before", true: "registered after"}[after]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, c := net.Pipe()
				p := &fullProducer{n: high, registerAfter: after}
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = weft.Serve(s, p, &weft.Options{HighWater: high, LowWater: 1 << 10, MaxWriteBuffer: high})
				}()
				defer func() { c.Close(); <-done }()
				synctest.Wait()
				if r := p.room.Load(); r != 0 {
					t.Fatalf("WriteRoom = %d with the buffer full, want 0", r)
				}
				if got := p.pauses.Load(); got != 1 {
					t.Fatalf("PauseProducing called %d times with the buffer full at MaxWriteBuffer == HighWater, want 1", got)
				}
				if _, err := io.ReadFull(c, make([]byte, high)); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				if got := p.resumes.Load(); got != 1 {
					t.Fatalf("ResumeProducing called %d times after the buffer drained, want 1", got)
				}
			})
		})
	}
}
