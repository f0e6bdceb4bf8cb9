//go:build unix

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
)

// TestSIGTERMKillsChild runs main in a child process (this test binary)
// with a -wc program that hangs, and sends it SIGTERM: the program is
// killed, not left running, and main reports the failure (exit status 1).
// Before, the signal killed main at once and the hung program ran on,
// orphaned.
func TestSIGTERMKillsChild(t *testing.T) {
	if prog := os.Getenv("WEFT_WC_MAIN"); prog != "" {
		os.Args = []string{"wc", "-wc", prog}
		main()
		return
	}
	dir := t.TempDir()
	hang, waitPID := testenv.HangingProgram(t, dir)
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGTERMKillsChild$")
	cmd.Env = append(os.Environ(), "WEFT_WC_MAIN="+hang)
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill() })
	defer kill.Stop()
	pid := waitPID()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() || ee.ExitCode() != 1 {
		t.Errorf("after SIGTERM: %v, want exit status 1 (not killed by the signal); stderr:\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(stderr.String(), "wc: ") {
		t.Errorf("stderr does not say why it ended:\n%s", stderr.String())
	}
	testenv.WaitGone(t, pid, "the -wc program")
}
