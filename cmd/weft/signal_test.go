//go:build unix

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeSecondSignalEndsShutdown: a second SIGINT during a graceful
// shutdown that is waiting for a client (one that reads nothing from
// chargen, so its output never drains) ends the process at once instead of
// after --shutdown-timeout.
func TestServeSecondSignalEndsShutdown(t *testing.T) {
	p := startServe(t, 1, "chargen", "--listen", "tcp:0:interface=127.0.0.1",
		"--shutdown-timeout", "50s", "--close-timeout", "0", "--log-level", "debug", "--stats", "50ms")
	c := dial(t, p.addrs[0])
	if _, err := c.Read(make([]byte, 1)); err != nil { // served; then reads nothing more
		t.Fatal(err)
	}
	// Wait until the socket buffers are full: bytes_out stops growing.
	for deadline := time.Now().Add(20 * time.Second); !stalled(p.stderr.String()); {
		if time.Now().After(deadline) {
			t.Fatalf("chargen's output never stalled; stderr:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The first signal was taken once the listener stopped.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), "stopped listening"); {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown after SIGINT; stderr:\n%s", p.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("second SIGINT: %v; stderr:\n%s", err, p.stderr)
	}
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if err == nil {
			t.Fatalf("exit status 0 after a second SIGINT cut the shutdown short, want killed by SIGINT")
		}
		if !asExit(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
			t.Fatalf("after a second SIGINT: %v, want killed by SIGINT", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("weft serve still running 10s after a second SIGINT (--shutdown-timeout 50s); stderr:\n%s", p.stderr)
	}
}

// stalled reports whether the last three stats lines in stderr show the
// same, non-zero bytes_out.
func stalled(stderr string) bool {
	var outs []string
	for _, l := range strings.Split(stderr, "\n") {
		if _, rest, ok := strings.Cut(l, " bytes_out="); ok && strings.HasPrefix(l, "stats:") {
			outs = append(outs, strings.Fields(rest)[0])
		}
	}
	n := len(outs)
	return n >= 3 && outs[n-1] != "0" && outs[n-1] == outs[n-2] && outs[n-2] == outs[n-3]
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

// TestServePoetryFIFOInterrupted: "weft serve poetry --file FIFO" waits in
// open(2) for a writer that may never come; a SIGINT/SIGTERM then (ctx
// done) ends the run with status 0, as it does once serving. Before, the
// signal was taken and ignored: only a second one, or a writer, ended it.
func TestServePoetryFIFOInterrupted(t *testing.T) {
	fifoInterrupted(t, "poem", func(fifo string) []string {
		return []string{"serve", "poetry", "--file", fifo, "--listen", "tcp:0:interface=127.0.0.1"}
	})
}

// fifoInterrupted runs the command args(fifo), fifo a new FIFO without a
// writer, with ctx already done (the signal came during start-up): it must
// end with status 0, not wait for the FIFO. The reader of what (left in
// open(2), or about to be) is then let end (goleak) by opening the FIFO
// for writing once it waits there, then closing it (end of file).
func fifoInterrupted(t *testing.T, what string, args func(fifo string) []string) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), what)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan int, 1)
	var out, errb syncBuffer
	go func() { done <- run(ctx, args(fifo), strings.NewReader(""), &out, &errb) }()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d, stderr %q; want 0", code, errb.String())
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0) // ENXIO until a reader waits
			if err == nil {
				w.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the %s reader never opened the FIFO: %v", what, err)
			}
		}
	case <-time.After(10 * time.Second):
		t.Errorf("%q with a FIFO still starting 10s after the signal", args(fifo))
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-done
	}
}
