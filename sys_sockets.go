//go:build !windows

package weft

import "syscall"

// rawSockets: a net.Conn's socket may be read and written through its
// syscall.RawConn (the goroutine engine's non-blocking reads and writes).
const rawSockets = true

// readSock reads from a socket handed over by a syscall.RawConn.
func readSock(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }

// lingerZero makes closing fd send a reset.
func lingerZero(fd int) {
	syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
}

// sysShutdownWrite half-closes a socket (a lingering close, engine.go).
func sysShutdownWrite(fd int) { syscall.Shutdown(fd, syscall.SHUT_WR) }

// sockError returns the error pending on socket fd (a reset, a keep-alive
// or retransmission timeout), clearing it, or nil if there is none.
func sockError(fd int) error {
	errno, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil || errno == 0 {
		return nil
	}
	return syscall.Errno(errno)
}
