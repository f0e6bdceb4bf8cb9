package endpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// staleProbeTimeout bounds the connect that tells a live unix socket from a
// stale one.
const staleProbeTimeout = time.Second

// listenUnix listens on a unix socket path: take the lock file if asked, remove
// a stale socket file (one nobody accepts on), listen (listenUnixPerm: on
// unix-like systems the socket file is never at path with more permissions
// than its mode).
//
// Lock file semantics: with Lockfile, PATH.lock is created (mode 0600) and
// locked exclusively (flock) for the listener's lifetime; a second listener
// on the same path fails with ErrAddressInUse. The lock dies with the process,
// so a crash never leaves a stale lock; the file itself is left in place. On
// platforms without flock the lock file is not used.
func (s *Server) listenUnix(ctx context.Context, lc *net.ListenConfig) (net.Listener, error) {
	path := s.Address
	if err := checkUnixPath(path); err != nil {
		return nil, s.errorf("address", err)
	}
	if s.Mode&^os.ModePerm != 0 {
		return nil, s.errorf("mode", fmt.Errorf("%w: %#o has bits beyond the permissions (0777)", ErrInvalidValue, uint32(s.Mode)))
	}
	abstract := isAbstract(path)
	if abstract && s.Mode != 0 && s.Mode != DefaultUnixMode {
		return nil, s.errorf("mode", errAbstractMode)
	}
	var lock *os.File
	if s.Lockfile && !abstract {
		var err error
		if lock, err = lockFile(path + ".lock"); err != nil {
			return nil, err
		}
	}
	fail := func(err error) (net.Listener, error) {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	if !abstract {
		if err := removeStale(ctx, path); err != nil {
			return fail(err)
		}
	}
	var ln net.Listener
	var err error
	if abstract {
		ln, err = lc.Listen(ctx, "unix", path)
	} else {
		mode := s.Mode
		if mode == 0 {
			mode = DefaultUnixMode
		}
		ln, err = listenUnixPerm(ctx, lc, path, mode)
	}
	if err != nil {
		return fail(err)
	}
	if lock == nil {
		return ln, nil
	}
	return &lockedListener{Listener: ln, lock: lock}, nil
}

// checkUnixPath refuses a socket path that bind(2) and connect(2) cannot take
// as written: an empty one, one with a NUL byte (the kernel stops there, so
// another socket would be named; a leading NUL names a Linux abstract socket)
// and one longer than sun_path (bind and connect would only say "invalid
// argument"). A Linux abstract name (@name) may hold NULs and use all of
// sun_path; a path needs a terminating NUL in it.
func checkUnixPath(path string) error {
	if path == "" {
		return fmt.Errorf("%w: empty socket path", ErrInvalidValue)
	}
	abstract := isAbstract(path)
	if !abstract && strings.IndexByte(path, 0) >= 0 {
		return fmt.Errorf("%w: socket path %q holds a NUL byte", ErrInvalidValue, path)
	}
	limit := sunPathLen - 1
	if abstract {
		limit = sunPathLen
	}
	if len(path) > limit {
		return fmt.Errorf("%w: socket path too long (%d bytes; at most %d here)", ErrInvalidValue, len(path), limit)
	}
	return nil
}

// isAbstract reports whether path names a Linux abstract socket (@name);
// elsewhere a leading '@' is part of a file name.
func isAbstract(path string) bool {
	return strings.HasPrefix(path, "@") && (runtime.GOOS == "linux" || runtime.GOOS == "android")
}

// errAbstractMode is the reason for a mode asked of an abstract socket.
var errAbstractMode = fmt.Errorf("%w: an abstract socket (@name) has no file, so no permissions: anyone can connect to it; leave mode= out", ErrInvalidValue)

// removeStale removes path if it is a socket file on which nobody accepts
// connections. A live socket gives ErrAddressInUse; a file that is not a
// socket is never removed (ErrAddressInUse too).
func removeStale(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s exists and is not a socket", ErrAddressInUse, path)
	}
	ctx, cancel := context.WithTimeout(ctx, staleProbeTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: a server is listening on %s", ErrAddressInUse, path)
	}
	if errors.Is(err, syscall.EAGAIN) { // live, with a full accept queue
		return fmt.Errorf("%w: a busy server is listening on %s", ErrAddressInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("probing %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// lockedListener releases its lock file after closing the listener.
type lockedListener struct {
	net.Listener
	lock *os.File
}

// Close closes the listener (removing the socket file), then releases the
// lock. It is safe to call more than once, and concurrently.
func (l *lockedListener) Close() error {
	err := l.Listener.Close()
	l.lock.Close() // an *os.File tolerates repeated and concurrent Close
	return err
}

// SyscallConn returns the raw connection of the underlying socket, so that
// code tuning the listening socket (backlog=) sees through the lock.
func (l *lockedListener) SyscallConn() (syscall.RawConn, error) {
	sc, ok := l.Listener.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// listenUnixChmod listens on path, then gives the socket file its mode: until
// then it has the umask's permissions. It is listenUnixPerm where the system
// has no unix permissions to protect (Windows), and listenUnixMode's
// fallback.
func listenUnixChmod(ctx context.Context, lc *net.ListenConfig, path string, mode os.FileMode) (net.Listener, error) {
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
