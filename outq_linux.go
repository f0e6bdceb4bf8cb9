package weft

import (
	"net"
	"syscall"
	"unsafe"
)

// sendQueued reports whether the TCP socket fd still holds output its peer
// has not acknowledged (SIOCOUTQ, which is TIOCOUTQ on Linux). Closing such
// a socket is safe only while the peer sends nothing more: input arriving
// after the close makes the kernel reset the connection and discard that
// output (see closeLinger). A socket of another kind, or an error, reports
// false.
func sendQueued(fd int, laddr net.Addr) bool {
	if _, tcp := laddr.(*net.TCPAddr); !tcp {
		return false // a unix socket's queued output is not lost to a late write
	}
	var n int32
	_, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	return e == 0 && n > 0
}
