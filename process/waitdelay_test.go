package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// Reading is paused, the child (no grandchild) writes its output and exits,
// Options.WaitDelay passes, and reading resumes only afterwards: the output
// already in the pipe is delivered, whole, and the status is a clean exit.
// WaitDelay bounds the wait for end of file, it does not discard what was
// written. (synctest: the fake clock moves only once the child is reaped and
// every goroutine waits, so the delay surely passed before the resume.)
func TestWaitDelayKeepsDataInPipe(t *testing.T) {
	sh := lookPath(t, "sh")
	synctest.Test(t, func(t *testing.T) {
		const delay = time.Second
		r := newRecorder(t)
		r.onMade = func(tr Transport) { tr.PauseReading() }
		cmd := exec.Command(sh, "-c", "printf %s out; printf %s err >&2")
		p, err := Start(context.Background(), cmd, r, &Options{WaitDelay: delay})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		synctest.Wait() // the child is reaped; the delay's timer waits
		time.Sleep(3 * delay)
		synctest.Wait()
		p.ResumeReading()
		if err := p.Wait(); err != nil {
			t.Errorf("Wait = %v, want nil (a clean exit, nothing lost)", err)
		}
		if r.out(1) != "out" || r.out(2) != "err" {
			t.Errorf("stdout %q, stderr %q: want %q and %q, resumed after WaitDelay", r.out(1), r.out(2), "out", "err")
		}
		r.checkOrder(0, 1, 2)
	})
}

// The same with more output than one read, and reading resumed from a
// callback after the delay: every byte comes, in order.
func TestWaitDelayKeepsLargeOutput(t *testing.T) {
	sh := lookPath(t, "sh")
	synctest.Test(t, func(t *testing.T) {
		const delay = time.Second
		r := newRecorder(t)
		r.onMade = func(tr Transport) { tr.PauseReading() }
		// 48 KiB fits a default (64 KiB) pipe, so the child can exit
		// while nothing reads.
		cmd := exec.Command(sh, "-c", "i=0; while [ $i -lt 1536 ]; do printf '%031d\\n' $i; i=$((i+1)); done")
		p, err := Start(context.Background(), cmd, r, &Options{WaitDelay: delay, ReadBufferSize: 4096, ChildFDs: map[int]Direction{1: Read}})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		synctest.Wait()
		time.Sleep(3 * delay)
		synctest.Wait()
		p.Post(p.ResumeReading)
		if err := p.Wait(); err != nil {
			t.Errorf("Wait = %v, want nil", err)
		}
		var want bytes.Buffer
		for i := range 1536 {
			fmt.Fprintf(&want, "%031d\n", i)
		}
		if got := r.out(1); got != want.String() {
			t.Errorf("stdout: got %d bytes, want %d", len(got), want.Len())
		}
		r.checkOrder(1)
	})
}

// A grandchild inherits stdout and writes without end: once WaitDelay has
// passed the pipe is closed all the same (the grandchild then dies of
// SIGPIPE), ProcessEnded comes, and the status says the output was cut:
// it matches exec.ErrWaitDelay, as for a Cmd's own writer, with the child's
// exit status 0.
func TestWaitDelayGrandchildWritesForever(t *testing.T) {
	sh, yes := lookPath(t, "sh"), lookPath(t, "yes")
	r := newRecorder(t)
	n := 0
	r.onData = func(_ int, data []byte) { n += len(data) }
	cmd := exec.Command(sh, "-c", `"$0" grandchild &`, yes)
	_, err := run(t, context.Background(), cmd, r, &Options{WaitDelay: 50 * time.Millisecond, ChildFDs: map[int]Direction{1: Read}})
	if !errors.Is(err, exec.ErrWaitDelay) || !errors.Is(err, ErrProcessTerminated) {
		t.Errorf("Wait = %v, want it to match exec.ErrWaitDelay and ErrProcessTerminated (output cut)", err)
	}
	if code, sig := ExitStatus(err); code != 0 || sig != 0 {
		t.Errorf("ExitStatus = %d, %v; want the child's 0, 0", code, sig)
	}
	if n == 0 {
		t.Errorf("no output from the grandchild")
	}
	r.checkOrder(1)
}

// The same while reading is paused when WaitDelay passes: the reader waits for
// ResumeReading, then reads at most drainBudget more bytes (the grandchild
// refills the pipe as fast as it is read) and closes the pipe: bounded, and
// reported.
func TestWaitDelayGrandchildWritesForeverPaused(t *testing.T) {
	sh, yes := lookPath(t, "sh"), lookPath(t, "yes")
	synctest.Test(t, func(t *testing.T) {
		const delay = time.Second
		r := newRecorder(t)
		n := 0
		r.onMade = func(tr Transport) { tr.PauseReading() }
		r.onData = func(_ int, data []byte) { n += len(data) }
		cmd := exec.Command(sh, "-c", `printf 'first\n'; "$0" grandchild &`, yes)
		p, err := Start(context.Background(), cmd, r, &Options{WaitDelay: delay, ChildFDs: map[int]Direction{1: Read}})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		synctest.Wait() // the child is reaped; the grandchild fills the pipe
		time.Sleep(3 * delay)
		synctest.Wait()
		if n != 0 {
			t.Errorf("%d bytes delivered while reading was paused", n)
		}
		p.ResumeReading()
		err = p.Wait()
		if !errors.Is(err, exec.ErrWaitDelay) {
			t.Errorf("Wait = %v, want it to match exec.ErrWaitDelay (output cut)", err)
		}
		// What the pipe held when reading resumed, plus the budget.
		if !strings.HasPrefix(r.out(1), "first\n") || n > drainBudget+DefaultReadBufferSize+1<<20 {
			t.Errorf("%d bytes delivered after the resume, starting %.20q: want the child's first line, and at most about %d", n, r.out(1), drainBudget)
		}
		r.checkOrder(1)
	})
}

// A weft.Protocol over a Stream pauses reading (a framed protocol holding
// frames, say) and resumes from another goroutine after WaitDelay passed:
// it gets every line, and ConnectionLost(nil).
func TestWaitDelayStreamPaused(t *testing.T) {
	sh := lookPath(t, "sh")
	synctest.Test(t, func(t *testing.T) {
		const delay = time.Second
		var tr weft.Transport
		lp := &lineProtocol{split: bufio.ScanLines, onMade: func(t weft.Transport) {
			tr = t
			t.PauseReading()
		}}
		p, err := Start(context.Background(), exec.Command(sh, "-c", "echo one; echo two"), NewStream(lp), &Options{WaitDelay: delay})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		synctest.Wait()
		time.Sleep(3 * delay)
		synctest.Wait()
		tr.ResumeReading()
		if err := p.Wait(); err != nil {
			t.Errorf("Wait = %v, want nil", err)
		}
		if !slices.Equal(lp.lines, []string{"one", "two"}) || lp.lost != 1 || lp.reason != nil {
			t.Errorf("lines %q, ConnectionLost %d times with %v; want [one two], once with nil", lp.lines, lp.lost, lp.reason)
		}
	})
}
