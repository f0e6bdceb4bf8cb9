//go:build unix

package endpoint

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// stdioConn takes the process's standard input and output as one
// connection. When both are one socket (inetd, systemd's Accept=yes with
// StandardInput=socket, socat's EXEC), it is that socket as a net.Conn, with
// its addresses; otherwise the two descriptors, made non-blocking (as
// Twisted's stdio does) so that a close or a deadline interrupts a read.
// Descriptors 0 and 1 are then pointed at /dev/null, so that the
// connection's close is seen by the peer (nothing else holds the socket or
// the pipes open) and nothing else in the process writes into the stream.
func stdioConn() (net.Conn, error) {
	var st0, st1 syscall.Stat_t
	if err := syscall.Fstat(0, &st0); err != nil {
		return nil, fmt.Errorf("%w: standard input: %v", ErrInvalidValue, err)
	}
	if err := syscall.Fstat(1, &st1); err != nil {
		return nil, fmt.Errorf("%w: standard output: %v", ErrInvalidValue, err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	var c net.Conn
	if st0.Mode&syscall.S_IFMT == syscall.S_IFSOCK && st0.Dev == st1.Dev && st0.Ino == st1.Ino {
		f := os.NewFile(uintptr(dupCloexec(0)), "stdio")
		c, err = net.FileConn(f) // a duplicate of its own
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: standard input is a socket net cannot use: %v", ErrInvalidValue, err)
		}
	} else {
		r, w := dupCloexec(0), dupCloexec(1)
		if r < 0 || w < 0 {
			syscall.Close(r)
			syscall.Close(w)
			return nil, fmt.Errorf("%w: cannot duplicate standard input or output", ErrInvalidValue)
		}
		// A non-blocking descriptor is polled by os.File (a pipe, a
		// terminal, a socket); a regular file stays as it is.
		syscall.SetNonblock(r, true)
		syscall.SetNonblock(w, true)
		c = &pipeConn{r: os.NewFile(uintptr(r), "stdin"), w: os.NewFile(uintptr(w), "stdout")}
	}
	nfd := int(null.Fd())
	for _, fd := range []int{0, 1} {
		if err := dup2(nfd, fd); err != nil {
			c.Close()
			return nil, fmt.Errorf("stdio: pointing descriptor %d at %s: %w", fd, os.DevNull, err)
		}
	}
	return c, nil
}

// dupCloexec duplicates fd close-on-exec, or returns -1.
func dupCloexec(fd int) int {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return -1
	}
	syscall.CloseOnExec(nfd)
	return nfd
}
