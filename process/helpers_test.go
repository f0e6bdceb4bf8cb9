package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a ProcessProtocol that records its events and checks that its
// callbacks are never concurrent. Tests read it after Wait.
type recorder struct {
	t      *testing.T
	inCall atomic.Int32
	events []string
	data   map[int]*bytes.Buffer
	exited error
	ended  error
	tr     Transport

	onMade   func(t Transport)
	onData   func(fd int, data []byte)
	onLost   func(fd int)
	onExited func()
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, data: map[int]*bytes.Buffer{}}
}

func (r *recorder) enter() {
	if r.inCall.Add(1) != 1 {
		r.t.Errorf("callbacks ran concurrently")
	}
}
func (r *recorder) leave() { r.inCall.Add(-1) }

func (r *recorder) ConnectionMade(t Transport) {
	r.enter()
	defer r.leave()
	r.tr = t
	r.events = append(r.events, "made")
	if r.onMade != nil {
		r.onMade(t)
	}
}

func (r *recorder) ChildDataReceived(fd int, data []byte) {
	r.enter()
	defer r.leave()
	if n := len(r.events); n == 0 || r.events[n-1] != fmt.Sprintf("data %d", fd) {
		r.events = append(r.events, fmt.Sprintf("data %d", fd))
	}
	if r.data[fd] == nil {
		r.data[fd] = new(bytes.Buffer)
	}
	r.data[fd].Write(data)
	if r.onData != nil {
		r.onData(fd, data)
	}
}

func (r *recorder) ChildConnectionLost(fd int) {
	r.enter()
	defer r.leave()
	r.events = append(r.events, fmt.Sprintf("lost %d", fd))
	if r.onLost != nil {
		r.onLost(fd)
	}
}

func (r *recorder) ProcessExited(status error) {
	r.enter()
	defer r.leave()
	r.events = append(r.events, "exited")
	r.exited = status
	if r.onExited != nil {
		r.onExited()
	}
}

func (r *recorder) ProcessEnded(status error) {
	r.enter()
	defer r.leave()
	r.events = append(r.events, "ended")
	r.ended = status
}

func (r *recorder) out(fd int) string {
	if b := r.data[fd]; b != nil {
		return b.String()
	}
	return ""
}

// checkOrder asserts the callback contract on the recorded events: made
// first, ended last, exited once before it, every descriptor of fds lost
// exactly once, and no data for a descriptor after its loss.
func (r *recorder) checkOrder(fds ...int) {
	r.t.Helper()
	ev := r.events
	if len(ev) < 2 || ev[0] != "made" || ev[len(ev)-1] != "ended" {
		r.t.Fatalf("events %q: want made first and ended last", ev)
	}
	exited, lost := 0, map[int]int{}
	for i, e := range ev {
		switch {
		case e == "exited":
			exited++
		case strings.HasPrefix(e, "lost "):
			var fd int
			fmt.Sscanf(e, "lost %d", &fd)
			lost[fd]++
			for _, later := range ev[i+1:] {
				if later == fmt.Sprintf("data %d", fd) {
					r.t.Errorf("events %q: data for %d after its loss", ev, fd)
				}
			}
		}
	}
	if exited != 1 {
		r.t.Errorf("events %q: exited %d times, want 1", ev, exited)
	}
	for _, fd := range fds {
		if lost[fd] != 1 {
			r.t.Errorf("events %q: descriptor %d lost %d times, want 1", ev, fd, lost[fd])
		}
	}
	if len(lost) != len(fds) {
		r.t.Errorf("events %q: lost descriptors %v, want %v", ev, lost, fds)
	}
	if r.exited != r.ended && !cutStatus(r.exited, r.ended) {
		r.t.Errorf("ProcessExited got %v, ProcessEnded %v: want the same status", r.exited, r.ended)
	}
}

// cutStatus reports whether ended is exited with the cut by Options.WaitDelay
// added: the same exit code and signal, and a match for exec.ErrWaitDelay.
func cutStatus(exited, ended error) bool {
	c1, s1 := ExitStatus(exited)
	c2, s2 := ExitStatus(ended)
	return c1 == c2 && s1 == s2 && errors.Is(ended, exec.ErrWaitDelay)
}

// run starts cmd with r and waits for it to end (failing the test after a
// generous bound instead of hanging).
func run(t *testing.T, ctx context.Context, cmd *exec.Cmd, r *recorder, opts *Options) (*Process, error) {
	t.Helper()
	p, err := Start(ctx, cmd, r, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return p, waitBounded(t, p)
}

func waitBounded(t *testing.T, p *Process) error {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		_ = p.Kill()
		t.Fatalf("child %d did not end within 30s", p.Pid())
	}
	return p.Wait()
}

func lookPath(t testing.TB, prog string) string {
	t.Helper()
	return testenv.LookPath(t, prog, "coreutils")
}
