package weft_test

import (
	"bytes"
	"net"
	"syscall"
	"testing"

	"github.com/weftkit/weft"
)

// dupFD returns a non-blocking duplicate of the socket under nc, which the
// caller hands to NewConnFD.
func dupFD(t *testing.T, nc net.Conn) int {
	t.Helper()
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	var derr error
	rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) })
	if derr != nil {
		t.Fatal(derr)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	return fd
}

// startFD runs r over a duplicate of s's socket on the readiness engine
// with NewConnFD, reporting laddr as its local address.
func startFD(t *testing.T, s net.Conn, laddr net.Addr, r *recorder, opts weft.Options) <-chan error {
	t.Helper()
	opts.Engine = testEngine
	fd := dupFD(t, s)
	conn, err := weft.NewConnFD(fd, laddr, s.RemoteAddr(), r, &opts)
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	s.Close() // the connection owns its duplicate
	done := make(chan error, 1)
	conn.Start(func(reason error) { done <- reason })
	return done
}

// NewConnFD's laddr is only what the Transport reports (the caller may pass
// nil, or another address than the socket's): whether a close lingers for
// queued output must come from the socket, not from it. A TCP descriptor
// reported with no address still lingers (late input does not destroy
// the output), and a unix descriptor reported with a TCP address does not
// (its peer holds its side open and reads nothing; the linger is a minute).
func TestReview4LingerNewConnFDAddr(t *testing.T) {
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	longLinger(t)
	t.Run("tcp-nil-laddr", func(t *testing.T) {
		s, c := tcpPair(t)
		checkLateInputClose(t, s, c, func(p weft.Protocol, o *weft.Options) <-chan error {
			return startFD(t, s, nil, p.(*recorder), *o)
		})
	})
	t.Run("unix-tcp-laddr", func(t *testing.T) {
		s, c := unixPair(t)
		reply := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB, fits in the socket
		r := newRecorder(t)
		r.onMade = func(tr weft.Transport) {
			tr.Write(reply)
			tr.LoseConnection()
		}
		laddr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}
		done := startFD(t, s, laddr, r, weft.Options{})
		if reason := waitLostWithin(t, r, lingerBound); reason != nil {
			t.Errorf("ConnectionLost(%v), want nil", reason)
		}
		waitServe(t, done)
		if got, err := readAllWithin(t, c); err != nil || !bytes.Equal(got, reply) {
			t.Errorf("peer read %d of %d bytes, then %v", len(got), len(reply), err)
		}
	})
}

// mptcpPair is tcpPair with a multipath TCP client (the server's listener
// is multipath by default in Go): the accepted socket is an MPTCP one,
// whose protocol is not IPPROTO_TCP. It skips where the kernel falls back
// to TCP.
func mptcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	var d net.Dialer
	d.SetMultipathTCP(true)
	s, c := dialPair(t, nil, &d, "tcp", "127.0.0.1:0")
	t.Cleanup(func() { s.Close(); c.Close() })
	if mp, err := s.(*net.TCPConn).MultipathTCP(); err != nil || !mp {
		t.Skipf("no multipath TCP here (%v)", err)
	}
	return s, c
}

// A multipath TCP connection (a Linux client that asks for it, to a Go
// listener, which offers it by default) is TCP for the linger: late input
// after the close must not destroy the output the kernel still holds.
func TestReview4LingerMPTCP(t *testing.T) {
	longLinger(t)
	pairs := []struct {
		name string
		pair func(t testing.TB) (net.Conn, net.Conn)
	}{
		{"tcp", mptcpPair},
		{"epoll", func(t testing.TB) (net.Conn, net.Conn) {
			if testEngine == nil {
				t.Skip("no readiness engine on this platform")
			}
			s, c := mptcpPair(t)
			return engineConn{s.(*net.TCPConn)}, c
		}},
	}
	for _, tc := range pairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			checkLateInputClose(t, s, c, func(p weft.Protocol, o *weft.Options) <-chan error {
				_, done := serveConn(s, p, o)
				return done
			})
		})
	}
}
