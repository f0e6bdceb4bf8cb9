package process

import (
	"os"
	"syscall"
	"unsafe"
)

// waitReaderless waits until the pipe f, which the parent writes, has no
// reader left: the child closed its end or exited, and no grandchild holds
// it. It reports true then, and false once f is closed by the parent (or
// cannot be watched). The runtime's poller wakes a read wait on the write
// end of a pipe only for EPOLLERR, which Linux raises when the last reader
// goes; each wake is checked with a ppoll that does not wait.
func waitReaderless(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	err = rc.Read(func(fd uintptr) bool {
		gone = readerless(fd)
		return gone
	})
	return err == nil && gone
}

// pollFd is struct pollfd.
type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

const (
	pollOut = 0x4 // POLLOUT
	pollErr = 0x8 // POLLERR
)

// readerless reports whether the write end of a pipe fd has no reader left
// (POLLERR), without waiting.
func readerless(fd uintptr) bool {
	pfd := pollFd{fd: int32(fd), events: pollOut}
	var ts syscall.Timespec // zero: do not wait
	for {
		n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		return errno == 0 && n == 1 && pfd.revents&pollErr != 0
	}
}
