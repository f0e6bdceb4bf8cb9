//go:build linux

package endpoint

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
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
	fi, err := os.Lstat(path)
	if err == nil && fi.Mode().Perm() != mode.Perm() { // the umask removed some bits
		err = os.Chmod(path, mode)
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok { // never: package net listens on "unix" with a UnixListener
		return ln, nil
	}
	ul.SetUnlinkOnClose(false)
	return &ownUnixListener{UnixListener: ul, fi: fi}, nil
}

// ownUnixListener removes its socket file on Close only if the file at the
// path is still the one it bound: net.UnixListener unlinks the path whatever
// is there, which may be the socket of another listener that took the path
// after this one's file was removed.
type ownUnixListener struct {
	*net.UnixListener
	fi   os.FileInfo
	once sync.Once
}

// Close removes the socket file if it is still this listener's, then closes
// the listener (in that order, as net.UnixListener: a listener that takes the
// path once this one is closed is not unlinked). It is safe to call more
// than once, and concurrently.
func (l *ownUnixListener) Close() error {
	l.once.Do(func() {
		path := l.Addr().String()
		if fi, err := os.Lstat(path); err == nil && os.SameFile(fi, l.fi) {
			os.Remove(path)
		}
	})
	return l.UnixListener.Close()
}
