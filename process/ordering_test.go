package process

import (
	"bufio"
	"context"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStreamPostAfterConnectionLostDropped: the Stream's Transport has the
// runtime's Post, which drops work posted once the connection is lost:
// nothing runs serialized with the Protocol after its ConnectionLost.
func TestStreamPostAfterConnectionLostDropped(t *testing.T) {
	lp := &lineProtocol{split: bufio.ScanLines}
	p, err := Start(context.Background(), exec.Command(lookPath(t, "true")), NewStream(lp), nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	_ = waitBounded(t, p)
	var ran atomic.Bool
	lp.t.(interface{ Post(func()) }).Post(func() { ran.Store(true) })
	p.ser.waitIdle() // a function queued by the Post above would have run by now
	if ran.Load() {
		t.Errorf("a function posted through the Stream's Transport after ConnectionLost ran")
	}
}

// queued waits (bounded) until n functions wait in p's serializer.
func queued(t *testing.T, p *Process, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.ser.mu.Lock()
		k := len(p.ser.q)
		p.ser.mu.Unlock()
		if k >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d functions queued after 10s, want %d", k, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPauseHoldsDataAlreadyRead: data a reader has already read when the
// protocol pauses (here from a callback, while the reader waits to deliver)
// is held until ResumeReading, as the runtime's PauseReading does: no
// ChildDataReceived, and so no DataReceived for a Stream, after PauseReading.
func TestPauseHoldsDataAlreadyRead(t *testing.T) {
	r := newRecorder(t)
	p, err := Start(context.Background(), exec.Command(lookPath(t, "cat")), r, &Options{ChildFDs: map[int]Direction{0: Write, 1: Read}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	paused := make(chan string, 1)
	p.Post(func() {
		if _, err := p.Write([]byte("x\n")); err != nil {
			t.Errorf("Write: %v", err)
		}
		queued(t, p, 1) // cat echoed it: the reader waits to deliver it
		p.PauseReading()
		p.Post(func() { paused <- r.out(1) })
	})
	if got := <-paused; got != "" {
		t.Errorf("delivered %q after PauseReading", got)
	}
	p.ResumeReading()
	_ = p.CloseStdin()
	if err := waitBounded(t, p); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if r.out(1) != "x\n" {
		t.Errorf("stdout %q, want %q", r.out(1), "x\n")
	}
	r.checkOrder(0, 1)
}

// countingProducer counts its calls (serialized with the callbacks).
type countingProducer struct{ pauses, resumes, stops int }

func (p *countingProducer) PauseProducing()  { p.pauses++ }
func (p *countingProducer) ResumeProducing() { p.resumes++ }
func (p *countingProducer) StopProducing()   { p.stops++ }

// TestRegisterProducerAfterStdinClosed: a producer registered once stdin has
// closed is stopped at once (StopProducing is called when stdin closes; the
// runtime stops a producer registered after the connection ended), not kept
// forever.
func TestRegisterProducerAfterStdinClosed(t *testing.T) {
	r := newRecorder(t)
	p, err := Start(context.Background(), exec.Command(lookPath(t, "true")), r, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	_ = waitBounded(t, p) // stdin closed when the child was reaped
	prod := &countingProducer{}
	p.RegisterProducer(prod)
	// RegisterProducer queued the StopProducing (the Process's own work,
	// which runs after ProcessEnded too; work the user posts now would be
	// dropped): wait for it.
	p.ser.waitIdle()
	if n := prod.stops; n != 1 {
		t.Errorf("producer registered after stdin closed: StopProducing called %d times, want 1", n)
	}
}

// fakeTransport is a process Transport that queues posted functions until
// runPosted and records PauseReading and ResumeReading; beforeResume runs
// when ResumeReading is entered, before it takes effect. Other methods are
// not implemented.
type fakeTransport struct {
	Transport
	mu           sync.Mutex
	posted       []func()
	paused       bool
	beforeResume func()
}

func (f *fakeTransport) Post(fn func()) { f.mu.Lock(); f.posted = append(f.posted, fn); f.mu.Unlock() }
func (f *fakeTransport) PauseReading()  { f.mu.Lock(); f.paused = true; f.mu.Unlock() }
func (f *fakeTransport) ResumeReading() {
	if fn := f.beforeResume; fn != nil {
		f.beforeResume = nil
		fn()
	}
	f.mu.Lock()
	f.paused = false
	f.mu.Unlock()
}
func (f *fakeTransport) runPosted() {
	for {
		f.mu.Lock()
		fns := f.posted
		f.posted = nil
		f.mu.Unlock()
		if len(fns) == 0 {
			return
		}
		for _, fn := range fns {
			fn()
		}
	}
}

// TestStreamPauseAfterResumeStaysPaused: a goroutine calls ResumeReading,
// then PauseReading on a Stream's Transport. The resume is carried out by a
// posted function, and the PauseReading may come between its check and its
// call to the process's ResumeReading; the process must end up paused (the
// caller's last word), else DataReceived would follow PauseReading.
func TestStreamPauseAfterResumeStaysPaused(t *testing.T) {
	f := &fakeTransport{}
	lp := &lineProtocol{split: bufio.ScanLines}
	s := NewStream(lp)
	s.ConnectionMade(f)
	lp.t.PauseReading()
	lp.t.ResumeReading()
	f.beforeResume = lp.t.PauseReading // the goroutine's next call
	f.runPosted()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.paused {
		t.Errorf("process reading after ResumeReading then PauseReading")
	}
}
