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
	fd := r5DupFD(t, s)
	laddr, raddr := s.LocalAddr(), s.RemoteAddr()
	s.Close()
	conn, err := weft.NewConnFD(fd, laddr, raddr, p, opts)
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	conn.Start(func(err error) { done <- err })
}
