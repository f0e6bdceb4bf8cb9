//go:build unix

package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// weft serve --listen stdio: over pipes: each line comes back on standard
// output and nothing else does (no "listening on" line); the end of
// standard input ends the connection, and then the run, with status 0.
func TestServeStdioPipes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, weftBinary(t), "serve", "echo", "--codec", "line", "--listen", "stdio:")
	stderr := new(syncBuffer)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	for _, line := range []string{"first", "second"} {
		if _, err := io.WriteString(in, line+"\n"); err != nil {
			t.Fatal(err)
		}
		if got, err := r.ReadString('\n'); got != line+"\r\n" {
			t.Fatalf("read %q, %v; want %q; stderr:\n%s", got, err, line+"\r\n", stderr)
		}
	}
	in.Close()
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil || len(rest) != 0 {
		t.Fatalf("after the end of input: exit %v, more output %q; stderr:\n%s", err, rest, stderr)
	}
}

// stdio: serves one connection: it cannot be combined with other
// listeners.
func TestServeStdioAlone(t *testing.T) {
	out, err := exec.Command(weftBinary(t), "serve", "echo", "--listen", "stdio:", "--listen", "tcp:0:interface=127.0.0.1").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "cannot be combined") {
		t.Errorf("exit %v, output %q; want a usage error (status 2)", err, out)
	}
}
