package process

import (
	"bufio"
	"errors"
	"os/exec"
	"testing"

	"github.com/weftkit/weft"
)

// TestStreamLoseConnectionWithReason: weft.LoseConnectionWithReason on a
// Stream's Transport closes the child's input as LoseConnection does, and
// ConnectionLost, at the child's end, gets the reason: alone after exit
// status 0, together with the status otherwise. The first reason is kept.
func TestStreamLoseConnectionWithReason(t *testing.T) {
	errBye := errors.New("bye")
	errLater := errors.New("later")
	for _, tc := range []struct {
		name   string
		script string // run by sh; stdin is closed by the Protocol
		status int    // the exit status expected in the reason, 0 for none
	}{
		{"exit 0", "cat; echo done", 0},
		{"exit 3", "cat >/dev/null; echo done; exit 3", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lp := &lineProtocol{split: bufio.ScanLines, onMade: func(tr weft.Transport) {
				if _, ok := tr.(weft.ReasonCloser); !ok {
					t.Errorf("%T is not a weft.ReasonCloser", tr)
				}
				weft.LoseConnectionWithReason(tr, errBye)
				weft.LoseConnectionWithReason(tr, errLater) // the first reason is kept
			}}
			runStream(t, NewStream(lp), exec.Command(lookPath(t, "sh"), "-c", tc.script))
			if lp.lost != 1 || len(lp.lines) != 1 || lp.lines[0] != "done" {
				t.Fatalf("ConnectionLost calls %d, lines %q; want 1 and [done] (the child saw its input end)", lp.lost, lp.lines)
			}
			if !errors.Is(lp.reason, errBye) || errors.Is(lp.reason, errLater) {
				t.Fatalf("ConnectionLost(%v), want errBye (only the first reason)", lp.reason)
			}
			code, sig := ExitStatus(lp.reason)
			if tc.status == 0 {
				if lp.reason != errBye {
					t.Errorf("ConnectionLost(%v) after exit status 0, want errBye itself", lp.reason)
				}
				return
			}
			if sig != 0 || code != tc.status || !errors.Is(lp.reason, ErrProcessTerminated) {
				t.Errorf("ConnectionLost(%v): exit status %d (signal %v), want %d, matching ErrProcessTerminated too", lp.reason, code, sig, tc.status)
			}
		})
	}
}
