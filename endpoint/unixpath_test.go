package endpoint

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A unix socket path too long for sun_path is refused by name, at parse time
// and by Listen and Dial for a Server or Client built directly, before any
// lock file is created; bind(2) would only say "invalid argument".
func TestUnixPathTooLong(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("a", 200))
	wantErr := func(what string, err error, part string) {
		t.Helper()
		var e *Error
		if !errors.Is(err, ErrInvalidValue) || !errors.As(err, &e) || e.Part != part ||
			!strings.Contains(err.Error(), "too long") {
			t.Errorf("%s: err = %v, want ErrInvalidValue about %s saying \"too long\"", what, err, part)
		}
	}
	_, err := ParseServer("unix:" + Quote(long))
	wantErr("ParseServer", err, "address")
	_, err = ParseServer("unix:@" + strings.Repeat("b", 200))
	wantErr("ParseServer abstract", err, "address")
	_, err = ParseClient("unix:" + Quote(long))
	wantErr("ParseClient", err, "path")
	s := &Server{Type: "unix", Address: long, Lockfile: true, Desc: "direct"}
	if ln, err := s.Listen(t.Context()); err == nil {
		ln.Close()
		t.Error("Server.Listen: no error")
	} else {
		wantErr("Server.Listen", err, "address")
	}
	c := &Client{Type: "unix", Path: long, Desc: "direct"}
	if conn, err := c.Dial(t.Context()); err == nil {
		conn.Close()
		t.Error("Client.Dial: no error")
	} else {
		wantErr("Client.Dial", err, "path")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files left behind: %v", ents)
	}
	// The longest path bind takes still works.
	max := sunPathLen - 1 // checked by a real bind below
	if max-len(dir)-1 < 1 {
		t.Skipf("temporary directory %s too long to test the longest path", dir)
	}
	ok := filepath.Join(dir, strings.Repeat("c", max-len(dir)-1))
	if len(ok) != max {
		t.Fatalf("len = %d, want %d", len(ok), max)
	}
	ln, _, err := Listen(t.Context(), "unix:"+Quote(ok))
	if err != nil {
		t.Fatalf("longest path (%d bytes): %v", len(ok), err)
	}
	ln.Close()
}

// A NUL byte in a socket path is refused: the kernel would stop at it, so
// Dial would connect to another socket than the one named (and a leading NUL
// names a Linux abstract socket).
func TestUnixPathNUL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	ln, _, err := Listen(t.Context(), "unix:"+Quote(path)+":lockfile=0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	if conn, err := Dial(t.Context(), "unix:"+Quote(path)+"\x00junk"); err == nil {
		conn.Close()
		t.Errorf("Dial %q connected (to %q)", path+"\x00junk", path)
	} else if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("Dial: err = %v, want ErrInvalidValue naming the NUL byte", err)
	}
	for _, d := range []string{"unix:" + Quote(path) + "\x00junk", "unix:\x00abstract"} {
		if _, err := ParseServer(d); !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("ParseServer(%q): err = %v, want ErrInvalidValue naming the NUL byte", d, err)
		}
	}
}

// Closing a listener never removes a socket file that is not its own: with
// lockfile=0, after the first listener's file was removed and a second
// listener took the path, closing the first leaves the second reachable.
func TestUnixCloseKeepsOthersSocket(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix permissions and unlink semantics")
	}
	path := filepath.Join(t.TempDir(), "s")
	desc := "unix:" + Quote(path) + ":lockfile=0"
	ln1, _, err := Listen(t.Context(), desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	ln2, _, err := Listen(t.Context(), desc)
	if err != nil {
		ln1.Close()
		t.Fatal(err)
	}
	defer ln2.Close()
	ln1.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("after closing the first listener, the second's socket file: %v", err)
	}
	go func() {
		if c, err := ln2.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the second listener: %v", err)
	}
	c.Close()
	ln2.Close()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after closing the second listener its socket file remains: %v", err)
	}
}
