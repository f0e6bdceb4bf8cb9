package process

import (
	"context"
	"os/exec"
	"slices"
	"sync"
	"testing"

	"github.com/weftkit/weft"
)

// postEndRec is a ProcessProtocol that posts work from ProcessExited and
// ProcessEnded, and records what ran.
type postEndRec struct {
	Base
	tr Transport

	mu     sync.Mutex
	events []string
}

func (p *postEndRec) add(e string) { p.mu.Lock(); p.events = append(p.events, e); p.mu.Unlock() }
func (p *postEndRec) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

func (p *postEndRec) ConnectionMade(t Transport) {
	p.tr = t
	p.tr.Post(func() { p.add("posted from ConnectionMade") })
}

func (p *postEndRec) ProcessExited(error) {
	p.add("exited")
	// With no descriptor left open, ProcessEnded follows in the same turn:
	// this work is still waiting when ProcessEnded is called.
	p.tr.Post(func() { p.add("posted from ProcessExited") })
}

func (p *postEndRec) ProcessEnded(error) {
	p.add("ended")
	p.tr.Post(func() { p.add("posted from ProcessEnded") })
}

// TestProcessPostAfterEnded: Process.Post follows the runtime's Post
// (weft.Conn.Post after ConnectionLost): fn never runs after ProcessEnded.
// Work still waiting when ProcessEnded is called is dropped then, and work
// posted from ProcessEnded itself or later is dropped at once, so that
// nothing runs serialized with a protocol after its last callback. Before
// the fix each posted function ran after ProcessEnded, on a goroutine of
// the serializer's.
func TestProcessPostAfterEnded(t *testing.T) {
	p := &postEndRec{}
	pr, err := Start(context.Background(), exec.Command(lookPath(t, "true")), p, &Options{ChildFDs: map[int]Direction{}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	_ = waitBounded(t, pr)
	pr.Post(func() { p.add("posted after Wait") })
	pr.ser.waitIdle() // a queued function would have run by now
	want := []string{"posted from ConnectionMade", "exited", "ended"}
	if got := p.got(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	pr.ser.mu.Lock()
	n := len(pr.ser.q)
	pr.ser.mu.Unlock()
	if n != 0 {
		t.Errorf("%d functions left queued after ProcessEnded", n)
	}
}

// streamPostRec is a weft.Protocol whose ConnectionLost posts work through
// its Transport, as the runtime's Post allows and drops.
type streamPostRec struct {
	t      weft.Transport
	mu     sync.Mutex
	events []string
}

func (p *streamPostRec) add(e string) { p.mu.Lock(); p.events = append(p.events, e); p.mu.Unlock() }
func (p *streamPostRec) ConnectionMade(t weft.Transport) {
	p.t = t
	t.(weft.Poster).Post(func() { p.add("posted from ConnectionMade") })
}
func (p *streamPostRec) DataReceived([]byte) {}
func (p *streamPostRec) ConnectionLost(error) {
	p.add("lost")
	p.t.(weft.Poster).Post(func() { p.add("posted from ConnectionLost") })
}

// TestStreamPostAfterConnectionLost: the Stream's Post agrees with the
// Process's and the runtime's: work posted from ConnectionLost, or after
// it, never runs, and the Process keeps none of it queued.
func TestStreamPostAfterConnectionLost(t *testing.T) {
	p := &streamPostRec{}
	pr, err := Start(context.Background(), exec.Command(lookPath(t, "true")), NewStream(p), nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	_ = waitBounded(t, pr)
	p.t.(weft.Poster).Post(func() { p.add("posted after Wait") })
	pr.ser.waitIdle()
	p.mu.Lock()
	got := slices.Clone(p.events)
	p.mu.Unlock()
	if want := []string{"posted from ConnectionMade", "lost"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	pr.ser.mu.Lock()
	n := len(pr.ser.q)
	pr.ser.mu.Unlock()
	if n != 0 {
		t.Errorf("%d functions left queued after ConnectionLost", n)
	}
}
