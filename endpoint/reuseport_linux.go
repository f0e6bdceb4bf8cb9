//go:build linux && !(mips || mipsle || mips64 || mips64le || sparc64)

package endpoint

import "syscall"

// soReusePort is SO_REUSEPORT on Linux (the syscall package lacks it).
const soReusePort = 0xf

const reusePortSupported = true

// reusePortControl sets SO_REUSEPORT before bind.
func reusePortControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
