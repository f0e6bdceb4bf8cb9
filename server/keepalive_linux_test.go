package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// keepAliveOf reads the keep-alive options of the server's end of c: the
// socket of this process whose peer is c's local address; fd is it.
func keepAliveOf(t *testing.T, c net.Conn) (fd int, on bool, idle, intvl, cnt int) {
	t.Helper()
	want := c.LocalAddr().String()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		sa, err := syscall.Getpeername(fd)
		if err != nil {
			continue
		}
		in4, ok := sa.(*syscall.SockaddrInet4)
		if !ok || (&net.TCPAddr{IP: in4.Addr[:], Port: in4.Port}).String() != want {
			continue
		}
		get := func(level, opt int) int {
			v, err := syscall.GetsockoptInt(fd, level, opt)
			if err != nil {
				t.Fatalf("getsockopt(%d, %d): %v", level, opt, err)
			}
			return v
		}
		return fd, get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) != 0,
			get(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE),
			get(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL),
			get(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
	}
	t.Fatalf("no socket of this process has the peer %s", want)
	return
}

// timerOf returns the kind of timer the kernel has pending on socket fd,
// from /proc/net/tcp's "tr" field: 0 none, 1 retransmission or probe, 2 the
// keep-alive timer, and so on.
func timerOf(t *testing.T, fd int) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	inode := strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	for line := range strings.Lines(string(table)) {
		f := strings.Fields(line)
		if len(f) > 9 && f[9] == inode {
			tr, _, _ := strings.Cut(f[5], ":")
			return tr
		}
	}
	t.Fatalf("socket %s (fd %d) not in /proc/net/tcp", inode, fd)
	return ""
}

// TestKeepAlive checks Server.KeepAlive on both accept paths: Go's default
// (on, 15 s) for zero, its idle time when positive, off when negative, and
// a listener's own setting kept for zero on the listener path. Before it,
// a connection the descriptor path accepted (an Engine, the default of
// `weft serve`) had no keep-alive at all, so a client that vanished held
// its connection for ever without an IdleTimeout. The kernel's keep-alive
// timer must be pending on an idle connection that has it on (the
// descriptor path's sockets get it from the listener, see sockOpts), and
// none when it is off.
func TestKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fd        bool
		keepAlive time.Duration
		listenOff bool // the listener's ListenConfig turns keep-alive off
		on        bool
		idle      int
	}{
		{"descriptor/default", true, 0, false, true, 15},
		{"descriptor/40s", true, 40 * time.Second, false, true, 40},
		{"descriptor/1500ms", true, 1500 * time.Millisecond, false, true, 2},
		{"descriptor/off", true, -1, false, false, 0},
		{"listener/default", false, 0, false, true, 15},
		{"listener/40s", false, 40 * time.Second, false, true, 40},
		{"listener/off", false, -1, false, false, 0},
		{"listener/listener-off", false, 0, true, false, 0},
		{"listener/listener-off/40s", false, 40 * time.Second, true, true, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{Factory: echoFactory(), KeepAlive: tc.keepAlive}
			var addr string
			if tc.fd {
				addr, _, _ = fdServer(t, s)
				t.Cleanup(func() { s.Close() })
			} else {
				lc := net.ListenConfig{}
				if tc.listenOff {
					lc.KeepAlive = -1
				}
				l, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- s.Serve(l) }()
				t.Cleanup(func() {
					s.Close()
					if err := <-done; !errors.Is(err, ErrServerClosed) {
						t.Errorf("Serve returned %v, want ErrServerClosed", err)
					}
				})
				addr = l.Addr().String()
			}
			c := dial(t, addr)
			defer c.Close()
			roundTrip(t, c, "hello\n") // the server has accepted and set it up
			if byFD(s) != tc.fd {
				t.Fatalf("descriptor accept path used: %v, want %v", byFD(s), tc.fd)
			}
			fd, on, idle, intvl, cnt := keepAliveOf(t, c)
			got := fmt.Sprintf("on=%v", on)
			want := fmt.Sprintf("on=%v", tc.on)
			if tc.on {
				got += fmt.Sprintf(" idle=%d interval=%d count=%d", idle, intvl, cnt)
				want += fmt.Sprintf(" idle=%d interval=15 count=9", tc.idle)
			}
			if got != want {
				t.Errorf("server socket keep-alive: %s, want %s", got, want)
			}
			// Until the client acknowledges the echo, a retransmission
			// or loss-probe timer is pending instead.
			wantTimer := map[bool]string{true: "02", false: "00"}[tc.on]
			tr := timerOf(t, fd)
			for deadline := time.Now().Add(3 * time.Second); tr != wantTimer && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
				tr = timerOf(t, fd)
			}
			if tr != wantTimer {
				t.Errorf("server socket's pending timer %s, want %s (keep-alive %v)", tr, wantTimer, tc.on)
			}
		})
	}
}
