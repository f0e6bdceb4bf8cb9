package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"testing"

	"github.com/weftkit/weft/internal/testenv"
)

// wantInterrupted fails the test unless err, from a child's Wait, says the
// child ended as "weft get" or "weft connect" ends when sig cut it short:
// on Unix killed by sig (re-raised once done, so that a shell stops its loop
// or script as after Ctrl-C), elsewhere with exit status 128 + sig.
func wantInterrupted(t *testing.T, err error, sig syscall.Signal, output string) {
	t.Helper()
	if !reraises {
		testenv.WantExit(t, err, 128+int(sig), output)
		return
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Errorf("child ended with %v, want killed by %v; output:\n%s", err, sig, output)
		return
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != sig {
		t.Errorf("child ended with %v (killed by a signal: %v), want killed by %v; output:\n%s", err, ws.Signaled(), sig, output)
	}
}

// TestInterruptStatusNotFromText: the status of an interrupted get or
// connect comes from the signal main recorded, not from the text of the
// context's cause: a cause that only reads like signal.NotifyContext's
// SIGTERM cause is no SIGTERM (any end of ctx that is no signal counts as
// SIGINT, as a test's cancel does). Before, interruptStatus matched the
// text "terminated signal received".
func TestInterruptStatusNotFromText(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New(syscall.SIGTERM.String() + " signal received"))
	if got := interruptStatus(ctx); got != 130 {
		t.Errorf("interruptStatus = %d for a cause that only reads like SIGTERM's, want 130", got)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(fmt.Errorf("wrapped: %w", interruption{sig}))
		if got := interruptStatus(ctx); got != 128+int(sig) {
			t.Errorf("interruptStatus = %d after %v (a wrapped cause), want %d", got, sig, 128+int(sig))
		}
	}
}
