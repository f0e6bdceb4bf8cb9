package server

import (
	"net"
	"syscall"
)

// accept4 accepts a connection on the non-blocking listening socket lfd
// (SOCK_NONBLOCK|SOCK_CLOEXEC) and returns it with its peer's address
// (linux/386 has no accept4 system call of its own: syscall goes through
// socketcall).
func accept4(lfd int) (int, net.Addr, error) {
	fd, sa, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	if err != nil {
		return -1, nil, err
	}
	return fd, tcpAddrOf(sa), nil
}
