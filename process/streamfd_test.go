package process

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// fdWriter writes to a Stream's WriteFD through a registered Producer,
// until the producer is paused.
type fdWriter struct {
	t        weft.Transport
	prod     atomicProducer
	stopped  atomic.Bool
	sent     atomic.Int64
	out      strings.Builder
	writeErr atomic.Value
	lost     chan error
}

func (w *fdWriter) ConnectionMade(t weft.Transport) {
	w.t = t
	t.RegisterProducer(w)
	chunk := bytes.Repeat([]byte("x"), 4096)
	for w.prod.pauses.Load() == 0 && w.sent.Load() < 1<<20 {
		if _, err := t.Write(chunk); err != nil {
			w.writeErr.Store(err)
			return
		}
		w.sent.Add(int64(len(chunk)))
		if r, ok := t.(weft.WriteRoomer); ok && r.WriteRoom() == 0 {
			break
		}
	}
	if w.prod.pauses.Load() == 0 {
		t.LoseConnection() // never paused: end the child's input now
	}
}
func (w *fdWriter) PauseProducing() { w.prod.PauseProducing() }
func (w *fdWriter) ResumeProducing() {
	w.prod.ResumeProducing()
	w.t.LoseConnection() // resumed once the child read: end its input
}
func (w *fdWriter) StopProducing() { w.stopped.Store(true) }
func (w *fdWriter) DataReceived(d []byte) {
	w.out.Write(d)
}
func (w *fdWriter) ConnectionLost(reason error) { w.lost <- reason }

// TestStreamProducerFollowsWriteFD: a Stream that writes to descriptor 3
// (no stdin pipe) flow-controls its Producer by descriptor 3's queue, and
// Buffered and WriteRoom report that queue. Before, the producer followed
// stdin's: without a stdin pipe it was stopped at once, and the writes ran
// into ErrWriteBufferFull.
func TestStreamProducerFollowsWriteFD(t *testing.T) {
	sh := lookPath(t, "sh")
	const high = 32 << 10
	w := &fdWriter{lost: make(chan error, 1)}
	s := &Stream{Protocol: w, WriteFD: 3}
	// The child reads descriptor 3 only after a second, so the queue fills.
	cmd := exec.Command(sh, "-c", "sleep 1; wc -c <&3")
	_, err := Start(context.Background(), cmd, s, &Options{
		ChildFDs:  map[int]Direction{1: Read, 3: Write},
		HighWater: high, LowWater: 8 << 10, MaxWriteBuffer: 1 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	var reason error
	select {
	case reason = <-w.lost:
	case <-time.After(20 * time.Second):
		t.Fatal("the child did not end within 20 s")
	}
	if err := w.writeErr.Load(); err != nil {
		t.Errorf("a write failed: %v", err)
	}
	if w.stopped.Load() && w.prod.pauses.Load() == 0 {
		t.Error("the producer was stopped at once: it followed stdin, which has no pipe")
	}
	if w.prod.pauses.Load() == 0 || w.prod.resumes.Load() == 0 {
		t.Errorf("PauseProducing %d, ResumeProducing %d times, want both: the producer follows descriptor 3's queue",
			w.prod.pauses.Load(), w.prod.resumes.Load())
	}
	if reason != nil {
		t.Errorf("ConnectionLost(%v), want nil", reason)
	}
	if got, want := strings.TrimSpace(w.out.String()), fmt.Sprint(w.sent.Load()); got != want {
		t.Errorf("wc -c counted %s bytes on descriptor 3, want %s", got, want)
	}
}
