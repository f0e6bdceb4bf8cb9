package testenv

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// StartSelf starts this test binary again, running only the test named
// name, with env added to its environment: a test that finds its variable
// set calls main and returns, so that main runs in a child process the
// parent can signal and wait for. stdin, stdout and stderr, when not nil,
// are the child's. The child is killed if it still runs 20 s later.
func StartSelf(t testing.TB, name string, stdin io.Reader, stdout, stderr io.Writer, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
	t.Cleanup(func() { kill.Stop() })
	return cmd
}

// WantExit fails the test unless err, from a child's Wait, says it exited
// with status code (not killed by a signal); output is shown with the
// failure.
func WantExit(t testing.TB, err error, code int, output string) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() || ee.ExitCode() != code {
		t.Errorf("child ended with %v, want exit status %d (not killed by a signal); output:\n%s", err, code, output)
	}
}
