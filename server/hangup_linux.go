package server

import (
	"net"
	"syscall"
)

// peerHungUp reports whether the client of a connection that is not being
// read closed its side, without consuming any byte: a non-blocking MSG_PEEK
// recv returning 0 means end of stream. Bytes still waiting (a client that
// sent data, then hung up) count as alive: they will be delivered.
func peerHungUp(nc net.Conn) bool {
	sc, ok := rawConn(nc).(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var hungUp bool
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		hungUp = (n == 0 && rerr == nil) || rerr == syscall.ECONNRESET
		return true
	})
	return hungUp || err != nil
}
