package process

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestCatEchoesStdin(t *testing.T) {
	cat := lookPath(t, "cat")
	r := newRecorder(t)
	verses := []string{"Twas brillig, and the slithy toves\n", "Did gyre and gimble in the wabe;\n", "All mimsy were the borogoves,\n"}
	r.onMade = func(tr Transport) {
		for _, v := range verses {
			if _, err := tr.Write([]byte(v)); err != nil {
				t.Errorf("Write: %v", err)
			}
		}
		if err := tr.CloseStdin(); err != nil {
			t.Errorf("CloseStdin: %v", err)
		}
	}
	p, err := run(t, context.Background(), exec.Command(cat), r, nil)
	if err != nil {
		t.Fatalf("Wait = %v, want nil", err)
	}
	if got, want := r.out(1), strings.Join(verses, ""); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if !errors.Is(r.ended, ErrProcessDone) {
		t.Errorf("ProcessEnded status = %v, want ErrProcessDone", r.ended)
	}
	r.checkOrder(0, 1, 2)
	if p.Pid() <= 0 {
		t.Errorf("Pid = %d", p.Pid())
	}
	if err := p.Kill(); !errors.Is(err, ErrProcessExited) {
		t.Errorf("Kill after the end = %v, want ErrProcessExited", err)
	}
	if _, err := p.Write([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after the end = %v, want ErrClosed", err)
	}
	select {
	case <-p.Context().Done():
	default:
		t.Errorf("Context not done after the end")
	}
}

func TestExitStatus(t *testing.T) {
	sh := lookPath(t, "sh")
	tests := []struct {
		script string
		code   int
		sig    syscall.Signal
	}{
		{"exit 0", 0, 0},
		{"exit 3", 3, 0},
		{"exit 255", 255, 0},
		{"kill -TERM $$", -1, syscall.SIGTERM},
		{"kill -KILL $$", -1, syscall.SIGKILL},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			r := newRecorder(t)
			_, err := run(t, context.Background(), exec.Command(sh, "-c", tt.script), r, nil)
			code, sig := ExitStatus(r.ended)
			if code != tt.code || sig != tt.sig {
				t.Errorf("ExitStatus = %d, %v; want %d, %v (status %v)", code, sig, tt.code, tt.sig, r.ended)
			}
			if tt.code == 0 && tt.sig == 0 {
				if err != nil || !errors.Is(r.ended, ErrProcessDone) {
					t.Errorf("Wait = %v, status %v; want nil and ErrProcessDone", err, r.ended)
				}
			} else {
				var pt *ProcessTerminated
				if !errors.As(err, &pt) || !errors.Is(err, ErrProcessTerminated) {
					t.Fatalf("Wait = %v, want a *ProcessTerminated", err)
				}
				if pt.ExitCode != tt.code || pt.Signal != tt.sig || pt.Cause != nil {
					t.Errorf("ProcessTerminated = %+v", pt)
				}
			}
			r.checkOrder(0, 1, 2)
		})
	}
}

func TestSignalAndKill(t *testing.T) {
	sleep := lookPath(t, "sleep")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			r := newRecorder(t)
			r.onMade = func(tr Transport) {
				var err error
				if sig == syscall.SIGKILL {
					err = tr.Kill()
				} else {
					err = tr.Signal(sig)
				}
				if err != nil {
					t.Errorf("signal: %v", err)
				}
			}
			p, err := run(t, context.Background(), exec.Command(sleep, "60"), r, nil)
			var pt *ProcessTerminated
			if !errors.As(err, &pt) || pt.Signal != sig || pt.ExitCode != -1 || pt.Cause != nil {
				t.Fatalf("Wait = %v (%+v), want killed by %v with no cause", err, pt, sig)
			}
			if err := p.Signal(syscall.SIGTERM); !errors.Is(err, ErrProcessExited) {
				t.Errorf("Signal after the end = %v, want ErrProcessExited", err)
			}
			r.checkOrder(0, 1, 2)
		})
	}
}

// A child that closes its stdout and keeps running: ChildConnectionLost(1)
// comes while it runs (the protocol then closes stdin, which is what makes it
// exit), then ProcessExited, and ProcessEnded last.
func TestChildClosesStdoutEarly(t *testing.T) {
	sh := lookPath(t, "sh")
	r := newRecorder(t)
	alive := false
	r.onLost = func(fd int) {
		if fd == 1 {
			alive = r.tr.Signal(syscall.Signal(0)) == nil
			if err := r.tr.CloseStdin(); err != nil {
				t.Errorf("CloseStdin: %v", err)
			}
		}
	}
	_, err := run(t, context.Background(), exec.Command(sh, "-c", "echo early; exec >&-; read line; echo stderr-after >&2; exit 4"), r, nil)
	if code, _ := ExitStatus(err); code != 4 {
		t.Fatalf("Wait = %v, want exit status 4", err)
	}
	if !alive {
		t.Errorf("child was not running when its stdout was lost")
	}
	if r.out(1) != "early\n" || r.out(2) != "stderr-after\n" {
		t.Errorf("stdout %q, stderr %q", r.out(1), r.out(2))
	}
	r.checkOrder(0, 1, 2)
	idx := func(e string) int {
		for i, x := range r.events {
			if x == e {
				return i
			}
		}
		return -1
	}
	if !(idx("lost 1") < idx("lost 0") && idx("lost 0") < idx("exited") && idx("exited") < idx("ended")) {
		t.Errorf("events %q: want lost 1, lost 0, exited, ended in that order", r.events)
	}
}

func TestLargeOutputInOrder(t *testing.T) {
	seq := lookPath(t, "seq")
	const n = 1_000_000 // about 6.9 MB
	r := newRecorder(t)
	_, err := run(t, context.Background(), exec.Command(seq, "1", fmt.Sprint(n)), r, nil)
	if err != nil {
		t.Fatalf("Wait = %v", err)
	}
	var want strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	if got := r.out(1); got != want.String() {
		t.Fatalf("stdout: %d bytes, want %d; first difference at %d", len(got), want.Len(), firstDiff(got, want.String()))
	}
	r.checkOrder(0, 1, 2)
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestContextCancelKills(t *testing.T) {
	sleep := lookPath(t, "sleep")
	ctx, cancel := context.WithCancel(context.Background())
	r := newRecorder(t)
	r.onMade = func(Transport) { cancel() }
	_, err := run(t, ctx, exec.Command(sleep, "60"), r, nil)
	var pt *ProcessTerminated
	if !errors.As(err, &pt) || pt.Signal != syscall.SIGKILL {
		t.Fatalf("Wait = %v, want killed by SIGKILL", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want it to match context.Canceled", err)
	}
	r.checkOrder(0, 1, 2)
}

func TestStartWithDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newRecorder(t)
	_, err := Start(ctx, exec.Command(lookPath(t, "true")), r, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start = %v, want context.Canceled", err)
	}
	if len(r.events) != 0 {
		t.Errorf("events %q, want none", r.events)
	}
}

func TestStartError(t *testing.T) {
	r := newRecorder(t)
	_, err := Start(context.Background(), exec.Command("/nonexistent/weft-no-such-program"), r, nil)
	if err == nil || !strings.Contains(err.Error(), "process: start") {
		t.Fatalf("Start = %v, want a start error", err)
	}
	if len(r.events) != 0 {
		t.Errorf("events %q, want none", r.events)
	}
}

// A panic in ConnectionMade (on the caller's goroutine) leaves no child and
// no goroutine behind.
func TestConnectionMadePanic(t *testing.T) {
	r := newRecorder(t)
	r.onMade = func(Transport) { panic("boom") }
	cmd := exec.Command(lookPath(t, "sleep"), "60")
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want boom", v)
			}
		}()
		_, _ = Start(context.Background(), cmd, r, nil)
	}()
	if cmd.ProcessState == nil {
		t.Fatalf("child not reaped after a panic in ConnectionMade")
	}
	if _, sig := ExitStatus(statusOf(cmd.ProcessState, nil, nil)); sig != syscall.SIGKILL {
		t.Errorf("child status %v, want killed", cmd.ProcessState)
	}
}
