package process

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Extra descriptors: the parent writes to the child's 3 and reads its 4.
func TestExtraDescriptors(t *testing.T) {
	sh := lookPath(t, "sh")
	r := newRecorder(t)
	r.onMade = func(tr Transport) {
		if err := tr.WriteToChild(3, []byte("through three\n")); err != nil {
			t.Errorf("WriteToChild(3): %v", err)
		}
		if err := tr.CloseChildFD(3); err != nil {
			t.Errorf("CloseChildFD(3): %v", err)
		}
		if _, err := tr.Write([]byte("x")); !errors.Is(err, ErrBadFD) {
			t.Errorf("Write without stdin = %v, want ErrBadFD", err)
		}
	}
	opts := &Options{ChildFDs: map[int]Direction{3: Write, 4: Read, 2: Read}}
	_, err := run(t, context.Background(), exec.Command(sh, "-c", "tr a-z A-Z <&3 >&4; echo done >&2"), r, opts)
	if err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if got := r.out(4); got != "THROUGH THREE\n" {
		t.Errorf("descriptor 4 = %q", got)
	}
	if got := r.out(2); got != "done\n" {
		t.Errorf("stderr = %q", got)
	}
	r.checkOrder(2, 3, 4)
}

// A gap in ChildFDs leaves the missing descriptor closed in the child.
func TestDescriptorGap(t *testing.T) {
	sh := lookPath(t, "sh")
	r := newRecorder(t)
	opts := &Options{ChildFDs: map[int]Direction{1: Read, 5: Read}}
	_, err := run(t, context.Background(), exec.Command(sh, "-c", "echo five >&5; if (: >&4) 2>/dev/null; then echo 4open; else echo 4closed; fi"), r, opts)
	if err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if r.out(5) != "five\n" || r.out(1) != "4closed\n" {
		t.Errorf("descriptor 5 = %q, stdout = %q", r.out(5), r.out(1))
	}
	r.checkOrder(1, 5)
}

func TestBadDescriptor(t *testing.T) {
	r := newRecorder(t)
	r.onMade = func(tr Transport) {
		for _, fd := range []int{1, 2, 7, -1} {
			if err := tr.WriteToChild(fd, []byte("x")); !errors.Is(err, ErrBadFD) {
				t.Errorf("WriteToChild(%d) = %v, want ErrBadFD", fd, err)
			}
		}
		if err := tr.CloseChildFD(9); !errors.Is(err, ErrBadFD) {
			t.Errorf("CloseChildFD(9) = %v, want ErrBadFD", err)
		}
		tr.LoseConnection()
	}
	if _, err := run(t, context.Background(), exec.Command(lookPath(t, "cat")), r, nil); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	r.checkOrder(0, 1, 2)
}

// Writes never block: past MaxWriteBuffer they fail and queue nothing.
func TestWriteBufferFull(t *testing.T) {
	sleep := lookPath(t, "sleep")
	const max = 8 << 10
	r := newRecorder(t)
	r.onMade = func(tr Transport) {
		if err := tr.WriteToChild(0, make([]byte, max+1)); !errors.Is(err, ErrWriteBufferFull) {
			t.Errorf("oversized write = %v, want ErrWriteBufferFull", err)
		}
		// sleep never reads: the pipe fills, then the buffer.
		chunk := make([]byte, 1<<10)
		var err error
		for total := 0; total < 64<<20 && err == nil; total += len(chunk) {
			_, err = tr.Write(chunk)
		}
		if !errors.Is(err, ErrWriteBufferFull) {
			t.Errorf("writes to a child that does not read ended with %v, want ErrWriteBufferFull", err)
		}
		if b := tr.Buffered(); b > max {
			t.Errorf("Buffered = %d, more than MaxWriteBuffer %d", b, max)
		}
		_ = tr.Kill()
	}
	_, err := run(t, context.Background(), exec.Command(sleep, "60"), r, &Options{MaxWriteBuffer: max})
	if _, sig := ExitStatus(err); sig != syscall.SIGKILL {
		t.Fatalf("Wait = %v", err)
	}
	r.checkOrder(0, 1, 2)
}

// Reading paused before any output: ProcessExited comes before the data,
// which is delivered, complete, after ResumeReading.
func TestPauseReading(t *testing.T) {
	r := newRecorder(t)
	r.onMade = func(tr Transport) { tr.PauseReading() }
	r.onExited = func() { r.tr.ResumeReading() }
	_, err := run(t, context.Background(), exec.Command(lookPath(t, "sh"), "-c", "echo out; echo err >&2"), r, nil)
	if err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if r.out(1) != "out\n" || r.out(2) != "err\n" {
		t.Errorf("stdout %q, stderr %q", r.out(1), r.out(2))
	}
	r.checkOrder(0, 1, 2)
	exitedAt := -1
	for i, e := range r.events {
		if e == "exited" {
			exitedAt = i
		}
		if strings.HasPrefix(e, "data") && exitedAt < 0 {
			t.Errorf("events %q: data before ProcessExited while reading was paused", r.events)
		}
	}
}

// A grandchild keeps stdout open: WaitDelay bounds the wait for it, and the
// status says the output was cut (the grandchild could still have written),
// as exec.Cmd.Wait does: it matches exec.ErrWaitDelay, with exit status 0.
func TestWaitDelay(t *testing.T) {
	sh := lookPath(t, "sh")
	r := newRecorder(t)
	grandchild := 0
	r.onData = func(fd int, data []byte) {
		if fd == 1 && grandchild == 0 {
			grandchild, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		}
	}
	_, err := run(t, context.Background(), exec.Command(sh, "-c", "sleep 60 & echo $!"), r, &Options{WaitDelay: 50 * time.Millisecond})
	if grandchild > 0 {
		if p, ferr := os.FindProcess(grandchild); ferr == nil {
			_ = p.Kill()
		}
	} else {
		t.Errorf("no grandchild pid read from stdout %q", r.out(1))
	}
	if !errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("Wait = %v, want it to match exec.ErrWaitDelay", err)
	}
	if code, sig := ExitStatus(err); code != 0 || sig != 0 {
		t.Errorf("ExitStatus = %d, %v; want the child's 0, 0", code, sig)
	}
	r.checkOrder(0, 1, 2)
}

func TestStdioLeftToCmd(t *testing.T) {
	var stderr strings.Builder
	cmd := exec.Command(lookPath(t, "sh"), "-c", "echo out; echo err >&2")
	cmd.Stderr = &stderr
	r := newRecorder(t)
	if _, err := run(t, context.Background(), cmd, r, nil); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if r.out(1) != "out\n" || stderr.String() != "err\n" || r.out(2) != "" {
		t.Errorf("stdout %q, Cmd.Stderr %q, fd 2 data %q", r.out(1), stderr.String(), r.out(2))
	}
	r.checkOrder(0, 1)
}

// A descriptor of the Cmd's own (ExtraFiles, Twisted's childFDs int) next to
// pipes on others: fd 3 is a file the caller opened, fd 4 (nil in
// ExtraFiles) a pipe to the parent, and the caller's ExtraFiles slice is left
// as it was.
func TestExtraFilesBesidePipes(t *testing.T) {
	sh := lookPath(t, "sh")
	out, err := os.CreateTemp(t.TempDir(), "fd3")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	extra := []*os.File{out, nil}
	cmd := exec.Command(sh, "-c", "echo three >&3; echo four >&4")
	cmd.ExtraFiles = extra
	r := newRecorder(t)
	if _, err := run(t, context.Background(), cmd, r, &Options{ChildFDs: map[int]Direction{4: Read}}); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if got := r.out(4); got != "four\n" {
		t.Errorf("descriptor 4 = %q", got)
	}
	if b, _ := os.ReadFile(out.Name()); string(b) != "three\n" {
		t.Errorf("descriptor 3 wrote %q to the caller's file", b)
	}
	if len(extra) != 2 || extra[0] != out || extra[1] != nil {
		t.Errorf("the caller's ExtraFiles became %v", extra)
	}
	r.checkOrder(4)
}
