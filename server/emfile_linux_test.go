package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// childEMFILE serves echo with RLIMIT_NOFILE lowered to leave room for only
// a few connections; each line on stdin is answered with
// "<AcceptErrors> <Accepted>". With mode "engine" the server has a readiness
// engine, so it accepts descriptors (acceptfd_linux.go).
func childEMFILE(mode string) error {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s := &Server{Factory: echoFactory()}
	if mode == "engine" {
		e, err := weft.NewEngine()
		if err != nil {
			return err
		}
		s.Engine = e
		if err := s.init(); err != nil { // before byFD reads its state
			return err
		}
		go s.Serve(l)
		for !byFD(s) { // its descriptors are open before the limit drops
			time.Sleep(time.Millisecond)
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = uint64(len(fds)) + 3 // the ReadDir descriptor is closed again
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if s.Engine == nil {
		go s.Serve(l)
	}
	fmt.Println(l.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		snap := s.Snapshot()
		fmt.Println(snap.AcceptErrors, snap.Accepted)
	}
	return nil // the process exits; no graceful stop needed
}

// TestEMFILERecovers: a server out of descriptors (RLIMIT_NOFILE lowered in
// a child process) backs off on EMFILE instead of failing or spinning, and
// serves the waiting clients as soon as descriptors free up.
func TestEMFILERecovers(t *testing.T) {
	for _, mode := range []string{"goroutine", "engine"} {
		t.Run(mode, func(t *testing.T) { testEMFILERecovers(t, mode) })
	}
}

func testEMFILERecovers(t *testing.T, mode string) {
	_, stdin, out := startChild(t, "emfile", mode)
	addr, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	stats := func() (errs, accepted int) {
		t.Helper()
		io.WriteString(stdin, "stats\n")
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		fmt.Sscan(line, &errs, &accepted)
		return errs, accepted
	}
	const n = 8
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, strings.TrimSpace(addr))
	}
	var slots int
	waitFor(t, "EMFILE in the child", func() bool {
		errs, accepted := stats()
		slots = accepted // every accept before the first EMFILE succeeded
		return errs > 0
	})
	if slots == 0 || slots >= n {
		t.Fatalf("%d connections fit under the lowered limit; want between 1 and %d", slots, n-1)
	}
	t.Logf("%d connections fit; the others wait in the backlog", slots)
	// Serve in batches: close one batch, the next is accepted.
	for start := 0; start < n; start += slots {
		end := min(start+slots, n)
		for i := start; i < end; i++ {
			roundTrip(t, conns[i], fmt.Sprintf("conn %d served", i))
		}
		for i := start; i < end; i++ {
			conns[i].Close()
		}
	}
}
