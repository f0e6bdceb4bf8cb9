package process

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
)

// A nil context is bad input: Start says so with an error wrapping
// ErrInvalidOptions instead of panicking, and starts nothing.
func TestStartNilContext(t *testing.T) {
	var ctx context.Context // nil
	cmd := exec.Command(lookPath(t, "true"))
	r := newRecorder(t)
	var err error
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("Start with a nil context panicked: %v", v)
			}
		}()
		_, err = Start(ctx, cmd, r, nil)
	}()
	if !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("Start with a nil context = %v, want ErrInvalidOptions", err)
	}
	if cmd.Process != nil || len(r.events) != 0 {
		t.Errorf("Start with a nil context started the child (events %q)", r.events)
	}
}

// CloseChildFD on a Read descriptor closes it at once: data the reader had
// already read and was waiting to deliver when the protocol closed the
// descriptor (from a callback) is dropped, not delivered after CloseChildFD
// returned.
func TestCloseReadFDDropsDataInFlight(t *testing.T) {
	r := newRecorder(t)
	procCh := make(chan *Process, 1)
	closed := false
	r.onData = func(fd int, data []byte) {
		switch {
		case fd == 2 && !closed:
			p := <-procCh
			closed = true
			// The child writes to stdout only now, and then waits
			// for end of file on stdin: the only callback that can
			// queue meanwhile is the delivery of its "o".
			if _, err := p.Write([]byte("go\n")); err != nil {
				t.Errorf("Write: %v", err)
			}
			queued(t, p, 1)
			if err := p.CloseChildFD(1); err != nil {
				t.Errorf("CloseChildFD(1): %v", err)
			}
			if err := p.CloseStdin(); err != nil {
				t.Errorf("CloseStdin: %v", err)
			}
		case fd == 1 && closed:
			t.Errorf("ChildDataReceived(1, %q) after CloseChildFD(1) returned", data)
		}
	}
	p, err := Start(context.Background(), exec.Command(lookPath(t, "sh"), "-c", "echo e >&2; read x; echo o; cat >/dev/null"), r, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	procCh <- p
	if err := waitBounded(t, p); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if !closed {
		t.Fatalf("events %q: no stderr data", r.events)
	}
	r.checkOrder(0, 1, 2)
}

// failingWriter refuses every write.
type failingWriter struct{}

var errRefused = errors.New("refused")

func (failingWriter) Write([]byte) (int, error) { return 0, errRefused }

// A descriptor left to the Cmd (here Stdout, an io.Writer that fails): the
// Cmd's own copying fails and the child's output is lost, so the status says
// so instead of ErrProcessDone, although the child exited with status 0.
func TestCmdCopyErrorReported(t *testing.T) {
	cmd := exec.Command(lookPath(t, "sh"), "-c", "echo out")
	cmd.Stdout = failingWriter{}
	r := newRecorder(t)
	_, err := run(t, context.Background(), cmd, r, nil)
	if !errors.Is(err, errRefused) || !errors.Is(err, ErrProcessTerminated) {
		t.Errorf("Wait = %v, want it to match ErrProcessTerminated and the writer's error", err)
	}
	if code, sig := ExitStatus(err); code != 0 || sig != 0 {
		t.Errorf("ExitStatus = %d, %v; want the child's 0, 0", code, sig)
	}
	r.checkOrder(0, 2)
}

// syncBuffer is an output buffer safe for a writer and a reader.
type syncBuffer = testenv.SyncBuffer

// A grandchild keeps open a descriptor left to the Cmd (Stdout, an
// io.Writer the Cmd copies to): Options.WaitDelay bounds that wait too, so
// ProcessExited and ProcessEnded come although the grandchild lives on.
func TestWaitDelayCmdWriter(t *testing.T) {
	sh := lookPath(t, "sh")
	var out syncBuffer
	cmd := exec.Command(sh, "-c", "echo before; sleep 60 2>/dev/null & echo $! >&2")
	cmd.Stdout = &out
	r := newRecorder(t)
	var grandchild atomic.Int64
	r.onData = func(fd int, data []byte) {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); fd == 2 && err == nil {
			grandchild.Store(int64(pid))
		}
	}
	killGrandchild := func() {
		if gp, err := os.FindProcess(int(grandchild.Load())); grandchild.Load() > 0 && err == nil {
			_ = gp.Kill()
		}
	}
	defer killGrandchild()
	p, err := Start(context.Background(), cmd, r, &Options{WaitDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Errorf("no ProcessEnded 10s after the child exited, with WaitDelay 50ms")
		killGrandchild() // lets the Cmd's copy end, and so the child
	}
	err = p.Wait()
	if !errors.Is(err, exec.ErrWaitDelay) {
		t.Errorf("Wait = %v, want it to match exec.ErrWaitDelay (output may be lost)", err)
	}
	if got := out.String(); got != "before\n" {
		t.Errorf("Cmd.Stdout got %q", got)
	}
	r.checkOrder(0, 2)
}

// Without a stdin pipe there is no stdin to flow-control: a producer
// registered then is stopped (as once stdin has closed), not kept, unpaused
// and never stopped, past the child's end.
func TestRegisterProducerWithoutStdin(t *testing.T) {
	r := newRecorder(t)
	prod := &countingProducer{}
	r.onMade = func(tr Transport) { tr.RegisterProducer(prod) }
	p, err := run(t, context.Background(), exec.Command(lookPath(t, "true")), r, &Options{ChildFDs: map[int]Direction{1: Read}})
	if err != nil {
		t.Fatalf("Wait = %v", err)
	}
	// Wait returned after ProcessEnded, when work posted with Post no
	// longer runs: the serializer being idle, StopProducing has run.
	p.ser.waitIdle()
	if n := prod.stops; n != 1 {
		t.Errorf("producer registered without a stdin pipe: StopProducing called %d times, want 1", n)
	}
	r.checkOrder(1)
}

// A Stream without a Protocol is bad input: Start says so instead of
// panicking in ConnectionMade (and killing the child it just started).
func TestStartStreamWithoutProtocol(t *testing.T) {
	cmd := exec.Command(lookPath(t, "true"))
	var err error
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("Start with a Stream without a Protocol panicked: %v", v)
			}
		}()
		_, err = Start(context.Background(), cmd, NewStream(nil), nil)
	}()
	if !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("Start = %v, want ErrInvalidOptions", err)
	}
	if cmd.Process != nil {
		t.Errorf("the child was started")
	}
}

// A NUL byte cannot pass to execve: in the path, an argument, the
// environment or the directory it is bad input, which Start reports with an
// error wrapping ErrInvalidOptions that names the field (not the bare
// "invalid argument" of fork/exec, nor "environment variable contains NUL"
// for a Dir), and starts nothing.
func TestStartRejectsNUL(t *testing.T) {
	sh := lookPath(t, "sh")
	tests := []struct {
		name string
		cmd  func() *exec.Cmd
		want string
	}{
		{"path", func() *exec.Cmd { return &exec.Cmd{Path: sh + "\x00x", Args: []string{"sh"}} }, "Cmd.Path"},
		{"arg", func() *exec.Cmd { return exec.Command(sh, "-c", "echo a\x00b") }, "Cmd.Args[2]"},
		{"env value", func() *exec.Cmd {
			c := exec.Command(sh, "-c", "true")
			c.Env = []string{"A=1", "B=b\x00c"}
			return c
		}, "Cmd.Env[1]"},
		{"dir", func() *exec.Cmd {
			c := exec.Command(sh, "-c", "true")
			c.Dir = os.TempDir() + "\x00x"
			return c
		}, "Cmd.Dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := tt.cmd()
			r := newRecorder(t)
			var p *Process
			var err error
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("Start panicked: %v", v)
					}
				}()
				p, err = Start(context.Background(), cmd, r, nil)
			}()
			if p != nil {
				_ = waitBounded(t, p)
				t.Fatalf("Start started the child")
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "NUL") {
				t.Errorf("Start = %v, want ErrInvalidOptions naming %s and the NUL byte", err, tt.want)
			}
			if strings.ContainsRune(err.Error(), 0) {
				t.Errorf("error text %q holds a raw NUL byte", err)
			}
			if len(r.events) != 0 {
				t.Errorf("events %q, want none", r.events)
			}
		})
	}
}

// Post(nil) is bad input that must not panic later, on a goroutine of the
// package (crashing the program far from the call) or inside Start: it is
// ignored, from a callback and from outside alike.
func TestPostNil(t *testing.T) {
	r := newRecorder(t)
	r.onMade = func(tr Transport) {
		tr.Post(nil)
	}
	var p *Process
	var err error
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("Post(nil) from ConnectionMade panicked: %v", v)
			}
		}()
		p, err = Start(context.Background(), exec.Command(lookPath(t, "cat")), r, nil)
	}()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	p.Post(nil)
	streamTransport{&Stream{t: p}}.Post(nil)
	if err := p.CloseStdin(); err != nil {
		t.Errorf("CloseStdin: %v", err)
	}
	if err := waitBounded(t, p); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	r.checkOrder(0, 1, 2)
}

// CloseStdin's end of file reaches the child as soon as the queued data is
// written, whatever work the protocol has posted meanwhile: here
// ChildConnectionLost(0) starts a cooperative loop (Post re-posting itself)
// that goes on until the child exits, which it does only at end of file on
// stdin. The stdin writer must not run that work before closing the pipe
// (it did: it became the serializer's runner, and the child never saw end of
// file).
func TestCloseStdinNotHeldByPostedWork(t *testing.T) {
	r := newRecorder(t)
	looping, endedByExit := false, false
	deadline := time.Now().Add(5 * time.Second)
	var loop func()
	loop = func() {
		if time.Now().After(deadline) { // a bound, so that the test ends
			looping = false
			return
		}
		runtime.Gosched()
		r.tr.Post(loop)
	}
	r.onLost = func(fd int) {
		if fd == 0 {
			looping = true
			r.tr.Post(loop)
		}
	}
	// The loop runs until the child exits (work posted then is dropped
	// with ProcessEnded, which may follow at once): the exit must come
	// while it runs.
	r.onExited = func() { endedByExit = looping }
	p, err := Start(context.Background(), exec.Command(lookPath(t, "cat")), r, &Options{ChildFDs: map[int]Direction{0: Write, 1: Read}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := p.CloseStdin(); err != nil { // nothing runs now: the writer's post is the first
		t.Fatalf("CloseStdin: %v", err)
	}
	if err := waitBounded(t, p); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if !endedByExit {
		t.Errorf("events %q: the child did not exit while the posted loop ran: its stdin was not closed", r.events)
	}
	r.checkOrder(0, 1)
}

// A descriptor's reader goes on reading while work posted by its
// ChildDataReceived runs: here that work is a cooperative loop (Post
// re-posting itself) that waits for the child's next line on the same
// descriptor. The reader ran the loop itself (it had become the
// serializer's runner to deliver the first line) and never read the second.
func TestReaderNotHeldByPostedWork(t *testing.T) {
	r := newRecorder(t)
	sawB, endedByB := false, false
	deadline := time.Now().Add(5 * time.Second)
	var loop func()
	loop = func() {
		switch {
		case sawB:
			endedByB = true
		case time.Now().After(deadline): // a bound, so that the test ends
		default:
			runtime.Gosched()
			r.tr.Post(loop)
		}
	}
	r.onData = func(fd int, data []byte) {
		switch string(data) {
		case "a\n":
			if _, err := r.tr.Write([]byte("go\n")); err != nil {
				t.Errorf("Write: %v", err)
			}
			r.tr.Post(loop)
		case "b\n":
			sawB = true
		}
	}
	_, err := run(t, context.Background(), exec.Command(lookPath(t, "sh"), "-c", "echo a; read x; echo b"), r, &Options{ChildFDs: map[int]Direction{0: Write, 1: Read}})
	if err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if !endedByB {
		t.Errorf("events %q, stdout %q: the second line did not come while the posted loop ran", r.events, r.out(1))
	}
	r.checkOrder(0, 1)
}
