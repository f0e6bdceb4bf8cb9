//go:build unix && !solaris

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
	for fd, st := range []*syscall.Stat_t{&st0, &st1} {
		if st.Mode&syscall.S_IFMT == syscall.S_IFSOCK {
			if err := checkStdioSocket(fd); err != nil {
				return nil, err
			}
		}
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	var c net.Conn
	if st0.Mode&syscall.S_IFMT == syscall.S_IFSOCK && st0.Dev == st1.Dev && st0.Ino == st1.Ino {
		fd := dupCloexec(0)
		if fd < 0 {
			return nil, fmt.Errorf("%w: cannot duplicate standard input", ErrInvalidValue)
		}
		f := os.NewFile(uintptr(fd), "stdio")
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
		// O_NONBLOCK belongs to the open file description, which the
		// parent shares (its terminal, a pipeline's pipe): one that was
		// blocking is made blocking again when the connection closes,
		// through a duplicate kept for it, or the parent's next read or
		// write of it would fail with EAGAIN.
		// Standard output's is restored by CloseWrite, unless it is
		// standard input's file too (a terminal): that one shares the
		// flag with the reads, which go on.
		pc := &pipeConn{}
		shared := st0.Dev == st1.Dev && st0.Ino == st1.Ino
		for _, fd := range []int{r, w} {
			if nb, known := nonblocking(fd); known && !nb {
				if spare := dupCloexec(fd); spare >= 0 {
					if fd == w && !shared {
						pc.restoreW = append(pc.restoreW, spare)
					} else {
						pc.restore = append(pc.restore, spare)
					}
				}
			}
		}
		// A non-blocking descriptor is polled by os.File (a pipe, a
		// terminal, a socket); a regular file stays as it is.
		syscall.SetNonblock(r, true)
		syscall.SetNonblock(w, true)
		pc.r, pc.w = os.NewFile(uintptr(r), "stdin"), os.NewFile(uintptr(w), "stdout")
		c = pc
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

// checkStdioSocket refuses a socket on descriptor fd (0 or 1) that is not
// a connection: a listening socket (inetd's wait services, systemd's
// Accept=no with StandardInput=socket), whose first read would fail, or a
// datagram socket.
func checkStdioSocket(fd int) error {
	which := [...]string{"standard input", "standard output"}[fd]
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	if err != nil {
		return fmt.Errorf("%w: %s is a socket: %v", ErrInvalidValue, which, err)
	}
	if typ != syscall.SOCK_STREAM {
		kind := fmt.Sprintf("a socket of type %d", typ)
		if typ == syscall.SOCK_DGRAM {
			kind = "a datagram socket"
		}
		return fmt.Errorf("%w: %s is %s, not a stream socket", ErrInvalidValue, which, kind)
	}
	if acc, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err == nil && acc != 0 {
		return fmt.Errorf("%w: %s is a listening socket, not a connection (for a socket passed to listen on, use systemd:)", ErrInvalidValue, which)
	}
	return nil
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

// setBlocking clears O_NONBLOCK on fd, a duplicate kept for it, and closes
// it.
func setBlocking(fd int) {
	syscall.SetNonblock(fd, false)
	syscall.Close(fd)
}
