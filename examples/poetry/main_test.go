package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft/protocols/poetry"
	"github.com/weftkit/weft/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServersAndConcurrentClient(t *testing.T) {
	var eps []string
	var sizes []int
	for _, f := range []string{"hope.txt", "sick-rose.txt"} {
		poem, err := os.ReadFile("../../testdata/poems/" + f)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(poem))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &server.Server{Factory: &poetry.Server{Poem: poem, Chunk: 40, Delay: time.Millisecond}}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close(); <-done })
		eps = append(eps, "tcp:"+ln.Addr().String())
	}
	var out, progress bytes.Buffer
	if err := get(context.Background(), &out, &progress, eps...); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--- poem 1 from " + eps[0], `"Hope" is the thing`, "--- poem 2 from " + eps[1], "O Rose thou art sick."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Chunks may coalesce in one read, so only the totals are exact: each
	// poem's last progress line reaches its size.
	last := map[string]string{}
	for line := range strings.Lines(progress.String()) {
		if name, _, ok := strings.Cut(line, ": "); ok {
			last[name] = line
		}
	}
	for i, n := range sizes {
		if !strings.HasSuffix(last[fmt.Sprintf("poem %d", i+1)], fmt.Sprintf(" %d so far\n", n)) {
			t.Errorf("progress lacks poem %d reaching %d bytes:\n%s", i+1, n, progress.String())
		}
	}
}

// TestServeBadFlags: a negative -chunk or -delay is an error at once, not a
// server that refuses every connection.
func TestServeBadFlags(t *testing.T) {
	file := "../../testdata/poems/hope.txt"
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a valid configuration serves until ctx ends: at once
	for _, tc := range []struct {
		chunk int
		delay time.Duration
	}{{-5, 0}, {10, -time.Second}} {
		err := serve(ctx, "127.0.0.1:0", file, tc.chunk, tc.delay)
		if !errors.Is(err, poetry.ErrConfig) {
			t.Errorf("chunk %d delay %v: err %v, want poetry.ErrConfig", tc.chunk, tc.delay, err)
		}
	}
	if err := serve(ctx, "127.0.0.1:0", file, 10, time.Millisecond); err != nil {
		t.Errorf("valid flags: %v", err)
	}
}

// TestGetNoEndpoints: "poetry get" without an endpoint is a usage error.
// Before, it printed nothing and succeeded.
func TestGetNoEndpoints(t *testing.T) {
	var out, progress bytes.Buffer
	if err := get(context.Background(), &out, &progress); err == nil {
		t.Error("get without endpoints succeeded")
	}
}

// TestServeHugeFile: a poem file past the limit (here a sparse file of
// 65 MiB) is refused at once with an error naming it, as "weft serve
// poetry" does, instead of being read whole into memory; a file that never
// ends (/dev/zero) is refused too, after reading just past the limit; a
// missing file is an error, an empty one an empty poem. Before, serve read
// any file whole: /dev/zero took all the memory.
func TestServeHugeFile(t *testing.T) {
	huge := filepath.Join(t.TempDir(), "huge.txt")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Truncate(65<<20), f.Close()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a valid poem serves until ctx ends: at once
	files := []string{huge}
	if _, err := os.Stat("/dev/zero"); err == nil {
		files = append(files, "/dev/zero")
	}
	for _, file := range files {
		err := serve(ctx, "127.0.0.1:0", file, 0, 0)
		if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("%s: serve = %v, want an error saying it is larger than the limit", file, err)
		}
	}
	// A missing file is an error; an empty one a valid (empty) poem.
	if err := serve(ctx, "127.0.0.1:0", filepath.Join(t.TempDir(), "missing"), 0, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: serve = %v, want fs.ErrNotExist", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := serve(ctx, "127.0.0.1:0", empty, 0, 0); err != nil {
		t.Errorf("empty file: serve = %v", err)
	}
}

// TestGetReportsFailure: when one server fails, the others' poems are still
// printed, the failure is reported with its endpoint, and get returns an
// error (the command exits with status 1).
func TestGetReportsFailure(t *testing.T) {
	poem, err := os.ReadFile("../../testdata/poems/sick-rose.txt")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Factory: &poetry.Server{Poem: poem}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadEP := "tcp:" + dead.Addr().String()
	dead.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, progress bytes.Buffer
	err = get(ctx, &out, &progress, deadEP, "tcp:"+ln.Addr().String())
	if err == nil || err.Error() != "1 of 2 downloads failed" {
		t.Errorf("get = %v, want 1 of 2 downloads failed", err)
	}
	if want := "--- poem 2 from tcp:" + ln.Addr().String() + " ---\n" + string(poem); out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if p := progress.String(); !strings.Contains(p, "poem 1 failed: ") || !strings.Contains(p, deadEP) || !strings.Contains(p, "refused") {
		t.Errorf("progress does not say that poem 1 from %s was refused:\n%s", deadEP, p)
	}
}

// failWriter fails every write, as stdout on a full disk (/dev/full) or a
// closed pipe does.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestGetOutputError: when a poem cannot be written to the output, get
// returns the write's error (the command exits with status 1). Before, it
// was ignored: "poetry get ... > /dev/full" lost the poems and succeeded.
func TestGetOutputError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Factory: &poetry.Server{Poem: []byte("O Rose thou art sick.\n")}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var progress bytes.Buffer
	if err := get(ctx, failWriter{}, &progress, "tcp:"+ln.Addr().String()); err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("get with a failing output = %v, want the write error", err)
	}
}
