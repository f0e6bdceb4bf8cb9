//go:build linux && !386

package server

import (
	"net"
	"syscall"
	"unsafe"
)

// accept4 accepts a connection on the non-blocking listening socket lfd
// (SOCK_NONBLOCK|SOCK_CLOEXEC) and returns it with its peer's address. It
// reads the address straight from the kernel's sockaddr: syscall.Accept4
// would allocate a Sockaddr per connection only to have it converted and
// dropped, garbage that idle-connection memory carries until a GC. It is a
// raw system call: on a non-blocking socket it returns at once, and as a
// Syscall it would wake sysmon (see weft's engine, which does the same for
// its reads, writes and closes). The socket's options are sockOpts's.
func accept4(lfd int) (int, net.Addr, error) {
	var rsa syscall.RawSockaddrAny
	n := uint32(syscall.SizeofSockaddrAny)
	fd, _, e := syscall.RawSyscall6(syscall.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)),
		uintptr(unsafe.Pointer(&n)), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, nil, e
	}
	return int(fd), rawTCPAddr(&rsa), nil
}

// localAddr returns the local address of the connected socket fd (raw, as
// accept4, and without a Sockaddr to convert and drop).
func localAddr(fd int) (net.Addr, error) {
	var rsa syscall.RawSockaddrAny
	n := uint32(syscall.SizeofSockaddrAny)
	_, _, e := syscall.RawSyscall(syscall.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return nil, e
	}
	return rawTCPAddr(&rsa), nil
}

// rawTCPAddr converts a kernel sockaddr of a TCP peer.
func rawTCPAddr(rsa *syscall.RawSockaddrAny) net.Addr {
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return tcpAddr4(sa.Addr, bePort(sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return tcpAddr6(sa.Addr, bePort(sa.Port), sa.Scope_id)
	}
	return &net.TCPAddr{}
}

// bePort reads a port kept in network byte order.
func bePort(p uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return int(b[0])<<8 | int(b[1])
}
