package testenv

import (
	"context"
	"crypto/tls"
	"math"
	"net"
	"sync"

	"github.com/weftkit/weft"
)

// LateTransport is a weft.Transport whose posted work (Post) runs only when
// the test calls RunPosted, as if the connection's callbacks were busy
// elsewhere. Like the runtime, a Write that takes the buffer past High, or
// fills it to Max, queues the registered Producer's PauseProducing as posted
// work (once, until Drain, or Take down to Low), and a Write that takes a non-empty buffer past
// Max, when Max is set, fails with weft.ErrSlowConsumer. Ctx, when set, is
// its Context.
type LateTransport struct {
	// High, Low and Max are the buffer sizes, in bytes, described above: a
	// Write past High (or to Max) queues the Producer's pause, a Take down
	// to Low queues its resume, and a Write past Max (when Max is above 0)
	// fails.
	High, Low, Max int
	// NoFullPause models a transport that pauses its Producer only past
	// High, not when the buffer is full at Max (process's stdin, say): with
	// Max equal to High, nothing then tells when there is room again.
	NoFullPause bool
	// Ctx is what Context returns; nil means context.Background.
	Ctx context.Context

	mu       sync.Mutex
	buffered int
	writes   int
	producer weft.Producer
	pausing  bool // a pause is queued or delivered
	posted   []func()
}

var _ weft.Transport = (*LateTransport)(nil)

// Write implements weft.Transport (see LateTransport).
func (l *LateTransport) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Max > 0 && l.buffered > 0 && l.buffered+len(p) > l.Max {
		return 0, weft.ErrSlowConsumer
	}
	l.buffered += len(p)
	l.writes++
	full := l.Max > 0 && l.buffered >= l.Max && !l.NoFullPause
	if l.producer != nil && !l.pausing && (l.buffered > l.High || full) {
		l.pausing = true
		l.posted = append(l.posted, l.producer.PauseProducing)
	}
	return len(p), nil
}

// WriteBuffers implements weft.Transport: the buffers' Writes in turn.
func (l *LateTransport) WriteBuffers(bufs ...[]byte) error {
	for _, b := range bufs {
		if _, err := l.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// Post queues fn for RunPosted.
func (l *LateTransport) Post(fn func()) {
	l.mu.Lock()
	l.posted = append(l.posted, fn)
	l.mu.Unlock()
}

// RunPosted runs the work posted so far, in order.
func (l *LateTransport) RunPosted() {
	l.mu.Lock()
	fns := l.posted
	l.posted = nil
	l.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// RunNext runs the oldest posted work, if any, and reports whether it ran
// something.
func (l *LateTransport) RunNext() bool {
	l.mu.Lock()
	if len(l.posted) == 0 {
		l.mu.Unlock()
		return false
	}
	fn := l.posted[0]
	l.posted = l.posted[1:]
	l.mu.Unlock()
	fn()
	return true
}

// State returns the bytes buffered and the number of Writes so far.
func (l *LateTransport) State() (buffered, writes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buffered, l.writes
}

// Take removes n bytes from the buffer, as a partial send does; at or below
// Low it queues the paused Producer's ResumeProducing.
func (l *LateTransport) Take(n int) {
	l.mu.Lock()
	l.buffered = max(0, l.buffered-n)
	if l.pausing && l.buffered <= l.Low {
		l.pausing = false
		if l.producer != nil {
			l.posted = append(l.posted, l.producer.ResumeProducing)
		}
	}
	l.mu.Unlock()
}

// WriteRoom implements weft.WriteRoomer with the runtime's rule: any size
// into an empty buffer, else what is left below Max.
func (l *LateTransport) WriteRoom() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Max == 0 || l.buffered == 0 {
		return math.MaxInt
	}
	return max(0, l.Max-l.buffered)
}

// Drain empties the buffer and queues the Producer's ResumeProducing.
func (l *LateTransport) Drain() {
	l.mu.Lock()
	l.buffered = 0
	l.pausing = false
	if l.producer != nil {
		l.posted = append(l.posted, l.producer.ResumeProducing)
	}
	l.mu.Unlock()
}

// RegisterProducer implements weft.Transport.
func (l *LateTransport) RegisterProducer(p weft.Producer) {
	l.mu.Lock()
	l.producer = p
	l.mu.Unlock()
}

// UnregisterProducer implements weft.Transport.
func (l *LateTransport) UnregisterProducer() { l.RegisterProducer(nil) }

// Buffered implements weft.Transport.
func (l *LateTransport) Buffered() int {
	b, _ := l.State()
	return b
}

// Context implements weft.Transport: Ctx, or context.Background.
func (l *LateTransport) Context() context.Context {
	if l.Ctx != nil {
		return l.Ctx
	}
	return context.Background()
}

// The rest of weft.Transport does nothing.

// LoseConnection does nothing.
func (l *LateTransport) LoseConnection() {}

// Abort does nothing.
func (l *LateTransport) Abort() {}

// LocalAddr returns an empty address.
func (l *LateTransport) LocalAddr() net.Addr { return &net.TCPAddr{} }

// RemoteAddr returns an empty address.
func (l *LateTransport) RemoteAddr() net.Addr { return &net.TCPAddr{} }

// PauseReading does nothing.
func (l *LateTransport) PauseReading() {}

// ResumeReading does nothing.
func (l *LateTransport) ResumeReading() {}

// StartTLS returns weft.ErrNotSupported.
func (l *LateTransport) StartTLS(*tls.Config) error { return weft.ErrNotSupported }
