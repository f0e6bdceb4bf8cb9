package process

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestReview6StreamAbortQueuedEnd: a Stream Protocol that calls Abort from
// one of its callbacks (here OtherData's) hears of no ReadConnectionLost
// afterwards, as the Stream documents ("not after Abort"), even when the
// end of ReadFD was already read and waiting to be delivered while that
// callback ran. Before, Abort only posted its mark, which ran after the
// waiting end: ReadConnectionLost came after Abort.
func TestReview6StreamAbortQueuedEnd(t *testing.T) {
	sh := lookPath(t, "sh")
	p := &halfProto{t: t}
	s := NewStream(p)
	s.OtherData = func(fd int, data []byte) {
		p.events = append(p.events, "other")
		// Let the child end its stdout, and wait (bounded) until that
		// end waits in the queue behind this callback.
		if _, err := p.tr.Write([]byte("go\n")); err != nil {
			t.Errorf("Write: %v", err)
		}
		pr := s.t.(*Process)
		deadline := time.Now().Add(10 * time.Second)
		for {
			pr.ser.mu.Lock()
			n := len(pr.ser.q)
			pr.ser.mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Error("the end of stdout was not queued within 10 s")
				break
			}
			time.Sleep(time.Millisecond)
		}
		p.events = append(p.events, "abort")
		p.tr.Abort()
	}
	cmd := exec.Command(sh, "-c", `echo x >&3; read l; exec >&-; exec sleep 5`)
	pr, err := Start(context.Background(), cmd, s, &Options{ChildFDs: map[int]Direction{0: Write, 1: Read, 3: Read}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	_ = waitBounded(t, pr)
	if i := slices.Index(p.events, "abort"); i < 0 || slices.Contains(p.events[i:], "readLost") {
		t.Errorf("events %q: want Abort, and no ReadConnectionLost after it", p.events)
	}
	if !errors.Is(p.reason, weft.ErrAborted) {
		t.Errorf("ConnectionLost(%v), want weft.ErrAborted", p.reason)
	}
}
