package process

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"syscall"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// biLine is a weft.Protocol that does nothing.
type biLine struct{}

func (biLine) ConnectionMade(weft.Transport) {}
func (biLine) DataReceived([]byte)           {}
func (biLine) ConnectionLost(error)          {}

// TestBadInputProcess: Start, Options, Process, Stream and the helpers with
// hostile or degenerate values, and calls in the wrong order. Before the
// fix: a Stream whose ReadFD or WriteFD was out of range (-1, MaxInt) or of
// the wrong direction, or that had already run a child (its lost and
// aborted state kept), was accepted ("ok"); the zero Process's Wait hung,
// its Kill, Pid and Signal panicked ("runtime error: invalid memory address
// or nil pointer dereference") and its Write said "no such child
// descriptor: 0"; ExitStatus and Error on a nil *ProcessTerminated
// panicked. A zero Stream's callbacks still panic when called by hand:
// they are the package's to call, and Start refuses that Stream.
func TestBadInputProcess(t *testing.T) {
	bg := context.Background()
	truePath := lookPath(t, "true")
	catPath := lookPath(t, "cat")
	// live runs fn on a running cat (stdin open), then ends it.
	live := func(opts *Options, fn func(pr *Process) error) func() error {
		return func() error {
			pr, err := Start(bg, exec.Command(catPath), Base{}, opts)
			if err != nil {
				return err
			}
			defer func() { pr.Kill(); pr.Wait() }()
			return fn(pr)
		}
	}
	start := func(cmd *exec.Cmd, p ProcessProtocol, opts *Options) func() error {
		return func() error {
			pr, err := Start(bg, cmd, p, opts)
			if err != nil {
				return err
			}
			return pr.Wait()
		}
	}
	validate := func(o Options) func() error { return func() error { return o.Validate() } }
	cases := []biCase{
		// Start.
		{"nil ctx", func() error {
			//lint:ignore SA1012 a nil context is the bad input under test
			_, err := Start(nil, exec.Command(truePath), Base{}, nil) //nolint:staticcheck
			return err
		}, "err: process: invalid options: nil context.Context"},
		{"nil cmd", start(nil, Base{}, nil), "err: process: invalid options: nil *exec.Cmd"},
		{"zero cmd", start(&exec.Cmd{}, Base{}, nil), "err: process: start : exec: no command"},
		{"empty Path", start(&exec.Cmd{Args: []string{"x"}}, Base{}, nil), "err: process: start : exec: no command"},
		{"missing program", start(exec.Command("/nonexistent/weft-bi"), Base{}, nil), "err: process: start /nonexistent/weft-bi: fork/exec /nonexistent/weft-bi: no such file or directory"},
		{"lookup failed", start(exec.Command("weft-bi-no-such-program"), Base{}, nil), "err: process: start weft-bi-no-such-program: exec: \"weft-bi-no-such-program\": executable file not found in $PATH"},
		{"nil protocol", start(exec.Command(truePath), nil, nil), "err: process: invalid options: nil ProcessProtocol"},
		{"nil Stream", start(exec.Command(truePath), (*Stream)(nil), nil), "err: process: invalid options: nil *Stream or Stream.Protocol"},
		{"zero Stream", start(exec.Command(truePath), &Stream{}, nil), "err: process: invalid options: nil *Stream or Stream.Protocol"},
		{"NewStream nil", start(exec.Command(truePath), NewStream(nil), nil), "err: process: invalid options: nil *Stream or Stream.Protocol"},
		{"Stream neg ReadFD", start(exec.Command(truePath), &Stream{Protocol: biLine{}, ReadFD: -1}, nil), "err: process: invalid options: Stream.ReadFD -1 out of range [0, 255]"},
		{"Stream huge WriteFD", start(exec.Command(truePath), &Stream{Protocol: biLine{}, WriteFD: math.MaxInt}, nil), "err: process: invalid options: Stream.WriteFD 9223372036854775807 out of range [0, 255]"},
		{"Stream ReadFD is Write", start(exec.Command(truePath), &Stream{Protocol: biLine{}, ReadFD: 3}, &Options{ChildFDs: map[int]Direction{0: Write, 1: Read, 3: Write}}), "err: process: invalid options: Stream.ReadFD 3 is a write descriptor in Options.ChildFDs"},
		{"Stream WriteFD is Read", start(exec.Command(truePath), &Stream{Protocol: biLine{}, WriteFD: 2}, nil), "err: process: invalid options: Stream.WriteFD 2 is a read descriptor in Options.ChildFDs"},
		{"Stream WriteFD not piped", start(exec.Command(truePath), &Stream{Protocol: biLine{}, WriteFD: 5}, nil), "ok"},
		{"Stream reused", func() error {
			s := NewStream(biLine{})
			if err := start(exec.Command(truePath), s, nil)(); err != nil {
				return err
			}
			return start(exec.Command(truePath), s, nil)()
		}, "err: process: invalid options: Stream already ran a child: use a new Stream for each"},
		{"cmd started twice", func() error {
			cmd := exec.Command(truePath)
			if err := start(cmd, Base{}, nil)(); err != nil {
				return err
			}
			return start(cmd, Base{}, nil)()
		}, "err: process: invalid options: Cmd " + truePath + " was already started"},
		{"cancelled ctx", func() error {
			ctx, cancel := context.WithCancel(bg)
			cancel()
			_, err := Start(ctx, exec.Command(truePath), Base{}, nil)
			return err
		}, "err: process: start " + truePath + ": context canceled"},

		// Options.
		{"nil Options Validate", func() error { var o *Options; return o.Validate() }, "ok"},
		{"neg MaxWriteBuffer", validate(Options{MaxWriteBuffer: -1}), "err: process: invalid options: Options.MaxWriteBuffer -1 is negative"},
		{"neg HighWater", validate(Options{HighWater: -1}), "err: process: invalid options: Options.HighWater -1 is negative"},
		{"neg LowWater", validate(Options{LowWater: -1}), "err: process: invalid options: Options.LowWater -1 is negative"},
		{"neg ReadBufferSize", validate(Options{ReadBufferSize: -1}), "err: process: invalid options: Options.ReadBufferSize -1 is negative"},
		{"huge ReadBufferSize", validate(Options{ReadBufferSize: math.MaxInt}), "err: process: invalid options: Options.ReadBufferSize 9223372036854775807 exceeds MaxReadBufferSize"},
		{"neg WaitDelay", validate(Options{WaitDelay: -1}), "err: process: invalid options: Options.WaitDelay -1ns is negative"},
		{"low over high", validate(Options{HighWater: 10, LowWater: 20}), "err: process: invalid options: Options.LowWater 20 exceeds HighWater 10"},
		{"high over max", validate(Options{HighWater: 10, MaxWriteBuffer: 5}), "err: process: invalid options: Options.HighWater 10 exceeds MaxWriteBuffer 5"},
		{"huge water marks", validate(Options{HighWater: math.MaxInt, MaxWriteBuffer: math.MaxInt}), "ok"},
		{"neg ChildFD", validate(Options{ChildFDs: map[int]Direction{-1: Read}}), "err: process: invalid options: Options.ChildFDs: descriptor -1 out of range"},
		{"huge ChildFD", validate(Options{ChildFDs: map[int]Direction{math.MaxInt: Read}}), "err: process: invalid options: Options.ChildFDs: descriptor 9223372036854775807 out of range"},
		{"zero Direction", validate(Options{ChildFDs: map[int]Direction{1: 0}}), "err: process: invalid options: Options.ChildFDs[1]: invalid"},
		{"bad Direction", validate(Options{ChildFDs: map[int]Direction{1: 99}}), "err: process: invalid options: Options.ChildFDs[1]: invalid Direction(99)"},
		{"empty ChildFDs", start(exec.Command(truePath), Base{}, &Options{ChildFDs: map[int]Direction{}}), "ok"},
		{"Start bad Options", start(exec.Command(truePath), Base{}, &Options{HighWater: -1}), "err: process: invalid options: Options.HighWater -1 is negative"},

		// A live Process.
		{"WriteToChild neg fd", live(nil, func(pr *Process) error { return pr.WriteToChild(-1, []byte("x")) }), "err: process: no such child descriptor"},
		{"WriteToChild huge fd", live(nil, func(pr *Process) error { return pr.WriteToChild(math.MaxInt, []byte("x")) }), "err: process: no such child descriptor"},
		{"WriteToChild read fd", live(nil, func(pr *Process) error { return pr.WriteToChild(1, []byte("x")) }), "err: process: no such child descriptor"},
		{"CloseChildFD neg", live(nil, func(pr *Process) error { return pr.CloseChildFD(-1) }), "err: process: no such child descriptor"},
		{"CloseChildFD twice", live(nil, func(pr *Process) error { pr.CloseChildFD(1); return pr.CloseChildFD(1) }), "ok"},
		{"Write nil", live(nil, func(pr *Process) error { _, err := pr.Write(nil); return err }), "ok"},
		{"Write over MaxWriteBuffer", live(&Options{MaxWriteBuffer: 4}, func(pr *Process) error {
			_, err := pr.Write(make([]byte, 5))
			return err
		}), "err: process: write to descriptor 0: process: write buffer full"},
		{"Signal nil", live(nil, func(pr *Process) error { return pr.Signal(nil) }), "err: "},
		{"Signal 0", live(nil, func(pr *Process) error { return pr.Signal(syscall.Signal(0)) }), "ok"},
		{"Signal huge", live(nil, func(pr *Process) error { return pr.Signal(syscall.Signal(1 << 20)) }), "err: "},
		{"RegisterProducer nil", live(nil, func(pr *Process) error {
			pr.RegisterProducer(nil)
			pr.UnregisterProducer()
			pr.UnregisterProducer()
			return nil
		}), "ok"},
		{"Post nil", live(nil, func(pr *Process) error { pr.Post(nil); return nil }), "ok"},
		{"Pause Resume twice", live(nil, func(pr *Process) error {
			pr.ResumeReading()
			pr.PauseReading()
			pr.PauseReading()
			pr.ResumeReading()
			pr.ResumeReading()
			return nil
		}), "ok"},
		{"after end", func() error {
			pr, err := Start(bg, exec.Command(truePath), Base{}, nil)
			if err != nil {
				return err
			}
			if err := pr.Wait(); err != nil {
				return err
			}
			pr.LoseConnection()
			pr.LoseConnection()
			pr.CloseStdin()
			pr.PauseReading()
			pr.ResumeReading()
			if err := pr.Wait(); err != nil {
				return err
			}
			if _, err := pr.Write([]byte("x")); !errors.Is(err, ErrClosed) {
				return fmt.Errorf("Write after end: %v", err)
			}
			return pr.Kill()
		}, "err: process: process already exited"},

		// The zero Process.
		{"zero Process Wait", func() error { var pr Process; return pr.Wait() }, "err: process: Process not made by Start"},
		{"zero Process Kill", func() error { var pr Process; return pr.Kill() }, "err: process: Process not made by Start"},
		{"zero Process Write", func() error { var pr Process; _, err := pr.Write([]byte("x")); return err }, "err: process: Process not made by Start"},
		{"zero Process Done", func() error { var pr Process; <-pr.Done(); <-pr.Context().Done(); return context.Cause(pr.Context()) }, "err: process: Process not made by Start"},
		{"zero Process observers", func() error {
			var pr Process
			pr.Pid()
			pr.Buffered()
			pr.WriteRoom()
			pr.PauseReading()
			pr.ResumeReading()
			pr.Post(func() { panic("ran") })
			pr.LoseConnection()
			pr.RegisterProducer(nil)
			pr.UnregisterProducer()
			pr.Context()
			pr.Done()
			return pr.CloseStdin()
		}, "err: process: Process not made by Start"},

		// Helpers.
		{"ExitStatus odd", func() error {
			if c, s := ExitStatus(errors.New("x")); c != -1 || s != 0 {
				return fmt.Errorf("%d %d", c, s)
			}
			if c, s := ExitStatus((*ProcessTerminated)(nil)); c != -1 || s != 0 {
				return fmt.Errorf("nil *ProcessTerminated: %d %d", c, s)
			}
			return nil
		}, "ok"},
		{"nil ProcessTerminated", func() error { var e *ProcessTerminated; return errors.New(e.Error()) }, "err: process: <nil>"},
		{"zero ProcessTerminated", func() error { return &ProcessTerminated{} }, "err: process: exited with status 0"},
		{"Direction bad", func() error { return fmt.Errorf("%v %v", Direction(0), Direction(-1)) }, "err: Direction(0) Direction(-1)"},
		{"zero Addr", func() error { return fmt.Errorf("%s %s", Addr{}.Network(), Addr{}) }, "err: process pid 0"},
		{"zero Stream callbacks", func() error {
			var s Stream
			s.ChildDataReceived(1, []byte("x"))
			s.ChildConnectionLost(1)
			s.ProcessExited(ErrProcessDone)
			s.ProcessEnded(ErrProcessDone)
			return nil
		}, "panic: runtime error: invalid memory address"},
	}
	testenv.RunBadInput(t, cases)
}
