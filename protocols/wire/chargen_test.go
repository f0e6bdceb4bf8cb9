package wire_test

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/wire"
)

// lazyTransport is a Transport whose posted work runs only when the test
// says so, like a runtime whose callback goroutine is busy elsewhere. Like
// the runtime, a Write that takes the buffer past high queues the
// producer's pause as posted work instead of calling it; writes past max
// fail, as MaxWriteBuffer does.
type lazyTransport struct {
	high, max int

	mu       sync.Mutex
	buffered int
	writes   int
	producer weft.Producer
	pausing  bool // a pause is queued or delivered
	posted   []func()
}

func (l *lazyTransport) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buffered+len(p) > l.max {
		return 0, weft.ErrSlowConsumer
	}
	l.buffered += len(p)
	l.writes++
	if l.producer != nil && !l.pausing && l.buffered > l.high {
		l.pausing = true
		l.posted = append(l.posted, l.producer.PauseProducing)
	}
	return len(p), nil
}

func (l *lazyTransport) WriteBuffers(bufs ...[]byte) error {
	for _, b := range bufs {
		if _, err := l.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func (l *lazyTransport) Post(fn func()) {
	l.mu.Lock()
	l.posted = append(l.posted, fn)
	l.mu.Unlock()
}

// runPosted runs the work posted so far, in order.
func (l *lazyTransport) runPosted() {
	l.mu.Lock()
	fns := l.posted
	l.posted = nil
	l.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

func (l *lazyTransport) state() (buffered, writes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buffered, l.writes
}

// drain empties the buffer and queues the producer's resume.
func (l *lazyTransport) drain() {
	l.mu.Lock()
	l.buffered = 0
	l.pausing = false
	l.posted = append(l.posted, l.producer.ResumeProducing)
	l.mu.Unlock()
}

func (l *lazyTransport) RegisterProducer(p weft.Producer) {
	l.mu.Lock()
	l.producer = p
	l.mu.Unlock()
}

func (l *lazyTransport) UnregisterProducer()        { l.RegisterProducer(nil) }
func (l *lazyTransport) LoseConnection()            {}
func (l *lazyTransport) Abort()                     {}
func (l *lazyTransport) LocalAddr() net.Addr        { return &net.TCPAddr{} }
func (l *lazyTransport) RemoteAddr() net.Addr       { return &net.TCPAddr{} }
func (l *lazyTransport) PauseReading()              {}
func (l *lazyTransport) ResumeReading()             {}
func (l *lazyTransport) Buffered() int              { b, _ := l.state(); return b }
func (l *lazyTransport) Context() context.Context   { return context.Background() }
func (l *lazyTransport) StartTLS(*tls.Config) error { return weft.ErrNotSupported }

// TestChargenWaitsForPause: the transport's pause arrives as posted work,
// late. Chargen's goroutine must not write past the Write that crossed the
// high-water mark before that work has run; before the fix it kept writing
// until the transport refused (30 cycles past the mark under -race in
// TestChargenBoundedMemory). It resumes on ResumeProducing and its
// goroutine ends with the connection, even while it waits for posted work
// that will never run.
func TestChargenWaitsForPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cycle = 95 * 74
		tr := &lazyTransport{high: 4 * cycle, max: 100 * cycle}
		p := wire.Chargen{}.BuildProtocol(nil)
		p.ConnectionMade(tr)
		// The first posted work starts the goroutine; then, while nothing
		// else runs posted work, it may write at most one cycle past high.
		for range 20 {
			tr.runPosted()
			synctest.Wait()
			if b, _ := tr.state(); b > tr.high+cycle {
				t.Fatalf("%d bytes buffered with the pause still queued; want at most high+one cycle = %d", b, tr.high+cycle)
			}
		}
		b, w := tr.state()
		if b <= tr.high {
			t.Fatalf("stopped at %d bytes, below the high-water mark %d", b, tr.high)
		}
		// Paused: posted work runs, nothing more is written.
		tr.runPosted()
		synctest.Wait()
		if _, w2 := tr.state(); w2 != w {
			t.Fatalf("%d writes while paused", w2-w)
		}
		tr.drain()
		tr.runPosted()
		synctest.Wait()
		if _, w2 := tr.state(); w2 != w+1 {
			t.Fatalf("after ResumeProducing: %d writes, want 1 (then a wait for posted work)", w2-w)
		}
		// Lost while waiting for a marker that never runs: the goroutine
		// must end (synctest.Test fails on a goroutine left blocked).
		p.ConnectionLost(nil)
	})
}
