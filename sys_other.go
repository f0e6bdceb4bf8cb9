//go:build !linux && !windows

package weft

import "syscall"

// rawSockets: a net.Conn's socket may be read and written through its
// syscall.RawConn (the goroutine engine's non-blocking reads and writes).
const rawSockets = true

func sysRead(fd int, p []byte) (int, error) { return syscall.Read(fd, p) }

func sysWrite(fd int, p []byte) (int, error) { return syscall.Write(fd, p) }

func sysClose(fd int) { syscall.Close(fd) }

// readSock reads from a socket handed over by a syscall.RawConn.
func readSock(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }

// lingerZero makes closing fd send a reset.
func lingerZero(fd int) {
	syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
}
