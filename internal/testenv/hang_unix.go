//go:build unix

package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// HangingProgram writes into dir an executable script that records its
// process id, then sleeps for an hour: a child program that never ends, for
// tests of what a parent does with it on a signal. It returns the script's
// path and a function that waits (10 s at most) for the recorded pid; the
// pid is killed when the test ends, whatever happened.
func HangingProgram(t testing.TB, dir string) (path string, pid func() int) {
	t.Helper()
	sh := LookPath(t, "sh", "sh")
	sleep := LookPath(t, "sleep", "coreutils")
	pidFile := filepath.Join(dir, "hang.pid")
	path = filepath.Join(dir, "hang")
	script := "#!" + sh + "\necho $$ > " + pidFile + ".tmp && mv " + pidFile + ".tmp " + pidFile + "\nexec " + sleep + " 3600\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path, func() int {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if b, err := os.ReadFile(pidFile); err == nil {
				pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
				return pid
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not start in 10 s", path)
			}
		}
	}
}

// WaitGone waits (5 s at most) until process pid no longer exists, and fails
// the test, naming what the process was, if it still runs then. An orphan
// is reaped by init once it ends.
func WaitGone(t testing.TB, pid int, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still runs 5 s after main ended", what, pid)
		}
	}
}
