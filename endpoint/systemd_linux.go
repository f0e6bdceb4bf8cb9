package endpoint

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

// systemdSupported: socket activation is systemd's, on Linux.
const systemdSupported = true

// closeOnExec marks an inherited descriptor close-on-exec.
func closeOnExec(fd int) { syscall.CloseOnExec(fd) }

// adoptFD makes a listener of inherited descriptor fd, through a
// duplicate: fd itself is left as it is, whatever the outcome.
func adoptFD(fd int, network string) (net.Listener, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	switch {
	case e == syscall.EBADF:
		return nil, fmt.Errorf("descriptor %d is not open", fd)
	case e != 0:
		return nil, fmt.Errorf("descriptor %d: duplicating it: %w", fd, e)
	}
	dup := int(r)
	f := os.NewFile(uintptr(dup), "systemd:"+strconv.Itoa(fd))
	defer f.Close()
	if err := checkInherited(dup, fd, network); err != nil {
		return nil, err
	}
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("descriptor %d: %w", fd, err)
	}
	return ln, nil
}

// closeInherited closes an adopted descriptor (the listener has its own).
func closeInherited(fd int) { syscall.Close(fd) }

// checkInherited checks that fd, a duplicate of inherited descriptor name,
// is a listening stream socket of network's family, with an error that
// says what it is otherwise.
func checkInherited(fd, name int, network string) error {
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	switch {
	case errors.Is(err, syscall.EBADF):
		return fmt.Errorf("descriptor %d is not open", name)
	case errors.Is(err, syscall.ENOTSOCK):
		return fmt.Errorf("descriptor %d is not a socket", name)
	case err != nil:
		return fmt.Errorf("descriptor %d: %w", name, err)
	case typ != syscall.SOCK_STREAM:
		return fmt.Errorf("descriptor %d is not a stream socket (type %d; systemd's ListenDatagram= passes datagram sockets)", name, typ)
	}
	dom, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_DOMAIN)
	if err != nil {
		return fmt.Errorf("descriptor %d: %w", name, err)
	}
	want := map[string]int{"tcp4": syscall.AF_INET, "tcp6": syscall.AF_INET6, "unix": syscall.AF_UNIX}[network]
	if dom != want {
		return fmt.Errorf("descriptor %d is %s, not %s", name, familyName(dom), familyName(want))
	}
	acc, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	if err != nil {
		return fmt.Errorf("descriptor %d: %w", name, err)
	}
	if acc == 0 {
		return fmt.Errorf("descriptor %d is a socket that is not listening (systemd's Accept=yes passes connections, which this endpoint does not take)", name)
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
