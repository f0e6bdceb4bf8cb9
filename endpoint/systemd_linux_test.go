package endpoint

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// inheritFDs puts dups of files on consecutive free descriptors, as socket
// activation would from 3, and returns the first. Cleanup closes those not
// adopted by set (an adopted one is closed, and its number may be reused).
func inheritFDs(t *testing.T, set **inheritedSet, files ...*os.File) int {
	t.Helper()
	base := 700
	for ; ; base += 10 {
		free := true
		for i := range files {
			if _, err := fcntl(base+i, syscall.F_GETFD, 0); !errors.Is(err, syscall.EBADF) {
				free = false
			}
		}
		if free {
			break
		}
	}
	for i, f := range files {
		if err := syscall.Dup3(int(f.Fd()), base+i, syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for i := range files {
			if *set == nil || !(*set).taken[i] {
				syscall.Close(base + i)
			}
		}
	})
	return base
}

func fcntl(fd, cmd, arg int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(arg))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func fileOf(t *testing.T, c interface{ File() (*os.File, error) }) *os.File {
	t.Helper()
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestSystemdAdopt(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	t6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer t6.Close()
	cl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	conn, err := net.Dial("tcp4", cl.Addr().String()) // a connected, not listening, socket
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()

	var set *inheritedSet
	files := []*os.File{
		fileOf(t, ul.(*net.UnixListener)), fileOf(t, tl.(*net.TCPListener)), fileOf(t, t6.(*net.TCPListener)),
		fileOf(t, conn.(*net.TCPConn)), fileOf(t, udp.(*net.UDPConn)), pr,
	}
	base := inheritFDs(t, &set, files...)
	closed := base + len(files) // never opened: inheritFDs checked it was free
	n := len(files) + 1
	set = readInherited(func(k string) string {
		return map[string]string{"LISTEN_PID": "1", "LISTEN_FDS": strconv.Itoa(n),
			"LISTEN_FDNAMES": "ctl:web:web6:conn:udp:pipe:gone"}[k]
	}, 1, base)

	failures := []struct {
		sel  Server
		want string
	}{
		{Server{Network: "tcp4", FDName: "ctl"}, fmt.Sprintf("descriptor %d is an AF_UNIX socket (domain=UNIX), not an AF_INET socket (domain=INET)", base)},
		{Server{Network: "tcp4", FDName: "web6"}, "is an AF_INET6 socket (domain=INET6), not an AF_INET socket (domain=INET)"},
		{Server{Network: "unix", FDIndex: 1}, "is an AF_INET socket (domain=INET), not an AF_UNIX socket (domain=UNIX)"},
		{Server{Network: "tcp4", FDName: "conn"}, "is a socket that is not listening (systemd's Accept=yes passes connections"},
		{Server{Network: "tcp4", FDName: "udp"}, "is not a stream socket"},
		{Server{Network: "tcp4", FDName: "pipe"}, "is not a socket"},
		{Server{Network: "tcp4", FDName: "gone"}, fmt.Sprintf("descriptor %d is not open", closed)},
	}
	for _, tt := range failures {
		if ln, err := set.adopt(&tt.sel); err == nil || !strings.Contains(err.Error(), tt.want) {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("adopt(%+v) err = %v, want it to contain %q", tt.sel, err, tt.want)
		}
	}
	for i, taken := range set.taken {
		if taken {
			t.Errorf("descriptor %d marked adopted after a refusal", base+i)
		}
	}

	// The TCP listener, by name: the adopted listener serves tl's socket.
	ln, err := set.adopt(&Server{Network: "tcp4", FDName: "web"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, ok := ln.(*net.TCPListener); !ok || ln.Addr().String() != tl.Addr().String() {
		t.Errorf("adopted %T at %v, want a *net.TCPListener at %v", ln, ln.Addr(), tl.Addr())
	}
	if _, err := fcntl(base+1, syscall.F_GETFD, 0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("the inherited descriptor %d is still open after its adoption (%v)", base+1, err)
	}
	if _, err := set.adopt(&Server{Network: "tcp4", FDIndex: 1}); err == nil || !strings.Contains(err.Error(), "was adopted already") {
		t.Errorf("second adoption: err = %v, want \"was adopted already\"", err)
	}
	tl.Close() // only the adopted listener accepts from now on
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = c.Write([]byte("adopted\n"))
			c.Close()
		}
		errc <- err
	}()
	c, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(c).ReadString('\n'); line != "adopted\n" {
		t.Errorf("read %q, %v from the adopted listener", line, err)
	}
	if err := <-errc; err != nil {
		t.Error(err)
	}

	// The unix listener: closing the adopted one leaves the socket file,
	// which belongs to whoever passed it.
	uln, err := set.adopt(&Server{Network: "unix", FDIndex: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := uln.(*net.UnixListener); !ok {
		t.Errorf("adopted %T, want a *net.UnixListener", uln)
	}
	uln.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("the socket file is gone after closing the adopted listener: %v", err)
	}

	l6, err := set.adopt(&Server{Network: "tcp6", FDIndex: 2})
	if err != nil {
		t.Fatal(err)
	}
	l6.Close()
}

// Without socket activation, Listen says so (this test process has no
// LISTEN_PID, or one that is not its own).
func TestSystemdListenNotActivated(t *testing.T) {
	if os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		t.Skip("this test process was socket-activated")
	}
	_, _, err := Listen(t.Context(), "systemd:domain=INET:index=0")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrNotInherited) || e.Part != "index" || !strings.Contains(err.Error(), "LISTEN_PID") {
		t.Errorf("Listen err = %v, want ErrNotInherited at index naming LISTEN_PID", err)
	}
}

// The whole path in a child process given two listening sockets as socket
// activation gives them: descriptors 3 and 4, LISTEN_FDS, LISTEN_FDNAMES and
// LISTEN_PID (set by the child itself, which only then knows its PID, as
// systemd sets it between fork and exec).
func TestSystemdListenChild(t *testing.T) {
	if desc := os.Getenv("WEFT_SYSTEMD_CHILD"); desc != "" {
		systemdChild(desc)
		return
	}
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	ul, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSystemdListenChild$")
	cmd.Env = append(os.Environ(), "WEFT_SYSTEMD_CHILD=systemd:domain=INET:name=web",
		"LISTEN_PID=placeholder", "LISTEN_FDS=2", "LISTEN_FDNAMES=web:ctl")
	cmd.ExtraFiles = []*os.File{fileOf(t, tl.(*net.TCPListener)), fileOf(t, ul.(*net.UnixListener))}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp4", tl.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	line, rerr := bufio.NewReader(c).ReadString('\n')
	werr := cmd.Wait()
	if werr != nil || !strings.HasPrefix(line, "hello from ") || !strings.Contains(out.String(), "child ok") {
		t.Fatalf("child: %v; read %q (%v); output:\n%s", werr, line, rerr, out.String())
	}
	if pid := strings.TrimSpace(strings.TrimPrefix(line, "hello from ")); pid != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("greeted by %s, want the child %d", pid, cmd.Process.Pid)
	}
}

// systemdChild is the child of TestSystemdListenChild: it adopts desc,
// checks what adoption did to the environment and descriptors, greets one
// client and prints "child ok".
func systemdChild(desc string) {
	fail := func(format string, v ...any) {
		fmt.Printf("child: "+format+"\n", v...)
		os.Exit(1)
	}
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	ln, s, err := Listen(context.Background(), desc)
	if err != nil {
		fail("%v", err)
	}
	defer ln.Close()
	if s.FDName != "web" || s.Network != "tcp4" {
		fail("parsed %+v", *s)
	}
	for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if v, ok := os.LookupEnv(k); ok {
			fail("%s=%q still set after the adoption", k, v)
		}
	}
	// fd 4, inherited and not adopted, is close-on-exec now.
	if fl, err := fcntl(4, syscall.F_GETFD, 0); err != nil || fl&syscall.FD_CLOEXEC == 0 {
		fail("descriptor 4: flags %#x, %v: not close-on-exec", fl, err)
	}
	if _, _, err := Listen(context.Background(), desc); !errors.Is(err, ErrNotInherited) || !strings.Contains(err.Error(), "adopted already") {
		fail("second Listen: %v", err)
	}
	c, err := ln.Accept()
	if err != nil {
		fail("accept: %v", err)
	}
	fmt.Fprintf(c, "hello from %d\n", os.Getpid())
	c.Close()
	fmt.Println("child ok")
}
