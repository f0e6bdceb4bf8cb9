//go:build unix

package endpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// maxUnixPath is the longest socket path bind(2) takes on every supported
// platform (sun_path is 104 bytes on the BSDs and macOS, 108 on Linux, with
// the terminating NUL).
const maxUnixPath = 103

// listenUnixMode listens on the unix socket path with mode, without a moment
// in which the socket is at path with other permissions (bind gives it the
// umask's, and another local user could connect before a chmod): the socket
// is bound in a new private directory (0700) beside path, chmodded there,
// then linked into place (atomic, and failing rather than replacing a file
// that appeared at path meanwhile; renamed where the file system has no
// hard links). The directory is removed whatever happens. The listener
// returned reports path as its address and that of its connections, and
// removes path on Close if it is still its socket. When the temporary path
// would be too long for a socket while path is not, the socket is bound at
// path and chmodded, as before: the umask's permissions then apply for a
// moment.
func listenUnixMode(ctx context.Context, lc *net.ListenConfig, path string, mode os.FileMode) (net.Listener, error) {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".s")
	if err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	defer os.Remove(dir)
	tmp := filepath.Join(dir, "s")
	if len(tmp) > maxUnixPath && len(path) <= maxUnixPath {
		return listenUnixChmod(ctx, lc, path, mode)
	}
	ln, err := lc.Listen(ctx, "unix", tmp)
	if err != nil {
		return nil, err
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok { // never: package net listens on "unix" with a UnixListener
		ln.Close()
		return nil, fmt.Errorf("unix listener of type %T", ln)
	}
	ul.SetUnlinkOnClose(false) // its name is tmp, removed below
	defer os.Remove(tmp)
	if err := os.Chmod(tmp, mode); err != nil {
		ul.Close()
		return nil, err
	}
	if err := placeSocket(tmp, path); err != nil {
		ul.Close()
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ul.Close()
		return nil, err
	}
	return &unixListener{UnixListener: ul, addr: &net.UnixAddr{Name: path, Net: "unix"}, fi: fi}, nil
}

// placeSocket links the socket tmp at path, failing with ErrAddressInUse if
// something is there; on a file system without hard links it renames tmp to
// path if nothing is there.
func placeSocket(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s appeared while listening", ErrAddressInUse, path)
	}
	if _, lerr := os.Lstat(path); !errors.Is(lerr, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s appeared while listening", ErrAddressInUse, path)
	}
	if rerr := os.Rename(tmp, path); rerr != nil {
		return fmt.Errorf("placing the socket: %w (link: %v)", rerr, err)
	}
	return nil
}

// unixListener is a UnixListener bound under a temporary name and linked at
// addr's path: it reports that path, for itself and its connections, and
// removes it on Close.
type unixListener struct {
	*net.UnixListener
	addr *net.UnixAddr
	fi   fs.FileInfo // the socket file, to remove only that one
	once sync.Once
}

// Addr returns the socket's path (not the temporary one it was bound to).
func (l *unixListener) Addr() net.Addr { return l.addr }

// Accept returns the next connection, with the listener's path as its local
// address.
func (l *unixListener) Accept() (net.Conn, error) {
	c, err := l.UnixListener.AcceptUnix()
	if err != nil {
		return nil, err
	}
	return &unixConn{UnixConn: c, laddr: l.addr}, nil
}

// Close closes the listener and removes its socket file, unless another
// file has replaced it. It is safe to call more than once, and concurrently.
func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, lerr := os.Lstat(l.addr.Name); lerr == nil && os.SameFile(fi, l.fi) {
			os.Remove(l.addr.Name)
		}
	})
	return err
}

// unixConn is an accepted connection of a unixListener.
type unixConn struct {
	*net.UnixConn
	laddr net.Addr
}

// LocalAddr returns the listener's path.
func (c *unixConn) LocalAddr() net.Addr { return c.laddr }
