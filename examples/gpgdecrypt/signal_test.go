//go:build unix

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
)

// TestSIGTERMKillsChild runs main in a child process (this test binary)
// with a -gpg program that hangs, and sends it SIGTERM: the program is
// killed, not left running, and main reports the failure (exit status 1).
// Before, the signal killed main at once and the hung program ran on,
// orphaned.
func TestSIGTERMKillsChild(t *testing.T) {
	if prog := os.Getenv("WEFT_GPGDECRYPT_MAIN"); prog != "" {
		os.Args = []string{"gpgdecrypt", "-gpg", prog, "-passphrase-file", os.Getenv("WEFT_GPGDECRYPT_PASS")}
		main()
		return
	}
	dir := t.TempDir()
	hang, waitPID := testenv.HangingProgram(t, dir)
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGTERMKillsChild$")
	cmd.Env = append(os.Environ(), "WEFT_GPGDECRYPT_MAIN="+hang, "WEFT_GPGDECRYPT_PASS="+passFile)
	cmd.Stdin = strings.NewReader("not really OpenPGP\n")
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
	if !strings.HasPrefix(stderr.String(), "gpgdecrypt: ") {
		t.Errorf("stderr does not say why it ended:\n%s", stderr.String())
	}
	testenv.WaitGone(t, pid, "the -gpg program")
}
