package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// blockingPipe is a pipe whose ends are blocking and not polled, as a
// shell makes them.
func blockingPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w = os.NewFile(uintptr(p[0]), "r"), os.NewFile(uintptr(p[1]), "w")
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func isNonblock(t *testing.T, f *os.File) bool {
	t.Helper()
	fl, _, e := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFL, 0)
	if e != 0 {
		t.Fatal(e)
	}
	return fl&syscall.O_NONBLOCK != 0
}

// weft serve --listen stdio: hands its standard input and output back
// blocking, as the shell gave them (the flag is the shell's too): when the
// server ends the connection (qotd speaks, then closes) and when SIGTERM
// ends the run mid-connection (echo).
func TestReviewServeStdioLeavesPipesBlocking(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		term bool
	}{
		{"qotd", []string{"serve", "qotd", "--quote", "hello", "--listen", "stdio:"}, false},
		{"echo-sigterm", []string{"serve", "echo", "--codec", "line", "--listen", "stdio:"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inR, inW := blockingPipe(t)
			outR, outW := blockingPipe(t)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, weftBinary(t), tt.args...)
			cmd.Stdin, cmd.Stdout = inR, outW
			stderr := new(syncBuffer)
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(outR)
			if tt.term {
				io.WriteString(inW, "ping\n")
			}
			line, err := r.ReadString('\n')
			if want := map[bool]string{false: "hello\r\n", true: "ping\r\n"}[tt.term]; line != want {
				t.Fatalf("read %q, %v; want %q; stderr:\n%s", line, err, want, stderr)
			}
			if tt.term {
				cmd.Process.Signal(syscall.SIGTERM)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit: %v; stderr:\n%s", err, stderr)
			}
			for _, f := range []*os.File{inR, outW} {
				if isNonblock(t, f) {
					what := map[*os.File]string{inR: "input", outW: "output"}[f]
					t.Errorf("standard %s is left non-blocking after weft ended; stderr:\n%s", what, strings.TrimSpace(stderr.String()))
				}
			}
		})
	}
}

// --idle-timeout applies to the stdio: connection: with standard input
// open and silent, the connection closes after the timeout (the peer
// reads the end of its output) and the run ends with status 0.
func TestReviewServeStdioIdleTimeout(t *testing.T) {
	inR, inW := blockingPipe(t)
	outR, outW := blockingPipe(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, weftBinary(t), "serve", "echo", "--idle-timeout", "200ms", "--log-level", "debug", "--listen", "stdio:")
	cmd.Stdin, cmd.Stdout = inR, outW
	stderr := new(syncBuffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close() // the child has its own: the end of stream comes from it
	rest, err := io.ReadAll(outR)
	if werr := cmd.Wait(); werr != nil || err != nil || len(rest) != 0 || !strings.Contains(stderr.String(), "idle timeout") {
		t.Errorf("exit %v; read %q, %v; want the end of stream after an idle timeout; stderr:\n%s", werr, rest, err, stderr)
	}
	_ = inW // held open: the input never ends
}
