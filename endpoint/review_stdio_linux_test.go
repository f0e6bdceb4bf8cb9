package endpoint

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// reviewStdioChild runs in the child of the review stdio tests, as asked by
// WEFT_REVIEW_STDIO.
func reviewStdioChild(mode string) {
	fail := func(format string, v ...any) {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", v...)
		os.Exit(1)
	}
	switch mode {
	case "restore": // one line in, then the connection closes
		ln, _, err := Listen(context.Background(), "stdio:")
		if err != nil {
			fail("%v", err)
		}
		c, err := ln.Accept()
		if err != nil {
			fail("accept: %v", err)
		}
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			fail("read: %v", err)
		}
		c.Close()
		ln.Close()
	case "listening": // descriptors 0 and 1 are a listening socket
		ln, _, err := Listen(context.Background(), "stdio:")
		if err == nil {
			c, aerr := ln.Accept()
			var rerr error
			if aerr == nil {
				_, rerr = c.Read(make([]byte, 1))
				c.Close()
			}
			ln.Close()
			fail("Listen took a listening socket as the connection (Accept: %v; Read: %v)", aerr, rerr)
		}
		if !strings.Contains(err.Error(), "listening") {
			fail("Listen err = %v, want it to say the socket is listening", err)
		}
		// Refused: standard input and output are left as they were, and
		// a later stdio: listener may try again.
		var st syscall.Stat_t
		if err := syscall.Fstat(0, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
			fail("descriptor 0 after the refusal: mode %o, %v; want the socket still", st.Mode, err)
		}
		if _, _, err := Listen(context.Background(), "stdio:"); err == nil || strings.Contains(err.Error(), "taken") {
			fail("second try: %v, want the same refusal, not \"taken\"", err)
		}
	default:
		fail("unknown mode %q", mode)
	}
	fmt.Fprintln(os.Stderr, "child ok")
	// Exit here, not through the testing package, which would report
	// (PASS, and the coverage under -cover) on standard output: here a
	// socket that takes no writes.
	os.Exit(0)
}

func getfl(t *testing.T, fd uintptr) int {
	t.Helper()
	fl, err := fcntl(int(fd), syscall.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl
}

// openPTY opens a pseudo-terminal pair, both blocking and not polled.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := syscall.Open("/dev/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	master = os.NewFile(uintptr(m), "ptmx")
	t.Cleanup(func() { master.Close() })
	var unlock int32
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(m), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Skipf("no pseudo-terminal: unlock: %v", e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(m), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Skipf("no pseudo-terminal: number: %v", e)
	}
	s, err := syscall.Open(fmt.Sprintf("/dev/pts/%d", n), syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	slave = os.NewFile(uintptr(s), "pts")
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// stdio: makes standard input and output non-blocking, as Twisted does, so
// that the runtime can poll them; but their open file descriptions are
// shared with the parent (the shell's terminal, the pipes of a pipeline).
// Left non-blocking when the connection closes, the parent's next read or
// write of its terminal fails with EAGAIN. Closing the connection puts the
// flags back as they were.
func TestReviewStdioRestoresBlocking(t *testing.T) {
	if mode := os.Getenv("WEFT_REVIEW_STDIO"); mode != "" {
		reviewStdioChild(mode)
		return
	}
	for _, kind := range []string{"pipes", "pty"} {
		t.Run(kind, func(t *testing.T) {
			var in, out, feed *os.File // the child's stdin and stdout; what writes its input
			if kind == "pipes" {
				var p1, p2 [2]int
				if err := syscall.Pipe2(p1[:], syscall.O_CLOEXEC); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Pipe2(p2[:], syscall.O_CLOEXEC); err != nil {
					t.Fatal(err)
				}
				in, feed = os.NewFile(uintptr(p1[0]), "in"), os.NewFile(uintptr(p1[1]), "feed")
				drain, w := os.NewFile(uintptr(p2[0]), "drain"), os.NewFile(uintptr(p2[1]), "out")
				out = w
				for _, f := range []*os.File{in, feed, drain, w} {
					t.Cleanup(func() { f.Close() })
				}
			} else {
				master, slave := openPTY(t)
				in, out, feed = slave, slave, master
			}
			for _, f := range []*os.File{in, out} {
				if getfl(t, f.Fd())&syscall.O_NONBLOCK != 0 {
					t.Fatalf("%s is non-blocking before the child starts", f.Name())
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReviewStdioRestoresBlocking$")
			cmd.Env = append(os.Environ(), "WEFT_REVIEW_STDIO=restore")
			cmd.Stdin, cmd.Stdout = in, out
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if _, err := feed.Write([]byte("x\n")); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil || !strings.Contains(stderr.String(), "child ok") {
				t.Fatalf("child: %v; stderr:\n%s", err, stderr.String())
			}
			for i, f := range []*os.File{in, out} {
				if getfl(t, f.Fd())&syscall.O_NONBLOCK != 0 {
					t.Errorf("%s: the child's standard %s is left non-blocking after the connection closed", kind, []string{"input", "output"}[i])
				}
			}
		})
	}
}

// A listening socket on descriptors 0 and 1 (inetd's "wait" services,
// systemd's Accept=no with StandardInput=socket) is not a connection: Listen
// says so, instead of handing out a connection whose first read fails.
func TestReviewStdioListeningSocket(t *testing.T) {
	if mode := os.Getenv("WEFT_REVIEW_STDIO"); mode != "" {
		reviewStdioChild(mode)
		return
	}
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f := fileOf(t, ln.(*net.UnixListener))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReviewStdioListeningSocket$")
	cmd.Env = append(os.Environ(), "WEFT_REVIEW_STDIO=listening")
	cmd.Stdin, cmd.Stdout = f, f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stderr.String(), "child ok") {
		t.Fatalf("child: %v; stderr:\n%s", err, stderr.String())
	}
}
