package weft_test

import (
	"net"
	"syscall"
	"testing"

	"github.com/weftkit/weft"
)

// propHaveFD: the "fd-" transports of TestPropertyContract run here.
const propHaveFD = true

// propStartFD starts p on a duplicate of s's descriptor with
// weft.NewConnFD and Conn.Start (the server package's descriptor path),
// closing s; done gets the reason Start's callback receives. opts must
// name the Engine.
func propStartFD(t *testing.T, s net.Conn, p weft.Protocol, opts *weft.Options, done chan<- error) {
	t.Helper()
	sc, ok := s.(syscall.Conn)
	if !ok {
		t.Fatalf("%T has no descriptor", s)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(d uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, d, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			derr = errno
			return
		}
		fd = int(r)
	}); err != nil || derr != nil {
		t.Fatal(err, derr)
	}
	laddr, raddr := s.LocalAddr(), s.RemoteAddr()
	s.Close()
	conn, err := weft.NewConnFD(fd, laddr, raddr, p, opts)
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	conn.Start(func(err error) { done <- err })
}
