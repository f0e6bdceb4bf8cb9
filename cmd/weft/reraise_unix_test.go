//go:build unix

package main

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
)

// TestGetCtrlCStopsShellLoop: Ctrl-C (SIGINT to the foreground process
// group: the shell and weft) during "weft get" in a shell loop stops the
// loop, as it stops a loop of cat or curl: bash goes on after a child that
// handled SIGINT and exited (wait and cooperative exit), and stops only
// when the child died by the signal. Before, weft exited with status 130
// and the loop went on.
func TestGetCtrlCStopsShellLoop(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	if signal.Ignored(os.Interrupt) {
		t.Skip("SIGINT is ignored in this process: the shell would ignore it too")
	}
	weft := weftBinary(t)
	partial := poetryServer(t, "half a ", false) // the rest never comes
	const script = `for i in 1 2; do
	if [ $i = 2 ]; then echo "the loop went on"; exit 0; fi
	"$0" get poetry "$1"
done`
	var stdout, stderr syncBuffer
	cmd := exec.Command(bash, "-c", script, weft, "tcp:"+partial.addr)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, as a terminal's foreground job
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()
	waitFor(t, &stderr, "poem 1 from tcp:"+partial.addr+": 7 bytes")
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !asExit(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT || stdout.String() != "" {
		t.Errorf("bash ended with %v, stdout %q; want killed by SIGINT, the loop stopped; stderr:\n%s", err, stdout.String(), stderr.String())
	}
}

// TestNotifyContextRecordsSignal: main's context records which signal ended
// it, as its cause, for interruptStatus and the re-raise (SIGUSR1 here: a
// second SIGINT or SIGTERM would kill the test binary, the default action
// being back).
func TestNotifyContextRecordsSignal(t *testing.T) {
	ctx, stop := notifyContext(context.Background(), syscall.SIGUSR1)
	defer stop()
	if _, ok := interruptSignal(ctx); ok {
		t.Fatalf("interruptSignal reports a signal before any came")
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done() // the test's own timeout bounds the wait
	if sig, ok := interruptSignal(ctx); !ok || sig != syscall.SIGUSR1 {
		t.Errorf("interruptSignal = %v, %v; want %v (cause %v)", sig, ok, syscall.SIGUSR1, context.Cause(ctx))
	}
	if got, want := interruptStatus(ctx), 128+int(syscall.SIGUSR1); got != want {
		t.Errorf("interruptStatus = %d, want %d", got, want)
	}
}
