package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/weftkit/weft/internal/testenv"
)

// failWriter fails every write, as stdout on a full disk (/dev/full) or a
// closed pipe does.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestRunOutputError: when the counts cannot be written to stdout, run says
// so and exits with status 1. Before, the write's error was ignored: "wc >
// /dev/full" printed nothing and exited 0.
func TestRunOutputError(t *testing.T) {
	wc := testenv.LookPath(t, "wc", "coreutils")
	var errOut bytes.Buffer
	if code := run([]string{"-wc", wc}, failWriter{}, &errOut); code != 1 || !strings.Contains(errOut.String(), "no space left on device") {
		t.Errorf("run with a failing stdout = %d, stderr %q; want 1 and the write error", code, errOut.String())
	}
}
