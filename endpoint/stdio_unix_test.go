//go:build unix && !solaris

package endpoint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stdioChild is the child of TestStdioListen: it serves one stdio:
// connection, echoing each line prefixed with what it is, and reports on
// standard error.
func stdioChild() {
	fail := func(format string, v ...any) {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", v...)
		os.Exit(1)
	}
	ln, _, err := Listen(context.Background(), "stdio:")
	if err != nil {
		fail("%v", err)
	}
	if _, _, err := Listen(context.Background(), "stdio:"); !errors.Is(err, ErrAddressInUse) {
		fail("second stdio: listener: %v", err)
	}
	c, err := ln.Accept()
	if err != nil {
		fail("accept: %v", err)
	}
	kind := fmt.Sprintf("%T %s %s", c, c.LocalAddr().Network(), ln.Addr().Network())
	// Nothing else reaches the stream: descriptor 1 is /dev/null now.
	fmt.Println("stray output")
	second := make(chan error, 1)
	go func() { _, err := ln.Accept(); second <- err }()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		fmt.Fprintf(c, "%s: %s", kind, line)
	}
	select {
	case err := <-second:
		fail("second Accept returned before Close: %v", err)
	default:
	}
	c.Close()
	ln.Close()
	if err := <-second; !errors.Is(err, net.ErrClosed) {
		fail("second Accept after Close: %v", err)
	}
	fmt.Fprintln(os.Stderr, "child ok")
	os.Exit(0) // not through the testing package: see reviewStdioChild
}

// A child process served over pipes and over one socket as stdin and
// stdout (inetd's way): the lines come back, then the end of stream once
// the child closes the connection (its descriptors 0 and 1 no longer hold
// the stream), and the child's other output never reaches it.
func TestStdioListen(t *testing.T) {
	if os.Getenv("WEFT_STDIO_CHILD") != "" {
		stdioChild()
		return
	}
	for _, mode := range []string{"pipes", "socket"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStdioListen$")
			cmd.Env = append(os.Environ(), "WEFT_STDIO_CHILD=1")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			var in io.WriteCloser
			var out io.Reader
			var want string
			if mode == "pipes" {
				w, err := cmd.StdinPipe()
				if err != nil {
					t.Fatal(err)
				}
				r, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				in, out, want = w, r, "*endpoint.pipeConn stdio stdio: "
			} else {
				// No SOCK_CLOEXEC: darwin lacks it. The pair is made
				// close-on-exec under ForkLock instead.
				syscall.ForkLock.RLock()
				fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
				if err == nil {
					syscall.CloseOnExec(fds[0])
					syscall.CloseOnExec(fds[1])
				}
				syscall.ForkLock.RUnlock()
				if err != nil {
					t.Fatal(err)
				}
				mine, theirs := os.NewFile(uintptr(fds[0]), "mine"), os.NewFile(uintptr(fds[1]), "theirs")
				defer mine.Close()
				cmd.Stdin, cmd.Stdout = theirs, theirs
				c, err := net.FileConn(mine)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				in, out, want = c.(*net.UnixConn), c, "*net.UnixConn unix unix: "
				defer theirs.Close()
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if f, ok := cmd.Stdin.(*os.File); ok {
				f.Close() // the child has its own copy
			}
			br := bufio.NewReader(out)
			for _, line := range []string{"one\n", "two\n"} {
				if _, err := io.WriteString(in, line); err != nil {
					t.Fatal(err)
				}
				if got, err := br.ReadString('\n'); got != want+line {
					t.Fatalf("read %q, %v; want %q; child stderr:\n%s", got, err, want+line, stderr.String())
				}
			}
			if uc, ok := in.(*net.UnixConn); ok {
				uc.CloseWrite()
			} else {
				in.Close()
			}
			rest, err := io.ReadAll(br)
			if err != nil || len(rest) != 0 {
				t.Errorf("after the child's close: %q, %v; want the end of stream and nothing else", rest, err)
			}
			if err := cmd.Wait(); err != nil || !strings.Contains(stderr.String(), "child ok") {
				t.Errorf("child: %v; stderr:\n%s", err, stderr.String())
			}
		})
	}
}
