//go:build unix

package main

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"

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
	cmd := testenv.StartSelf(t, "TestSIGTERMKillsChild", nil, nil, &stderr, "WEFT_WC_MAIN="+hang)
	pid := waitPID()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testenv.WantExit(t, cmd.Wait(), 1, stderr.String())
	if !strings.HasPrefix(stderr.String(), "wc: ") {
		t.Errorf("stderr does not say why it ended:\n%s", stderr.String())
	}
	testenv.WaitGone(t, pid, "the -wc program")
}
