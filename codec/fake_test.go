package codec_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"sync"

	"github.com/weftkit/weft/codec"

	"github.com/weftkit/weft"
)

// fakeTransport records what a protocol does to its transport.
type fakeTransport struct {
	mu      sync.Mutex
	out     bytes.Buffer
	lost    bool // LoseConnection called
	aborted bool
	paused  bool
	posted  []func()
}

var _ weft.Transport = (*fakeTransport)(nil)

func (f *fakeTransport) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lost || f.aborted {
		return 0, weft.ErrClosed
	}
	return f.out.Write(p)
}
func (f *fakeTransport) WriteBuffers(bufs ...[]byte) error {
	for _, b := range bufs {
		if _, err := f.Write(b); err != nil {
			return err
		}
	}
	return nil
}
func (f *fakeTransport) LoseConnection()                { f.mu.Lock(); f.lost = true; f.mu.Unlock() }
func (f *fakeTransport) Abort()                         { f.mu.Lock(); f.aborted = true; f.mu.Unlock() }
func (f *fakeTransport) LocalAddr() net.Addr            { return &net.TCPAddr{} }
func (f *fakeTransport) RemoteAddr() net.Addr           { return &net.TCPAddr{} }
func (f *fakeTransport) PauseReading()                  { f.mu.Lock(); f.paused = true; f.mu.Unlock() }
func (f *fakeTransport) ResumeReading()                 { f.mu.Lock(); f.paused = false; f.mu.Unlock() }
func (f *fakeTransport) RegisterProducer(weft.Producer) {}
func (f *fakeTransport) UnregisterProducer()            {}
func (f *fakeTransport) Buffered() int                  { return 0 }
func (f *fakeTransport) Context() context.Context       { return context.Background() }
func (f *fakeTransport) StartTLS(*tls.Config) error     { return weft.ErrNotSupported }
func (f *fakeTransport) written() string                { f.mu.Lock(); defer f.mu.Unlock(); return f.out.String() }

// postTransport also runs functions posted to it when runPosted is called,
// like the runtime's Conn.Post.
type postTransport struct{ fakeTransport }

func (p *postTransport) Post(fn func()) { p.mu.Lock(); p.posted = append(p.posted, fn); p.mu.Unlock() }
func (p *postTransport) runPosted() {
	p.mu.Lock()
	fns := p.posted
	p.posted = nil
	p.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// recorder is a FrameHandler that records frames and can run a hook.
type recorder struct {
	tr     codec.FrameTransport
	frames []string
	reason error
	ended  bool
	hook   func(r *recorder, frame []byte)
}

func (r *recorder) ConnectionMade(t codec.FrameTransport) { r.tr = t }
func (r *recorder) FrameReceived(f []byte) {
	r.frames = append(r.frames, string(f))
	if r.hook != nil {
		r.hook(r, f)
	}
}
func (r *recorder) ConnectionLost(err error) { r.reason, r.ended = err, true }

// compositions calls fn with every split of s into chunks when s is at most
// maxExhaustive bytes, else with every split into at most three chunks and
// with one-byte reads.
func compositions(s []byte, maxExhaustive int, fn func([][]byte)) {
	n := len(s)
	if n == 0 {
		fn(nil)
		return
	}
	if n <= maxExhaustive {
		for mask := 0; mask < 1<<(n-1); mask++ {
			var chunks [][]byte
			start := 0
			for i := 1; i < n; i++ {
				if mask&(1<<(i-1)) != 0 {
					chunks = append(chunks, s[start:i])
					start = i
				}
			}
			fn(append(chunks, s[start:]))
		}
		return
	}
	for i := 0; i <= n; i++ {
		for j := i; j <= n; j++ {
			fn([][]byte{s[:i], s[i:j], s[j:]})
		}
	}
	var bytewise [][]byte
	for i := range s {
		bytewise = append(bytewise, s[i:i+1])
	}
	fn(bytewise)
}

// racingTransport is a postTransport whose reader runs the moment it is
// resumed: onResume delivers what a runtime's reader, on its own goroutine,
// may deliver right after ResumeReading and before anything the resuming
// goroutine does next.
type racingTransport struct {
	postTransport
	onResume func()
}

func (r *racingTransport) ResumeReading() {
	r.postTransport.ResumeReading()
	if fn := r.onResume; fn != nil {
		r.onResume = nil
		fn()
	}
}

// lateResumeTransport is a postTransport on which beforeResume runs when
// ResumeReading is entered, before it takes effect: what another goroutine
// does while the posted function that resumes the transport is between its
// check and its call.
type lateResumeTransport struct {
	postTransport
	beforeResume func()
}

func (l *lateResumeTransport) ResumeReading() {
	if fn := l.beforeResume; fn != nil {
		l.beforeResume = nil
		fn()
	}
	l.postTransport.ResumeReading()
}

func (l *lateResumeTransport) isPaused() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.paused }
