package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLinesAppendedAndFileClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lf := &LogFactory{Path: path}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Factory: lf}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := "earlier\n"
	for _, msg := range []string{"one\r\ntwo\n", "three\n"} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		// Wait until this client's lines are in (the server reads them
		// asynchronously; two clients' lines have no order between them).
		want += strings.ReplaceAll(msg, "\r", "")
		for {
			b, _ := os.ReadFile(path)
			if len(b) >= len(want) || ctx.Err() != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	b, _ := os.ReadFile(path)
	if got := string(b); got != "earlier\none\ntwo\nthree\n" {
		t.Errorf("log = %q", got)
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f != nil {
		t.Error("Stop did not close the file")
	}
}
