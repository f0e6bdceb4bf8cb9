package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
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
	// Chunks may coalesce in one read, so only the totals are exact.
	for i, n := range sizes {
		if want := fmt.Sprintf("poem %d: ", i+1); !strings.Contains(progress.String(), want) ||
			!strings.Contains(progress.String(), fmt.Sprintf(" %d so far", n)) {
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
