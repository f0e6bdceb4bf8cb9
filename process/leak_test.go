//go:build unix

package process

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// openFDs lists this process's open descriptors and what they are.
func openFDs(t *testing.T) map[string]string {
	t.Helper()
	// The runtime's poller opens its own descriptors with the first pipe:
	// make one first, so that they are listed before and after alike.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list descriptors: %v", err)
	}
	fds := map[string]string{}
	for _, e := range ents {
		// ReadDir's own descriptor is closed by now: no link.
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			fds[e.Name()] = l
		}
	}
	return fds
}

// Every way a child can end, or fail to start, leaves no descriptor open in
// the parent and no zombie: a start failure, bad input, a child that exits at
// once, one killed, one whose ConnectionMade panics, one that exits with
// output still unread and a write still queued for it.
func TestNoDescriptorOrZombieLeft(t *testing.T) {
	sh := lookPath(t, "sh")
	big := make([]byte, 512<<10) // more than a pipe holds: the writer blocks
	tests := []struct {
		name  string
		cmd   func() *exec.Cmd
		made  func(Transport)
		start bool // Start succeeds
	}{
		{"missing program", func() *exec.Cmd { return exec.Command("/nonexistent/prog") }, nil, false},
		{"NUL argument", func() *exec.Cmd { return exec.Command(sh, "-c", "\x00") }, nil, false},
		{"bad dir", func() *exec.Cmd { c := exec.Command(sh, "-c", "true"); c.Dir = "/nonexistent/dir"; return c }, nil, false},
		{"exits at once", func() *exec.Cmd { return exec.Command(sh, "-c", "exit 3") }, nil, true},
		{"killed", func() *exec.Cmd { return exec.Command(sh, "-c", "read x") }, func(tr Transport) { _ = tr.Kill() }, true},
		{"exits with a write queued", func() *exec.Cmd { return exec.Command(sh, "-c", "echo out; echo err >&2; exit 0") }, func(tr Transport) {
			if _, err := tr.Write(big); err != nil {
				t.Errorf("Write: %v", err)
			}
		}, true},
		{"ConnectionMade panics", func() *exec.Cmd { return exec.Command(sh, "-c", "read x") }, func(Transport) { panic("boom") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := openFDs(t)
			cmd := tt.cmd()
			r := newRecorder(t)
			r.onMade = tt.made
			var p *Process
			var err error
			func() {
				defer func() { _ = recover() }()
				p, err = Start(context.Background(), cmd, r, nil)
			}()
			switch {
			case p != nil:
				_ = waitBounded(t, p)
				r.checkOrder(0, 1, 2)
			case tt.start && err == nil: // ConnectionMade panicked
			case tt.start || err == nil:
				t.Fatalf("Start = %v, %v", p, err)
			}
			if cmd.Process != nil {
				if cmd.ProcessState == nil {
					t.Errorf("child %d not reaped", cmd.Process.Pid)
				}
				var ws syscall.WaitStatus
				if _, werr := syscall.Wait4(cmd.Process.Pid, &ws, syscall.WNOHANG, nil); !errors.Is(werr, syscall.ECHILD) {
					t.Errorf("wait4(%d) = %v, want ECHILD: a zombie is left", cmd.Process.Pid, werr)
				}
			}
			// A descriptor opened meanwhile and left open is a leak (one
			// closed meanwhile was another test's, closing late).
			for fd, what := range openFDs(t) {
				if before[fd] != what {
					t.Errorf("descriptor %s (%s) left open (open before: %v)", fd, what, before)
				}
			}
		})
	}
}

// A child that ignores SIGTERM keeps running after Signal (which reports no
// error: the signal was delivered), talks on, and exits with its own code.
func TestChildIgnoresSIGTERM(t *testing.T) {
	r := newRecorder(t)
	r.onData = func(fd int, data []byte) {
		if fd == 1 && strings.HasPrefix(string(data), "ready") {
			if err := r.tr.Signal(syscall.SIGTERM); err != nil {
				t.Errorf("Signal: %v", err)
			}
			if _, err := r.tr.Write([]byte("go\n")); err != nil {
				t.Errorf("Write: %v", err)
			}
		}
	}
	_, err := run(t, context.Background(), exec.Command(lookPath(t, "sh"), "-c", "trap '' TERM; echo ready; read x; echo alive; exit 7"), r, nil)
	if code, sig := ExitStatus(err); code != 7 || sig != 0 {
		t.Errorf("Wait = %v, want exit status 7", err)
	}
	if got := r.out(1); got != "ready\nalive\n" {
		t.Errorf("stdout %q, want ready and alive", got)
	}
	r.checkOrder(0, 1, 2)
}

// A child that writes to stdout and stderr and exits at once: every byte of
// both reaches the protocol before ProcessEnded.
func TestExitAtOnceLosesNoOutput(t *testing.T) {
	sh := lookPath(t, "sh")
	// seq 1 20000 writes 108894 bytes, more than a pipe holds.
	for range 5 {
		r := newRecorder(t)
		_, err := run(t, context.Background(), exec.Command(sh, "-c", "seq 1 20000 & seq 1 20000 >&2 & wait"), r, nil)
		if err != nil {
			t.Fatalf("Wait = %v", err)
		}
		if len(r.out(1)) != 108894 || len(r.out(2)) != 108894 {
			t.Fatalf("stdout %d bytes, stderr %d, want 108894 each", len(r.out(1)), len(r.out(2)))
		}
		r.checkOrder(0, 1, 2)
	}
}
