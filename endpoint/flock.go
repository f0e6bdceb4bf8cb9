//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package endpoint

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile opens (creating) the regular file path, never through a symbolic
// link, and takes an exclusive, non-blocking flock on it; the lock is
// released when the file is closed or the process exits.
func lockFile(path string) (*os.File, error) {
	// O_NOFOLLOW: a symbolic link there (Twisted's lock is one, or a link
	// planted in a shared directory) is neither followed nor created.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("%w: lock file %s is a symbolic link, not a lock file (a Twisted server's lock?); remove it if no server uses the socket", ErrAddressInUse, path)
		}
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%w: lock file %s is not a regular file", ErrAddressInUse, path)
		}
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: lock file %s is held by another listener", ErrAddressInUse, path)
		}
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	return f, nil
}
