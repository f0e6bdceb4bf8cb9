//go:build darwin || dragonfly || freebsd || linux || netbsd

package endpoint

import "syscall"

// nonblocking reports whether fd's open file description is non-blocking,
// and whether that could be read.
func nonblocking(fd int) (nb, known bool) {
	fl, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if e != 0 {
		return false, false
	}
	return fl&syscall.O_NONBLOCK != 0, true
}
