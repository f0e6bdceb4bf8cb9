package poetry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/poetry"
)

// rawServer runs handle on every loopback connection until the test ends and
// returns the client endpoint description.
func rawServer(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				handle(c)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "tcp:" + ln.Addr().String()
}

// TestClientOneOfSeveralFails: among several servers, one that resets the
// connection mid-poem, one that sends an endless poem, one that closes at
// once without a byte and one nobody listens on fail (or, for the empty one,
// succeed) each on its own, with an error naming the endpoint and saying
// why; the good servers' poems arrive whole. The endless poem costs at most
// MaxPoem: what is kept is at most that, and the server's writes end.
func TestClientOneOfSeveralFails(t *testing.T) {
	hope, rose := poem(t, "hope.txt"), poem(t, "sick-rose.txt")
	slow := listen(t, &poetry.Server{Poem: hope, Chunk: 50, Delay: time.Millisecond})
	fast := listen(t, &poetry.Server{Poem: rose})
	const half = "O Rose thou art"
	reset := rawServer(t, func(c net.Conn) {
		_, _ = c.Write([]byte(half))
		time.Sleep(50 * time.Millisecond)
		_ = c.(*net.TCPConn).SetLinger(0) // the close sends a reset
	})
	endlessDone := make(chan error, 1)
	endless := rawServer(t, func(c net.Conn) {
		line := bytes.Repeat([]byte("and on and on "), 1000)
		for {
			if _, err := c.Write(line); err != nil {
				endlessDone <- err
				return
			}
		}
	})
	empty := rawServer(t, func(net.Conn) {})
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadEP := "tcp:" + dead.Addr().String()
	dead.Close()

	const maxPoem = 256 << 10
	c := poetry.Client{MaxPoem: maxPoem, IdleTimeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eps := []string{slow, reset, endless, fast, empty, deadEP}
	res := c.Get(ctx, eps...)
	for i, r := range res {
		if r.Endpoint != eps[i] {
			t.Errorf("result %d from %s, want %s", i, r.Endpoint, eps[i])
		}
		if r.Err != nil && !strings.Contains(r.Err.Error(), eps[i]) {
			t.Errorf("result %d: error %q does not name %s", i, r.Err, eps[i])
		}
	}
	if r := res[0]; r.Err != nil || !bytes.Equal(r.Poem, hope) {
		t.Errorf("slow: %d bytes, %v; want the poem", len(r.Poem), r.Err)
	}
	if r := res[1]; r.Err == nil || errors.Is(r.Err, weft.ErrIdleTimeout) || !strings.HasPrefix(half, string(r.Poem)) {
		t.Errorf("reset: %q, %v; want a network error and (a part of) %q", r.Poem, r.Err, half)
	}
	if r := res[2]; !errors.Is(r.Err, poetry.ErrPoemTooLarge) || len(r.Poem) > maxPoem ||
		!strings.Contains(r.Err.Error(), "more than 262144 bytes") {
		t.Errorf("endless: %d bytes kept, %v; want ErrPoemTooLarge, at most %d bytes", len(r.Poem), r.Err, maxPoem)
	}
	if r := res[3]; r.Err != nil || !bytes.Equal(r.Poem, rose) {
		t.Errorf("fast: %q, %v; want the poem", r.Poem, r.Err)
	}
	if r := res[4]; r.Err != nil || len(r.Poem) != 0 {
		t.Errorf("empty: %q, %v; want an empty poem", r.Poem, r.Err)
	}
	if r := res[5]; r.Err == nil || !strings.Contains(r.Err.Error(), "refused") {
		t.Errorf("dead: %v; want connection refused", r.Err)
	}
	select {
	case err := <-endlessDone:
		if ne, ok := err.(net.Error); err == nil || ok && ne.Timeout() {
			t.Errorf("endless server: write error %v; want the client's reset, not its own deadline", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("the endless server still writes 20 s after the client gave up")
	}
}

// TestServerManyClients: 200 clients at once, slow mode, each gets the whole
// poem (the servers share one Poem slice; each has its own position).
func TestServerManyClients(t *testing.T) {
	hope := poem(t, "hope.txt")
	ep := listen(t, &poetry.Server{Poem: hope, Chunk: 37, Delay: time.Millisecond})
	eps := make([]string, 200)
	for i := range eps {
		eps[i] = ep
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, r := range poetry.GetPoetry(ctx, eps...) {
		if r.Err != nil || !bytes.Equal(r.Poem, hope) {
			t.Errorf("client %d: %d bytes, %v", i, len(r.Poem), r.Err)
		}
	}
}

// TestServerClientClosesAtOnce: a client that connects and hangs up at
// once ends the connection in every mode (small poem, big poem through the
// Gate, slow), at once in fake time, with no goroutine or timer left behind
// (synctest would report it).
func TestServerClientClosesAtOnce(t *testing.T) {
	big := bytes.Repeat([]byte("So much depends upon a red wheel barrow\n"), 3<<20/40)
	for _, tc := range []struct {
		name string
		s    *poetry.Server
	}{
		{"fast small", &poetry.Server{Poem: []byte("short\n")}},
		{"fast big", &poetry.Server{Poem: big}},
		{"slow", &poetry.Server{Poem: big, Chunk: 10, Delay: time.Second}},
		{"slow endless delay", &poetry.Server{Poem: big, Chunk: 1, Delay: math.MaxInt64}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, sc := net.Pipe()
				c.Close()
				start := time.Now()
				// nil (the peer's end of stream) or a write error: either
				// is the client's leaving.
				_ = weft.Serve(sc, tc.s.BuildProtocol(nil), nil)
				if d := time.Since(start); d != 0 {
					t.Errorf("Serve returned after %v of fake time, want at once", d)
				}
			})
		})
	}
}

// TestServerChunkDelayEdges: extreme Chunk and Delay values send the poem
// whole and in order: a chunk of 1 every nanosecond, a chunk larger than
// any poem, a chunk one short of the poem (two chunks, one Delay apart), an
// empty poem in slow mode (closed at once).
func TestServerChunkDelayEdges(t *testing.T) {
	want := poem(t, "sick-rose.txt")
	for _, tc := range []struct {
		name string
		s    *poetry.Server
		took time.Duration // fake time until the end of stream
	}{
		{"chunk 1 delay 1ns", &poetry.Server{Poem: want, Chunk: 1, Delay: time.Nanosecond}, time.Duration(len(want)-1) * time.Nanosecond},
		{"chunk MaxInt", &poetry.Server{Poem: want, Chunk: math.MaxInt, Delay: time.Hour}, 0},
		{"chunk len-1", &poetry.Server{Poem: want, Chunk: len(want) - 1, Delay: time.Hour}, time.Hour},
		{"empty slow", &poetry.Server{Chunk: 10, Delay: time.Hour}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, sc := net.Pipe()
				defer c.Close()
				done := make(chan error, 1)
				go func() { done <- weft.Serve(sc, tc.s.BuildProtocol(nil), nil) }()
				start := time.Now()
				got, err := io.ReadAll(c)
				if err != nil || !bytes.Equal(got, tc.s.Poem) {
					t.Errorf("got %q (%v), want %q", got, err, tc.s.Poem)
				}
				if d := time.Since(start); d != tc.took {
					t.Errorf("took %v, want %v", d, tc.took)
				}
				if err := <-done; err != nil {
					t.Errorf("Serve = %v", err)
				}
			})
		})
	}
}
