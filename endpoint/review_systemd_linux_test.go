package endpoint

import (
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

// reviewEMFILEChild runs in the child of TestReviewSystemdAdoptEMFILE: with
// its descriptor table full, an adoption fails; the inherited socket must
// still be there, not marked adopted, and adoptable once a descriptor is
// free.
func reviewEMFILEChild() {
	fail := func(format string, v ...any) {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", v...)
		os.Exit(1)
	}
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fail("%v", err)
	}
	f, err := tl.(*net.TCPListener).File()
	if err != nil {
		fail("%v", err)
	}
	tl.Close()
	fd := int(f.Fd()) // the "inherited" socket: f is kept, never closed here
	set := readInherited(func(k string) string {
		return map[string]string{"LISTEN_PID": "1", "LISTEN_FDS": "1"}[k]
	}, 1, fd)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fail("%v", err)
	}
	low := lim
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		fail("setrlimit: %v", err)
	}
	var fillers []int
	for {
		n, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			fail("open: %v", err)
		}
		fillers = append(fillers, n)
	}
	_, err = set.adopt(&Server{Network: "tcp4"})
	if err == nil {
		fail("adopt succeeded with a full descriptor table")
	}
	if _, ferr := fcntl(fd, syscall.F_GETFD, 0); ferr != nil {
		fail("the inherited descriptor %d is gone after the failed adoption (%v): %v", fd, err, ferr)
	}
	if set.taken[0] {
		fail("the inherited descriptor is marked adopted after the failed adoption (%v)", err)
	}
	for _, n := range fillers {
		syscall.Close(n)
	}
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	ln, err := set.adopt(&Server{Network: "tcp4"})
	if err != nil {
		fail("adoption once descriptors are free: %v", err)
	}
	ln.Close()
	fmt.Fprintln(os.Stderr, "child ok")
}

// Adoption that fails for want of a descriptor (EMFILE, when net duplicates
// it) must leave the inherited socket as it was: before, the inherited
// descriptor was marked adopted and closed, the socket lost for good, and
// every later try said "adopted already".
func TestReviewSystemdAdoptEMFILE(t *testing.T) {
	if os.Getenv("WEFT_REVIEW_EMFILE") != "" {
		reviewEMFILEChild()
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReviewSystemdAdoptEMFILE$")
	cmd.Env = append(os.Environ(), "WEFT_REVIEW_EMFILE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "child ok") {
		t.Fatalf("child: %v; output:\n%s", err, out)
	}
}

// Two goroutines adopting the same inherited socket at once: exactly one
// gets it, the other is told it was adopted already.
func TestReviewSystemdAdoptConcurrent(t *testing.T) {
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	var set *inheritedSet
	base := inheritFDs(t, &set, fileOf(t, tl.(*net.TCPListener)))
	set = readInherited(func(k string) string {
		return map[string]string{"LISTEN_PID": "1", "LISTEN_FDS": "1"}[k]
	}, 1, base)
	type result struct {
		ln  net.Listener
		err error
	}
	res := make(chan result, 2)
	for range 2 {
		go func() {
			ln, err := set.adopt(&Server{Network: "tcp4"})
			res <- result{ln, err}
		}()
	}
	got := 0
	for range 2 {
		r := <-res
		if r.err == nil {
			got++
			r.ln.Close()
		} else if !strings.Contains(r.err.Error(), "adopted already") {
			t.Errorf("the other adoption: %v, want \"adopted already\"", r.err)
		}
	}
	if got != 1 {
		t.Errorf("%d adoptions succeeded, want 1", got)
	}
}

// The unix socket's file survives the adopted listener's Close, even
// through a Listen of a systemd: description (not only adopt).
func TestReviewSystemdUnixFileKept(t *testing.T) {
	if os.Getenv("WEFT_REVIEW_SD_UNIX") != "" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		ln, _, err := Listen(context.Background(), "systemd:domain=UNIX:index=0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		ln.Close()
		fmt.Fprintln(os.Stderr, "child ok")
		return
	}
	sock := filepath.Join(t.TempDir(), "s")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReviewSystemdUnixFileKept$")
	cmd.Env = append(os.Environ(), "WEFT_REVIEW_SD_UNIX=1", "LISTEN_PID=x", "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{fileOf(t, ul.(*net.UnixListener))}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "child ok") {
		t.Fatalf("child: %v; output:\n%s", err, out)
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("the socket file is gone after the child closed its adopted listener: %v", err)
	}
}
