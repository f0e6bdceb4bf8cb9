package server

import (
	"net"
	"syscall"
)

// accept4 accepts a connection on the non-blocking listening socket lfd
// (SOCK_NONBLOCK|SOCK_CLOEXEC) and returns it with its peer's address
// (linux/386 has no accept4 system call of its own: syscall goes through
// socketcall). The socket's options are sockOpts's.
func accept4(lfd int) (int, net.Addr, error) {
	fd, sa, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	if err != nil {
		return -1, nil, err
	}
	return fd, tcpAddrOf(sa), nil
}

// localAddr returns the local address of the connected socket fd.
func localAddr(fd int) (net.Addr, error) {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	return tcpAddrOf(sa), nil
}

// tcpAddrOf converts an accept4 or getsockname address.
func tcpAddrOf(sa syscall.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return tcpAddr4(sa.Addr, sa.Port)
	case *syscall.SockaddrInet6:
		return tcpAddr6(sa.Addr, sa.Port, sa.ZoneId)
	}
	return &net.TCPAddr{}
}
