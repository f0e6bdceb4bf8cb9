//go:build unix

package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
)

// mainArgsEnv, when set in a child started by startMain, holds the
// command line main runs there, its arguments separated by "\x1f" (unit separator).
const mainArgsEnv = "WEFT_CMD_MAIN_ARGS"

// startMain runs main with args in a child process (this test binary,
// re-run with only the test named name, which must begin with
// runMainIfChild). stdin, stdout and stderr, when not nil, are the child's.
func startMain(t *testing.T, name string, stdin io.Reader, stdout, stderr io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	return testenv.StartSelf(t, name, stdin, stdout, stderr, mainArgsEnv+"="+strings.Join(args, "\x1f"))
}

// runMainIfChild runs main, and so never returns, in a child started by
// startMain.
func runMainIfChild() {
	if a, ok := os.LookupEnv(mainArgsEnv); ok {
		os.Args = append([]string{"weft"}, strings.Split(a, "\x1f")...)
		main()
	}
}

// TestGetInterrupted: a SIGINT or SIGTERM while "weft get poetry" waits for
// a server ends it killed by that signal (re-raised once done; status 130
// or 143 in a shell), keeps the poem it printed (complete before the
// signal, TestGetPrintsEachPoemWhenReady), and reports no failure: the
// user stopped it. Before, the downloads cut short were reported as failed
// ("context canceled", "1 of 2 downloads failed") and the status was 1, as
// for a server that failed; then it exited with status 130 or 143, which a
// shell loop does not take for Ctrl-C (TestGetCtrlCStopsShellLoop).
func TestGetInterrupted(t *testing.T) {
	runMainIfChild()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			const poem = "a whole poem\n"
			whole := poetryServer(t, poem, true)
			partial := poetryServer(t, "half a ", false)
			var stdout, stderr syncBuffer
			cmd := startMain(t, "TestGetInterrupted", nil, &stdout, &stderr,
				"get", "poetry", "tcp:"+whole.addr, "tcp:"+partial.addr)
			waitFor(t, &stdout, poem) // printed once complete
			waitFor(t, &stderr, "poem 2 from tcp:"+partial.addr+": 7 bytes")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			wantInterrupted(t, err, sig, stderr.String())
			if stdout.String() != poem {
				t.Errorf("stdout %q, want the complete poem %q", stdout.String(), poem)
			}
			checkCalm(t, stderr.String())
		})
	}
}

// TestConnectInterrupted: a SIGINT or SIGTERM ends "weft connect" killed by
// that signal (re-raised once done), as nc ends, with the replies received
// so far printed and nothing on stderr.
// Before, the status was 0, the status of a run that ended by itself (stdin
// ended and every reply came), so a script could not tell the two apart.
func TestConnectInterrupted(t *testing.T) {
	runMainIfChild()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() { // a line echo server
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := c.Write([]byte(sc.Text() + "\n")); err != nil {
						return
					}
				}
			}()
			stdinR, stdinW, err := os.Pipe() // stdin stays open
			if err != nil {
				t.Fatal(err)
			}
			defer stdinW.Close()
			var stdout, stderr syncBuffer
			cmd := startMain(t, "TestConnectInterrupted", stdinR, &stdout, &stderr, "connect", "tcp:"+ln.Addr().String())
			stdinR.Close()
			if _, err := stdinW.Write([]byte("hello\n")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, &stdout, "hello\n")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			wantInterrupted(t, cmd.Wait(), sig, stderr.String())
			if stdout.String() != "hello\n" || stderr.String() != "" {
				t.Errorf("stdout %q, stderr %q; want the reply and nothing on stderr", stdout.String(), stderr.String())
			}
		})
	}
}

// TestConnectReconnectInterrupted: the same while "weft connect
// --reconnect" waits between failed attempts: killed by the signal, and stderr
// ends with the attempts it reported (nothing about the interrupt).
func TestConnectReconnectInterrupted(t *testing.T) {
	runMainIfChild()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdinW.Close()
	var stdout, stderr syncBuffer
	cmd := startMain(t, "TestConnectReconnectInterrupted", stdinR, &stdout, &stderr, "connect", "--reconnect", "tcp:"+addr)
	stdinR.Close()
	waitFor(t, &stderr, "attempt 2:")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	wantInterrupted(t, cmd.Wait(), syscall.SIGINT, stderr.String())
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "weft: attempt ") {
		t.Errorf("stderr ends with %q, want the last attempt's report", last)
	}
}

// TestLogbotSignals: SIGINT and SIGTERM are how "weft logbot" is stopped,
// as for "weft serve": it says QUIT and exits 0, in a real process (main's
// signal handling) too.
func TestLogbotSignals(t *testing.T) {
	runMainIfChild()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			f := newIRCFake(t)
			var stdout, stderr syncBuffer
			cmd := startMain(t, "TestLogbotSignals", nil, &stdout, &stderr,
				"logbot", "--server", "tcp:"+f.ln.Addr().String(), "--channel", "#weft", "--log", filepath.Join(t.TempDir(), "bot.log"))
			f.accept()
			f.expect("NICK logbot")
			f.expect("USER logbot 0 * logbot")
			f.send(":s 001 logbot :hi")
			f.expect("JOIN #weft")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			f.expect("QUIT :weft logbot stopping")
			err := cmd.Wait()
			var ee *exec.ExitError
			if err != nil {
				t.Errorf("weft logbot after %v: %v (killed: %v), want exit status 0; stderr:\n%s", sig, err,
					errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled(), stderr.String())
			}
			if stderr.String() != "" {
				t.Errorf("stderr after %v: %q, want nothing", sig, stderr.String())
			}
		})
	}
}

// TestConnectStdoutClosedSIGPIPE: "weft connect ... | head -1": once the
// reader of its stdout is gone, the next write kills weft with SIGPIPE,
// silently, as it kills cat or nc (status 141 in a shell), however fast the
// server sends.
func TestConnectStdoutClosedSIGPIPE(t *testing.T) {
	runMainIfChild()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // a chargen: sends until the client goes
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		for {
			if _, err := c.Write([]byte(strings.Repeat("z", 70) + "\r\n")); err != nil {
				return
			}
		}
	}()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdinR, stdinW, err := os.Pipe() // stdin stays open
	if err != nil {
		t.Fatal(err)
	}
	defer stdinW.Close()
	var stderr syncBuffer
	cmd := startMain(t, "TestConnectStdoutClosedSIGPIPE", stdinR, outW, &stderr, "connect", "tcp:"+ln.Addr().String())
	outW.Close()
	stdinR.Close()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil || line != strings.Repeat("z", 70)+"\n" {
		t.Fatalf("first line %q (%v)", line, err)
	}
	outR.Close() // head -1 exits
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGPIPE {
		t.Errorf("weft connect after its stdout's reader left: %v, want killed by SIGPIPE; stderr:\n%s", err, stderr.String())
	}
	if stderr.String() != "" {
		t.Errorf("stderr %q, want nothing", stderr.String())
	}
}
