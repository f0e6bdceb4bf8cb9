package weft_test

import (
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestNewConnFD: a descriptor accepted with accept4 runs on the engine
// without a net.Conn (echo, addresses, the close reaches the peer), and
// NewConnFD refuses a missing engine or descriptor without touching fd.
func TestNewConnFD(t *testing.T) {
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	if _, err := weft.NewConnFD(3, nil, nil, newRecorder(t), nil); err == nil {
		t.Error("NewConnFD without an Engine: no error")
	}
	if _, err := weft.NewConnFD(-1, nil, nil, newRecorder(t), &weft.Options{Engine: testEngine}); err == nil {
		t.Error("NewConnFD(-1): no error")
	}
	l, c := listenDial(t)
	fd := acceptFD(t, l)
	r := echoRecorder(t)
	conn, err := weft.NewConnFD(fd, l.Addr(), c.LocalAddr(), r, &weft.Options{Engine: testEngine})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	conn.Start(func(err error) { done <- err })
	tr := waitMade(t, r)
	if tr.LocalAddr().String() != l.Addr().String() || tr.RemoteAddr().String() != c.LocalAddr().String() {
		t.Errorf("addresses %v, %v; want %v, %v", tr.LocalAddr(), tr.RemoteAddr(), l.Addr(), c.LocalAddr())
	}
	if err := pingPong(c, 10); err != nil {
		t.Fatal(err)
	}
	tr.LoseConnection()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after LoseConnection the peer read %d, %v; want EOF", n, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("reason %v, want nil", err)
	}
}

// listenDial returns a loopback listener and a client connected to it (not
// yet accepted), both closed when the test ends.
func listenDial(t *testing.T) (net.Listener, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return l, c
}

// acceptFD accepts one pending connection of l with accept4.
func acceptFD(t *testing.T, l net.Listener) int {
	t.Helper()
	rc, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		fd := -1
		var aerr error
		rc.Control(func(lfd uintptr) {
			fd, _, aerr = syscall.Accept4(int(lfd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		})
		switch aerr {
		case nil:
			return fd
		case syscall.EAGAIN:
			time.Sleep(time.Millisecond)
		default:
			t.Fatal(aerr)
		}
	}
	t.Fatal("no connection to accept")
	return -1
}

// TestEngineBytesBeforeRegister: bytes and the peer's EOF that reached the
// socket before the engine registered it are read and delivered: the engine
// reads only when epoll reports readability, and registering a socket that
// is readable already reports it.
func TestEngineBytesBeforeRegister(t *testing.T) {
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	l, c := listenDial(t)
	if _, err := c.Write([]byte("early bytes")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	fd := acceptFD(t, l) // the bytes and the FIN are queued on it by now
	r := newRecorder(t)
	conn, err := weft.NewConnFD(fd, l.Addr(), c.LocalAddr(), r, &weft.Options{Engine: testEngine})
	if err != nil {
		t.Fatal(err)
	}
	conn.Start(nil)
	if err := r.waitLost(t); err != nil {
		t.Errorf("reason %v, want nil (the peer's clean close)", err)
	}
	if got := string(r.received()); got != "early bytes" {
		t.Errorf("received %q, want %q", got, "early bytes")
	}
}

// TestNewConnFDOutOfRange: a descriptor number beyond what the engine's
// table takes (and int32) is refused, not truncated to another descriptor.
func TestNewConnFDOutOfRange(t *testing.T) {
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	other, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(other)
	fds := []int{1<<30 + 1}
	if strconv.IntSize == 64 {
		shift := 32 // a variable: the constants overflow a 32-bit int
		fds = append(fds, 1<<shift+other, 1<<(shift-1))
	}
	for _, fd := range fds {
		if _, err := weft.NewConnFD(fd, nil, nil, newRecorder(t), &weft.Options{Engine: testEngine}); err == nil {
			t.Errorf("NewConnFD(%#x): no error", fd)
		}
	}
}

// TestNewConnFDClosedHighDescriptor: a closed descriptor number far above
// those in use fails Start with EBADF without growing the engine's table to
// its size (1<<20 entries would be 8 MiB; 1<<30, 8 GiB).
func TestNewConnFDClosedHighDescriptor(t *testing.T) {
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	before := weft.EngineTableLen(testEngine)
	const fd = 1 << 20 // far beyond the descriptors this test process has open
	conn, err := weft.NewConnFD(fd, nil, nil, newRecorder(t), &weft.Options{Engine: testEngine})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	conn.Start(func(err error) { done <- err })
	select {
	case err := <-done:
		if !errors.Is(err, syscall.EBADF) {
			t.Errorf("done(%v), want EBADF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start never ended the connection")
	}
	if after := weft.EngineTableLen(testEngine); after > max(before, 1<<16) {
		t.Errorf("the table grew from %d to %d entries for a closed descriptor", before, after)
	}
}
