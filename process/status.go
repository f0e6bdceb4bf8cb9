package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// ProcessTerminated is the status of a child that exited with a non-zero code
// or was killed by a signal (Twisted's ProcessTerminated), or whose output was
// cut: the Cmd's own I/O failed, or Options.WaitDelay closed a descriptor
// still held open (Cause says how; ExitCode may then be 0). It matches
// ErrProcessTerminated with errors.Is, and also Cause when set.
type ProcessTerminated struct {
	// ExitCode is the child's exit code, or -1 when it was killed by a signal.
	ExitCode int
	// Signal is the signal that killed the child, or 0 when it exited.
	Signal syscall.Signal
	// Cause says why this package killed the child: the context's cause
	// (context.Canceled, context.DeadlineExceeded, ...) when the context given
	// to Start was done before the child was reaped (even if a signal of
	// someone else's had already ended it), or the error of a failed wait (the Cmd's own
	// copying to a Stdin, Stdout or Stderr that is not an *os.File failed),
	// or, in ProcessEnded's status only, an error matching exec.ErrWaitDelay
	// naming the descriptors Options.WaitDelay closed while still open.
	// Nil otherwise (the child exited or was signalled by anyone else, Kill
	// and Signal included).
	Cause error
}

// Error describes the status, e.g. "process: exited with status 3" or
// "process: killed by signal 9 (killed)".
func (e *ProcessTerminated) Error() string {
	if e == nil {
		return "process: <nil>"
	}
	var s string
	if e.Signal != 0 {
		s = fmt.Sprintf("process: killed by signal %d (%v)", int(e.Signal), e.Signal)
	} else {
		s = fmt.Sprintf("process: exited with status %d", e.ExitCode)
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns ErrProcessTerminated and, when set, Cause.
func (e *ProcessTerminated) Unwrap() []error {
	if e == nil {
		return nil
	}
	if e.Cause != nil {
		return []error{ErrProcessTerminated, e.Cause}
	}
	return []error{ErrProcessTerminated}
}

// ExitStatus reports the exit code and signal of a status given to
// ProcessExited or ProcessEnded (or returned by Wait): 0 and 0 for
// ErrProcessDone or nil, the fields of a *ProcessTerminated, and -1 and 0 for
// any other error.
func ExitStatus(status error) (code int, sig syscall.Signal) {
	if status == nil || errors.Is(status, ErrProcessDone) {
		return 0, 0
	}
	var pt *ProcessTerminated
	if errors.As(status, &pt) && pt != nil {
		return pt.ExitCode, pt.Signal
	}
	return -1, 0
}

// statusOf turns the result of exec.Cmd.Wait into a status.
func statusOf(ps *os.ProcessState, waitErr, cause error) error {
	if ps == nil {
		if waitErr == nil {
			waitErr = errors.New("no process state")
		}
		return &ProcessTerminated{ExitCode: -1, Cause: fmt.Errorf("process: wait: %w", waitErr)}
	}
	code, sig := codeAndSignal(ps)
	if sig != syscall.SIGKILL {
		cause = nil // the package only ever sends SIGKILL
	}
	// Any other error than the exit status comes from the Cmd's own I/O (a
	// Stdout or Stderr writer that failed, Cmd.WaitDelay cutting a copy
	// short): output was lost, so it is no success even for status 0.
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		cause = errors.Join(cause, fmt.Errorf("process: wait: %w", waitErr))
	}
	if code == 0 && sig == 0 && cause == nil {
		return ErrProcessDone
	}
	return &ProcessTerminated{ExitCode: code, Signal: sig, Cause: cause}
}

// withCause returns status (ErrProcessDone or a *ProcessTerminated) with cause
// added: a *ProcessTerminated, with the same exit code and signal, whose Cause
// also matches cause.
func withCause(status, cause error) error {
	var pt *ProcessTerminated
	if errors.As(status, &pt) {
		c := *pt
		if c.Cause == nil {
			c.Cause = cause
		} else {
			c.Cause = errors.Join(c.Cause, cause)
		}
		return &c
	}
	return &ProcessTerminated{Cause: cause}
}
