package endpoint

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
)

// serveEcho echoes every connection accepted on ln until ln is closed.
func serveEcho(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
}

// roundTrip dials desc, writes "ping" and expects it back.
func roundTrip(t *testing.T, desc string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, desc)
	if err != nil {
		t.Fatalf("Dial(%q): %v", desc, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

func portOf(ln net.Listener) string {
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func TestListenDialTCP(t *testing.T) {
	ln, s, err := Listen(t.Context(), "tcp:0:interface=127.0.0.1:backlog=16")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serveEcho(ln)
	if s.Network != "tcp4" {
		t.Errorf("Network = %q", s.Network)
	}
	roundTrip(t, "tcp:127.0.0.1:"+portOf(ln)+":timeout=5")
	// bindAddress= is the connection's local address: another loopback
	// address than the one the kernel would choose, where there is one
	// (Linux routes all of 127/8 to lo).
	bind := "127.0.0.1"
	if runtime.GOOS == "linux" {
		bind = "127.0.0.2"
	}
	desc := "tcp:host=127.0.0.1:port=" + portOf(ln) + ":bindAddress=" + bind
	roundTrip(t, desc)
	c, err := Dial(t.Context(), desc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.LocalAddr().(*net.TCPAddr).IP.String(); got != bind {
		t.Errorf("%s: local address %s, want %s", desc, got, bind)
	}
}

func TestListenDialTCP6(t *testing.T) {
	ln, _, err := Listen(t.Context(), `tcp6:0:interface=\:\:1`)
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln.Close()
	serveEcho(ln)
	roundTrip(t, `tcp:\:\:1:`+portOf(ln))
}

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "weft.sock")
	desc := "unix:" + Quote(path) + ":mode=600"
	ln, _, err := Listen(t.Context(), desc)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, %v; want 0600", fi.Mode(), err)
	}
	serveEcho(ln)
	roundTrip(t, "unix:"+Quote(path))
	// A second listener on a live path fails, by lock file (where there is
	// flock)...
	if _, _, err := Listen(t.Context(), desc); !errors.Is(err, ErrAddressInUse) ||
		haveFlock(t) && !strings.Contains(err.Error(), "lock file") {
		t.Errorf("second listener with lockfile: %v, want ErrAddressInUse from the lock file", err)
	}
	// ...and by probe, without lock file; the live socket is not removed.
	if _, _, err := Listen(t.Context(), desc+":lockfile=0"); !errors.Is(err, ErrAddressInUse) {
		t.Errorf("second listener without lockfile: %v, want ErrAddressInUse", err)
	}
	roundTrip(t, "unix:path="+Quote(path))
	ln.Close()
	// After Close the lock is released and the path is free again.
	ln, _, err = Listen(t.Context(), desc)
	if err != nil {
		t.Fatalf("relisten after Close: %v", err)
	}
	ln.Close()
}

// The lock file alone keeps a second listener off a path whose socket file
// was removed under a live listener (the stale-socket probe then finds
// nothing to connect to): two servers never share one socket path.
func TestListenUnixLockWithoutSocketFile(t *testing.T) {
	if !haveFlock(t) {
		t.Skip("no flock: lockfile=1 relies on the stale-socket probe only")
	}
	path := filepath.Join(t.TempDir(), "weft.sock")
	ln, _, err := Listen(t.Context(), "unix:"+Quote(path))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if ln2, _, err := Listen(t.Context(), "unix:"+Quote(path)); !errors.Is(err, ErrAddressInUse) {
		if err == nil {
			ln2.Close()
		}
		t.Errorf("second listener while the first holds the lock: %v, want ErrAddressInUse", err)
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Errorf("lock file: %v", err)
	}
}

// haveFlock reports whether lock files are used on this platform.
func haveFlock(t *testing.T) bool {
	f, err := lockFile(filepath.Join(t.TempDir(), "probe.lock"))
	if f == nil || err != nil {
		return false
	}
	f.Close()
	return true
}

func TestListenUnixStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.sock")
	// Leave a socket file nobody listens on.
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	for _, lock := range []string{"0", "1"} {
		ln, _, err := Listen(t.Context(), "unix:"+Quote(path)+":lockfile="+lock)
		if err != nil {
			t.Fatalf("lockfile=%s: stale socket not replaced: %v", lock, err)
		}
		serveEcho(ln)
		roundTrip(t, "unix:"+Quote(path))
		ln.(interface{ Close() error }).Close()
		ul, _ := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		ul.SetUnlinkOnClose(false)
		ul.Close()
	}
	// A regular file is never removed.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("keep"), 0o600)
	if _, _, err := Listen(t.Context(), "unix:"+Quote(file)); !errors.Is(err, ErrAddressInUse) {
		t.Errorf("listen over a regular file: %v, want ErrAddressInUse", err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep" {
		t.Errorf("regular file damaged: %q %v", b, err)
	}
}

// tlsEchoServer starts an echo server on a tls: endpoint of 127.0.0.1 with
// a fresh certificate for localhost and 127.0.0.1, closed at the end of the
// test, and returns the certificate's file and the port.
func tlsEchoServer(t *testing.T) (certFile, port string) {
	t.Helper()
	certFile, keyFile, _ := writeCert(t, t.TempDir())
	ln, _, err := Listen(t.Context(), "tls:0:interface=127.0.0.1:privateKey="+Quote(keyFile)+":certKey="+Quote(certFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	serveEcho(ln)
	return certFile, portOf(ln)
}

func TestListenDialTLS(t *testing.T) {
	certFile, port := tlsEchoServer(t)
	roundTrip(t, "tls:127.0.0.1:"+port+":caCerts="+Quote(certFile))
	roundTrip(t, "tls:localhost:"+port+":caCerts="+Quote(certFile))
	roundTrip(t, "tls:127.0.0.1:"+port+":insecure=yes")
	// Without the CA the handshake fails: Dial does the handshake.
	_, err := Dial(t.Context(), "tls:127.0.0.1:"+port+":timeout=10")
	var uae x509UnknownAuthority
	if err == nil || !errors.As(err, &uae) {
		t.Errorf("dial without trusted CA: %v, want unknown authority", err)
	}
}

func TestDialErrors(t *testing.T) {
	// Refused: a port nobody listens on any more.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(ln)
	ln.Close()
	if _, err := Dial(t.Context(), "tcp:127.0.0.1:"+port); err == nil || !strings.Contains(err.Error(), "tcp:127.0.0.1:"+port) {
		t.Errorf("dial refused: %v, want an error naming the description", err)
	}
	// Cancelled context.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Dial(ctx, "tcp:127.0.0.1:"+port); !errors.Is(err, context.Canceled) {
		t.Errorf("dial with cancelled ctx: %v, want context.Canceled", err)
	}
	// Timeout: a TLS server that never answers the handshake.
	silent, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		if c, err := silent.Accept(); err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	if _, err := Dial(t.Context(), "tls:127.0.0.1:"+portOf(silent)+":insecure=yes:timeout=200ms"); !errors.Is(err, ErrTimeout) {
		t.Errorf("handshake against a silent server: %v, want ErrTimeout", err)
	}
	// Parse errors come back unchanged.
	if _, err := Dial(t.Context(), "tcp:nohost"); !errors.Is(err, ErrArguments) {
		t.Errorf("dial bad description: %v", err)
	}
}

func TestReusePort(t *testing.T) {
	ln1, s, err := Listen(t.Context(), "tcp:0:interface=127.0.0.1:reuseport=yes")
	if !reusePortSupported {
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("reuseport on an unsupported platform: %v, want ErrUnsupported", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln1.Close()
	port := portOf(ln1)
	ln2, _, err := Listen(t.Context(), "tcp:"+port+":interface=127.0.0.1:reuseport=yes")
	if err != nil {
		t.Fatalf("second reuseport listener on %s (%s): %v", port, s.Address, err)
	}
	defer ln2.Close()
	if _, _, err := Listen(t.Context(), "tcp:"+port+":interface=127.0.0.1"); err == nil {
		t.Error("a listener without reuseport shared the port")
	}
}

// TestBacklog checks with ss(8) that backlog= reaches the kernel (ss shows a
// listening socket's backlog in Send-Q), for tcp and for unix sockets with and
// without the lock file (whose listener wraps the socket's).
func TestBacklog(t *testing.T) {
	ss := testenv.LookPath(t, "ss", "iproute2")
	dir := t.TempDir()
	tests := []struct {
		desc   string
		filter func(ln net.Listener) []string // ss arguments selecting ln
	}{
		{"tcp:0:interface=127.0.0.1:backlog=7", func(ln net.Listener) []string {
			return []string{"-Hltn", "sport = :" + portOf(ln)}
		}},
		{"unix:" + Quote(filepath.Join(dir, "lock.sock")) + ":backlog=7", func(ln net.Listener) []string {
			return []string{"-Hlx", "src", ln.Addr().String()}
		}},
		{"unix:" + Quote(filepath.Join(dir, "nolock.sock")) + ":backlog=7:lockfile=0", func(ln net.Listener) []string {
			return []string{"-Hlx", "src", ln.Addr().String()}
		}},
	}
	for _, tt := range tests {
		ln, _, err := Listen(t.Context(), tt.desc)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(ss, tt.filter(ln)...).CombinedOutput()
		ln.Close()
		if err != nil {
			t.Fatalf("ss: %v: %s", err, out)
		}
		// LISTEN Recv-Q Send-Q ... (unix sockets have a Netid column first).
		f := strings.Fields(string(out))
		i := slices.Index(f, "LISTEN")
		if i < 0 || i+2 >= len(f) || f[i+2] != "7" {
			t.Errorf("%s: ss output %q: want Send-Q (backlog) 7", tt.desc, out)
		}
	}
}

// Close of a unix listener holding its lock file may be called twice and
// concurrently (as a server's Shutdown and accept loop may), and then frees
// the path and the lock.
func TestListenUnixConcurrentClose(t *testing.T) {
	desc := "unix:" + Quote(filepath.Join(t.TempDir(), "c.sock"))
	ln, _, err := Listen(t.Context(), desc)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { ln.Close() })
	}
	wg.Wait()
	ln.Close()
	ln, _, err = Listen(t.Context(), desc)
	if err != nil {
		t.Fatalf("relisten after Close: %v", err)
	}
	ln.Close()
}

// A live unix server whose accept queue is full is still live: a second
// listener on its path fails with ErrAddressInUse (the probe's connect gets
// EAGAIN, not ECONNREFUSED), and the socket is kept.
func TestListenUnixBusy(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("relies on Linux failing a unix connect at once (EAGAIN) when the accept queue is full")
	}
	path := filepath.Join(t.TempDir(), "busy.sock")
	desc := "unix:" + Quote(path) + ":lockfile=0"
	ln, _, err := Listen(t.Context(), desc+":backlog=1")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Fill the accept queue (nobody accepts) until a connect is refused for
	// lack of room.
	full := false
	for range 64 {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err != nil {
			full = true
			break
		}
		defer c.Close()
	}
	if !full {
		t.Skip("the accept queue never filled up on this platform")
	}
	if _, _, err := Listen(t.Context(), desc); !errors.Is(err, ErrAddressInUse) {
		t.Errorf("listen on a live, busy socket: %v, want ErrAddressInUse", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("live socket removed: %v", err)
	}
}

// A Server built directly needs only Type and Address: an empty Network is
// derived from Type (as Client.Dial does for a Client).
func TestListenServerLiteral(t *testing.T) {
	for _, s := range []*Server{
		{Type: "tcp", Address: "127.0.0.1:0"},
		{Type: "unix", Address: filepath.Join(t.TempDir(), "lit.sock")},
	} {
		ln, err := s.Listen(t.Context())
		if err != nil {
			t.Errorf("%+v: Listen: %v", s, err)
			continue
		}
		ln.Close()
	}
}

// A symbolic link at PATH.lock (Twisted's lock is one; or a link planted in
// a shared directory) is not followed: Listen neither creates nor locks the
// file it points to, and fails naming the lock file.
func TestListenUnixLockSymlink(t *testing.T) {
	if !haveFlock(t) {
		t.Skip("no flock: no lock file")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "weft.sock")
	target := filepath.Join(dir, "elsewhere")
	if err := os.Symlink(target, path+".lock"); err != nil {
		t.Fatal(err)
	}
	ln, _, err := Listen(t.Context(), "unix:"+Quote(path))
	if err == nil {
		ln.Close()
	}
	if !errors.Is(err, ErrAddressInUse) || !strings.Contains(err.Error(), path+".lock") {
		t.Errorf("Listen with a symlink at the lock file: %v, want ErrAddressInUse naming %s.lock", err, path)
	}
	if _, serr := os.Lstat(target); serr == nil {
		t.Errorf("Listen created %s, the target of the lock file's symlink", target)
	}
}
