package poetry_test

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/poetry"
	"github.com/weftkit/weft/server"
)

// TestServerOnEngine: the poetry server works the same on the readiness
// engine (epoll, Linux), where writes from timers and the Gate's goroutine
// meet a connection without a goroutine of its own: 10 clients at once of
// a small poem, a slow one and a 3 MiB one all get theirs whole.
func TestServerOnEngine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the engine is Linux only")
	}
	eng, err := weft.NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	hope := poem(t, "hope.txt")
	big := bytes.Repeat([]byte("So much depends upon a red wheel barrow\n"), 3<<20/40)
	for _, tc := range []struct {
		name string
		s    *poetry.Server
	}{
		{"small", &poetry.Server{Poem: hope}},
		{"slow", &poetry.Server{Poem: hope, Chunk: 40, Delay: time.Millisecond}},
		{"big", &poetry.Server{Poem: big}},
		{"big slow", &poetry.Server{Poem: big, Chunk: 200 << 10, Delay: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &server.Server{Factory: tc.s, Engine: eng}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			defer func() { srv.Close(); <-done }()
			eps := make([]string, 10)
			for i := range eps {
				eps[i] = "tcp:" + ln.Addr().String()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for i, r := range poetry.GetPoetry(ctx, eps...) {
				if r.Err != nil || !bytes.Equal(r.Poem, tc.s.Poem) {
					t.Errorf("client %d: %d bytes of %d, %v", i, len(r.Poem), len(tc.s.Poem), r.Err)
				}
			}
		})
	}
}
