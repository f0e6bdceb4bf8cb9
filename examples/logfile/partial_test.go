package main

import (
	"context"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/server"
)

// serveLog serves lf on an in-memory listener (inside a synctest bubble) and
// returns it with a function that shuts the server down and waits for it.
func serveLog(t *testing.T, lf *LogFactory) (*testenv.PipeListener, *server.Server, func()) {
	t.Helper()
	ln := testenv.NewPipeListener()
	srv := &server.Server{Factory: lf}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return ln, srv, func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-done
	}
}

// TestLastLineWithoutNewline: a client whose last line has no newline (the
// stream ends inside it) still gets that line logged. Before, it was
// dropped.
func TestLastLineWithoutNewline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		ln, _, stop := serveLog(t, &LogFactory{Path: path})
		c := ln.Dial()
		if _, err := c.Write([]byte("one\r\ntwo\nlast")); err != nil {
			t.Fatal(err)
		}
		c.Close()
		synctest.Wait() // the server read everything and saw the end
		stop()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != "one\ntwo\nlast\n" {
			t.Errorf("log = %q, want %q", got, "one\ntwo\nlast\n")
		}
	})
}

// TestWriteErrorClosesConnection: when the log file cannot be written (a
// full disk: /dev/full), the connection is closed rather than the lines
// silently thrown away. Before, the error was ignored and the client kept
// sending into nothing.
func TestWriteErrorClosesConnection(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	synctest.Test(t, func(t *testing.T) {
		var logged testenv.SyncBuffer
		ln, srv, stop := serveLog(t, &LogFactory{Path: "/dev/full", ErrorLog: log.New(&logged, "", 0)})
		defer stop()
		c := ln.Dial()
		defer c.Close()
		if _, err := c.Write([]byte("one\n")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if s := srv.Snapshot(); s.Active != 0 {
			t.Fatalf("%d connection(s) still served after the log write failed", s.Active)
		}
		if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("client read %d, %v; want the connection closed (EOF)", n, err)
		}
		if got := logged.String(); !strings.Contains(got, "writing /dev/full: ") || !strings.Contains(got, "no space left on device") {
			t.Errorf("logged %q, want the write error", got)
		}
		if n := srv.Snapshot().Closed["error"]; n != 1 {
			t.Errorf("closed with reason error: %d, want 1 (%v)", n, srv.Snapshot().Closed)
		}
	})
}

// TestLongLineLogged: a line over the limit closes the connection and says
// so in the error log; the lines before it are in the file, none of it is.
func TestLongLineLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		var logged testenv.SyncBuffer
		ln, _, stop := serveLog(t, &LogFactory{Path: path, ErrorLog: log.New(&logged, "", 0)})
		c := ln.Dial()
		go c.Write([]byte("ok\n" + strings.Repeat("x", 20000)))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("client read %d, %v; want the connection closed (EOF)", n, err)
		}
		c.Close()
		stop()
		if b, _ := os.ReadFile(path); string(b) != "ok\n" {
			t.Errorf("log = %q, want %q", b, "ok\n")
		}
		if got := logged.String(); !strings.Contains(got, "line over 16384 bytes") {
			t.Errorf("logged %q, want the over-long line", got)
		}
	})
}
