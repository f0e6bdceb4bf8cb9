package endpoint

import (
	"errors"
	"fmt"
	"syscall"
)

// systemdSupported: socket activation is systemd's, on Linux.
const systemdSupported = true

// closeOnExec marks an inherited descriptor close-on-exec.
func closeOnExec(fd int) { syscall.CloseOnExec(fd) }

// checkInherited checks that fd is a listening stream socket of network's
// family, with an error that says what it is otherwise.
func checkInherited(fd int, network string) error {
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	switch {
	case errors.Is(err, syscall.EBADF):
		return fmt.Errorf("descriptor %d is not open", fd)
	case errors.Is(err, syscall.ENOTSOCK):
		return fmt.Errorf("descriptor %d is not a socket", fd)
	case err != nil:
		return fmt.Errorf("descriptor %d: %w", fd, err)
	case typ != syscall.SOCK_STREAM:
		return fmt.Errorf("descriptor %d is not a stream socket (type %d; systemd's ListenDatagram= passes datagram sockets)", fd, typ)
	}
	dom, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_DOMAIN)
	if err != nil {
		return fmt.Errorf("descriptor %d: %w", fd, err)
	}
	want := map[string]int{"tcp4": syscall.AF_INET, "tcp6": syscall.AF_INET6, "unix": syscall.AF_UNIX}[network]
	if dom != want {
		return fmt.Errorf("descriptor %d is %s, not %s", fd, familyName(dom), familyName(want))
	}
	acc, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	if err != nil {
		return fmt.Errorf("descriptor %d: %w", fd, err)
	}
	if acc == 0 {
		return fmt.Errorf("descriptor %d is a socket that is not listening (systemd's Accept=yes passes connections, which this endpoint does not take)", fd)
	}
	return nil
}

// familyName names a socket by its address family, and by systemd's
// domain= for it.
func familyName(f int) string {
	switch f {
	case syscall.AF_INET:
		return "an AF_INET socket (domain=INET)"
	case syscall.AF_INET6:
		return "an AF_INET6 socket (domain=INET6)"
	case syscall.AF_UNIX:
		return "an AF_UNIX socket (domain=UNIX)"
	}
	return fmt.Sprintf("a socket of address family %d", f)
}
