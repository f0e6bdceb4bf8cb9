//go:build unix && !solaris

package endpoint

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// halfServer answers its first line, then ends its output
// (LoseWriteConnection) and goes on reading; it records what it read after.
type halfServer struct {
	t     weft.Transport
	mu    sync.Mutex
	lines int
	after []byte
	lwc   error
	lost  chan error
}

func (h *halfServer) ConnectionMade(t weft.Transport) { h.t = t }
func (h *halfServer) DataReceived(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lines > 0 {
		h.after = append(h.after, b...)
		return
	}
	h.lines++
	h.t.Write(append([]byte("got "), b...))
	h.lwc = weft.LoseWriteConnection(h.t)
}
func (h *halfServer) ConnectionLost(err error) { h.lost <- err }

// stdioHalfChild serves one stdio: connection with halfServer and reports
// on standard error.
func stdioHalfChild() {
	fail := func(format string, v ...any) {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", v...)
		os.Exit(1)
	}
	ln, _, err := Listen(context.Background(), "stdio:")
	if err != nil {
		fail("%v", err)
	}
	c, err := ln.Accept()
	if err != nil {
		fail("accept: %v", err)
	}
	h := &halfServer{lost: make(chan error, 1)}
	if err := weft.Serve(c, h, nil); err != nil {
		fail("Serve: %v", err)
	}
	ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lwc != nil {
		fail("LoseWriteConnection: %v", h.lwc)
	}
	if string(h.after) != "two\n" {
		fail("read %q after the half-close, want \"two\\n\"", h.after)
	}
	if err := <-h.lost; err != nil {
		fail("ConnectionLost(%v), want nil", err)
	}
	fmt.Fprintln(os.Stderr, "child ok")
	os.Exit(0) // not through the testing package: see reviewStdioChild
}

// stdio: over pipes half-closes, as Twisted's standard I/O does
// (loseWriteConnection): the child's LoseWriteConnection closes its
// standard output, so the parent reads the end of stream while the child
// still reads standard input; once the parent ends that too, the child's
// connection closes cleanly.
func TestStdioHalfClose(t *testing.T) {
	if os.Getenv("WEFT_STDIO_HALF") != "" {
		stdioHalfChild()
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStdioHalfClose$")
	cmd.Env = append(os.Environ(), "WEFT_STDIO_HALF=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	if _, err := io.WriteString(in, "one\n"); err != nil {
		t.Fatal(err)
	}
	if f, ok := out.(*os.File); ok {
		f.SetReadDeadline(time.Now().Add(10 * time.Second)) // fail, not hang
	}
	got, err := io.ReadAll(bufio.NewReader(out)) // the end of stream with standard input still open
	if err != nil || string(got) != "got one\n" {
		in.Close()
		t.Fatalf("read %q, %v; want \"got one\\n\", then the end of stream; child stderr:\n%s", got, err, stderr.String())
	}
	if _, err := io.WriteString(in, "two\n"); err != nil {
		t.Fatalf("writing after the child's half-close: %v", err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil || !strings.Contains(stderr.String(), "child ok") {
		t.Errorf("child: %v; stderr:\n%s", err, stderr.String())
	}
}

// CloseWrite on a pipeConn closes standard output only: the peer reads the
// end of stream, reads go on, and standard output's blocking mode is put
// back at once (it is not standard input's file, whose flag reads share);
// Close after it is no error.
func TestPipeConnCloseWrite(t *testing.T) {
	c, peerIn, peerOut := newTestPipeConn(t)
	// As stdio: does for a standard output that was blocking: a spare
	// duplicate, then the connection's descriptor made non-blocking.
	spare, err := syscall.Dup(int(c.w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	watch, err := syscall.Dup(spare) // to look at the file's flag after
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(watch)
	c.restoreW = []int{spare}
	syscall.SetNonblock(int(c.w.Fd()), true)
	if _, err := c.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite = %v", err)
	}
	if nb, known := nonblocking(watch); known && nb {
		t.Error("standard output is left non-blocking after CloseWrite")
	}
	syscall.Close(watch) // the last holder of the pipe's write end but the spare (closed by CloseWrite)
	peerOut.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(peerOut); err != nil || string(got) != "bye" {
		t.Errorf("peer read %q, %v; want \"bye\", then the end of stream", got, err)
	}
	if _, err := peerIn.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if n, err := c.Read(b); err != nil || string(b[:n]) != "x" {
		t.Errorf("Read after CloseWrite: %q, %v; want \"x\"", b[:n], err)
	}
	if _, err := c.Write([]byte("late")); err == nil {
		t.Error("Write after CloseWrite succeeded")
	}
	if err := c.CloseWrite(); err == nil {
		t.Error("a second CloseWrite = nil, want net.ErrClosed")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after CloseWrite = %v, want nil", err)
	}
}
