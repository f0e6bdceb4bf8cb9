package endpoint

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// dirEvents watches dir with inotify and returns a function that reports
// the events seen so far on the entry name, as inotify masks.
func dirEvents(t *testing.T, dir, name string) func() []uint32 {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_MOVED_TO|syscall.IN_ATTRIB); err != nil {
		t.Fatalf("inotify watch: %v", err)
	}
	return func() []uint32 {
		var masks []uint32
		buf := make([]byte, 64<<10)
		for {
			n, err := syscall.Read(fd, buf)
			if errors.Is(err, syscall.EAGAIN) {
				return masks
			}
			if err != nil {
				t.Fatalf("inotify read: %v", err)
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
				nameBytes := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
				if string(bytes.TrimRight(nameBytes, "\x00")) == name {
					masks = append(masks, ev.Mask)
				}
				off += syscall.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}

// umask returns the process's umask, read from /proc (setting it to read it
// would race with other goroutines), or skips the test.
func umask(t *testing.T) os.FileMode {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("umask: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err == nil {
				return os.FileMode(m)
			}
		}
	}
	t.Skip("umask: no Umask line in /proc/self/status")
	return 0
}

// TestListenUnixModeFromTheStart: with mode=, the socket file appears at its
// path with that mode already (less the umask's bits, added back after:
// never more than mode); it is not created there with the umask's
// permissions and chmodded afterwards (a window in which another local user
// could connect). inotify sees the path's creation and any change of its
// attributes: with mode=0600 and a umask that keeps 0600 there must be no
// IN_ATTRIB on it. Nothing is left beside it but the lock file, after
// Listen, after Close, or after a failed Listen.
func TestListenUnixModeFromTheStart(t *testing.T) {
	if umask(t)&0o600 != 0 {
		t.Skip("the umask removes bits of 0600: a chmod must add them back")
	}
	dir := t.TempDir()
	const name = "m.sock"
	path := filepath.Join(dir, name)
	events := dirEvents(t, dir, name)
	for _, lock := range []string{"1", "0"} { // the lock file stays
		ln, _, err := Listen(t.Context(), "unix:"+Quote(path)+":mode=0600:lockfile="+lock)
		if err != nil {
			t.Fatalf("lockfile=%s: %v", lock, err)
		}
		checkModeFromTheStart(t, "lockfile="+lock, path, events)
		wantEntries(t, dir, name, name+".lock")
		ln.Close()
		wantEntries(t, dir, name+".lock")
	}
	// A failed Listen (a regular file in the way) leaves nothing behind.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Listen(t.Context(), "unix:"+Quote(path)+":mode=0600:lockfile=0"); !errors.Is(err, ErrAddressInUse) {
		t.Errorf("listen over a regular file: %v, want ErrAddressInUse", err)
	}
	wantEntries(t, dir, name, name+".lock")
}

// TestListenUnixModeTempDir: the way of the BSDs and macOS (listenUnixMode),
// where bind ignores the socket's mode: the socket is bound in a private
// directory, given its mode there and linked into place, so that inotify
// sees its creation at path and no change of its attributes after. The
// listener and its connections report path, not the temporary name; Close
// removes path; no temporary directory is left, after success or failure.
func TestListenUnixModeTempDir(t *testing.T) {
	dir := t.TempDir()
	const name = "t.sock"
	path := filepath.Join(dir, name)
	events := dirEvents(t, dir, name)
	var lc net.ListenConfig
	ln, err := listenUnixMode(t.Context(), &lc, path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	checkModeFromTheStart(t, "listenUnixMode", path, events)
	wantEntries(t, dir, name)
	accepted := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c.LocalAddr()
		c.Close()
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if a := <-accepted; a == nil || a.String() != path {
		t.Errorf("accepted connection's LocalAddr = %v, want %s", a, path)
	}
	// A second one fails: path is taken (the stale probe is listenUnix's).
	if ln2, err := listenUnixMode(t.Context(), &lc, path, 0o600); !errors.Is(err, ErrAddressInUse) {
		if err == nil {
			ln2.Close()
		}
		t.Errorf("second listenUnixMode on a live path: %v, want ErrAddressInUse", err)
	}
	wantEntries(t, dir, name)
	ln.Close()
	ln.Close()
	wantEntries(t, dir)
	// A bind that fails leaves no directory behind.
	lc.Control = func(string, string, syscall.RawConn) error { return errors.New("no bind") }
	if _, err := listenUnixMode(t.Context(), &lc, path, 0o600); err == nil {
		t.Error("listenUnixMode with a failing Control: no error")
	}
	wantEntries(t, dir)
}

// checkModeFromTheStart checks that path is a socket with mode 0600, and
// that events saw it created and never changed after.
func checkModeFromTheStart(t *testing.T, what, path string, events func() []uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: socket %v, %v; want a socket with mode 0600", what, fi.Mode(), err)
	}
	masks := events()
	if !slices.ContainsFunc(masks, func(m uint32) bool { return m&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0 }) {
		t.Errorf("%s: inotify saw no creation of %s (events %x)", what, path, masks)
	}
	if slices.ContainsFunc(masks, func(m uint32) bool { return m&syscall.IN_ATTRIB != 0 }) {
		t.Errorf("%s: %s changed attributes after it appeared (events %x): it was reachable with other permissions first", what, path, masks)
	}
}

// wantEntries checks that dir holds exactly the entries named (lock files
// only where flock exists).
func wantEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !haveFlock(t) {
		names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return filepath.Ext(n) == ".lock" })
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}
