//go:build unix

package endpoint

import (
	"net"
	"syscall"
)

// setBacklog calls listen(2) again on the bound socket with the requested
// queue length; Linux and the BSDs update the backlog of a listening socket.
func setBacklog(ln net.Listener, backlog int) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), backlog) }); err != nil {
		return err
	}
	return lerr
}

// openNonblock is added to the flags of os.OpenFile for certificate and key
// files, so that opening a FIFO put in place of one never blocks (it is then
// refused as not a regular file); it has no effect on a regular file.
const openNonblock = syscall.O_NONBLOCK

// sunPathLen is the size of sun_path in struct sockaddr_un (108 on Linux, 104
// on the BSDs and macOS).
const sunPathLen = len(syscall.RawSockaddrUnix{}.Path)
