//go:build linux

package endpoint

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
)

// listenUnixPerm listens on the unix socket path with mode, without a moment
// in which the socket file has more permissions than mode (bind gives it
// 0777 less the umask, and another local user could connect before a chmod):
// the socket is given mode (fchmod) before bind, which on Linux creates the
// file with the socket's mode less the umask; a chmod then adds back the
// bits the umask removed, which only widens the permissions up to mode.
func listenUnixPerm(ctx context.Context, lc *net.ListenConfig, path string, mode os.FileMode) (net.Listener, error) {
	l := *lc
	prev := l.Control
	l.Control = func(network, address string, c syscall.RawConn) error {
		if prev != nil {
			if err := prev(network, address, c); err != nil {
				return err
			}
		}
		var ferr error
		if err := c.Control(func(fd uintptr) { ferr = syscall.Fchmod(int(fd), uint32(mode.Perm())) }); err != nil {
			return err
		}
		if ferr != nil {
			return fmt.Errorf("fchmod before bind: %w", ferr)
		}
		return nil
	}
	ln, err := l.Listen(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Perm() == mode.Perm() {
		return ln, nil // the umask removed nothing: no chmod
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
