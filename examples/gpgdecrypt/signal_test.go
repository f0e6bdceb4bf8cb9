package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	sh := testenv.LookPath(t, "sh", "sh")
	sleep := testenv.LookPath(t, "sleep", "coreutils")
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	hang := filepath.Join(dir, "hang")
	script := "#!" + sh + "\necho $$ > " + pidFile + ".tmp && mv " + pidFile + ".tmp " + pidFile + "\nexec " + sleep + " 3600\n"
	if err := os.WriteFile(hang, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
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
	pid := waitPID(t, pidFile)
	defer syscall.Kill(pid, syscall.SIGKILL) // whatever happens
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
	// The orphan, if any, is reaped by init once killed: wait (bounded)
	// until the pid is gone.
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the -gpg program (pid %d) still runs 5 s after main ended", pid)
		}
	}
}

// waitPID waits (bounded) for the pid the hanging program writes.
func waitPID(t *testing.T, file string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(file); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatal("the -gpg program did not start in 10 s")
		}
	}
}
