package weft

import (
	"syscall"
	"unsafe"
)

// sendQueued reports whether the TCP socket fd still holds output its peer
// has not acknowledged (SIOCOUTQ, which is TIOCOUTQ on Linux). Closing such
// a socket is safe only while the peer sends nothing more: input arriving
// after the close makes the kernel reset the connection and discard that
// output (see closeLinger). A socket of another kind (a unix socket's
// queued output is not lost to a late write), or an error, reports false.
// The kind is the socket's own, asked only once output is queued: not the
// address the Transport reports, which NewConnFD's caller chooses (nil, or
// a TCP address for a unix socket). A multipath TCP socket (Go's listeners
// offer it by default) counts as TCP.
func sendQueued(fd int) bool { return sendQueue(fd) > 0 }

// sendQueue is the number of bytes sendQueued sees: 0 for none, for a
// socket that is not TCP, or on an error.
func sendQueue(fd int) int {
	var n int32
	_, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	if e != 0 || n <= 0 {
		return 0
	}
	proto, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
	if err != nil || proto != syscall.IPPROTO_TCP && proto != ipprotoMPTCP {
		return 0
	}
	return int(n)
}

// ipprotoMPTCP is IPPROTO_MPTCP, which package syscall does not define.
const ipprotoMPTCP = 0x106
