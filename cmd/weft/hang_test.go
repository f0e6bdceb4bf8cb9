package main

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// endlessStdin is a stdin that never ends: every Read fills p with lines.
// n counts the bytes read.
type endlessStdin struct{ n atomic.Int64 }

func (r *endlessStdin) Read(p []byte) (int, error) {
	const line = "the same line again and again, to a server that reads none of them\n"
	for i := range p {
		p[i] = line[i%len(line)]
	}
	r.n.Add(int64(len(p)))
	return len(p), nil
}

// stalled waits (20 s at most) until n stops growing: three samples 50 ms
// apart are equal and not zero.
func waitStalled(t *testing.T, n *atomic.Int64) {
	t.Helper()
	var last [3]int64
	for i, deadline := 0, time.Now().Add(20*time.Second); ; i++ {
		last[i%3] = n.Load()
		if i >= 2 && last[0] != 0 && last[0] == last[1] && last[1] == last[2] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stdin was still read after 20 s (%d bytes): the server took everything", n.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConnectInterruptedServerNotReading: a SIGINT (ctx done) ends "weft
// connect" at once, with status 130, even while it has stdin lines queued
// for a server that reads nothing. Before, the connection was closed
// gracefully, waiting for that output to be written: the run never ended
// (until a second signal killed it).
func TestConnectInterruptedServerNotReading(t *testing.T) {
	for _, extra := range [][]string{{"--codec", "line"}, {"--codec", "raw"}, {"--reconnect"}} {
		t.Run(strings.Join(extra, " "), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c // never read
				}
			}()
			defer func() {
				select {
				case c := <-accepted:
					c.Close()
				default:
				}
			}()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdin := new(endlessStdin)
			var stdout, stderr syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- connect(ctx, append([]string{"tcp:" + ln.Addr().String()}, extra...), stdin, &stdout, &stderr)
			}()
			waitStalled(t, &stdin.n)
			cancel()
			select {
			case err := <-done:
				var ee exitError
				if !errors.As(err, &ee) || ee.code != 130 {
					t.Errorf("connect = %v, want exit status 130; stderr:\n%s", err, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("weft connect still running 10 s after SIGINT, with output queued for a server that reads nothing")
			}
		})
	}
}

// stuckStdout is a stdout nobody reads (a pipe into a pager that stopped
// reading, a terminal paused with ^S): Write blocks until the test ends.
// wrote is closed when the first Write started.
type stuckStdout struct {
	started  chan struct{}
	once     atomic.Bool
	released chan struct{}
}

func newStuckStdout(t *testing.T) *stuckStdout {
	s := &stuckStdout{started: make(chan struct{}), released: make(chan struct{})}
	t.Cleanup(func() { close(s.released) })
	return s
}

func (s *stuckStdout) Write(p []byte) (int, error) {
	if !s.once.Swap(true) {
		close(s.started)
	}
	<-s.released
	return 0, errors.New("stdout released at the test's end")
}

// TestInterruptedWithStuckStdout: a SIGINT (ctx done) ends "weft connect"
// and "weft get" with status 130 while their write to stdout is blocked
// (what was already written stays written; the rest is not written). Before,
// the write held them until a second signal killed the process.
func TestInterruptedWithStuckStdout(t *testing.T) {
	for _, cmd := range []string{"connect", "get"} {
		t.Run(cmd, func(t *testing.T) {
			addr := poetryServer(t, "a poem, or a line\n", true).addr
			args := []string{"connect", "tcp:" + addr}
			if cmd == "get" {
				args = []string{"get", "poetry", "tcp:" + addr}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdout := newStuckStdout(t)
			stdinR, stdinW := io.Pipe() // stdin stays open
			defer stdinW.Close()
			var stderr syncBuffer
			done := make(chan int, 1)
			go func() { done <- run(ctx, args, stdinR, stdout, &stderr) }()
			select {
			case <-stdout.started:
			case <-time.After(20 * time.Second):
				t.Fatalf("no write to stdout in 20 s; stderr:\n%s", stderr.String())
			}
			cancel()
			select {
			case code := <-done:
				if code != 130 {
					t.Errorf("exit %d, want 130; stderr:\n%s", code, stderr.String())
				}
				checkCalm(t, stderr.String())
			case <-time.After(10 * time.Second):
				t.Fatalf("weft %s still running 10 s after SIGINT, its write to stdout blocked", cmd)
			}
		})
	}
}

// alarming are words that must not appear on stderr after an interrupt:
// the user asked for the stop, it is not a failure.
var alarming = []string{"fail", "error", "cancel", "lost"}

func checkCalm(t *testing.T, stderr string) {
	t.Helper()
	for _, w := range alarming {
		if strings.Contains(strings.ToLower(stderr), w) {
			t.Errorf("stderr after the signal says %q:\n%s", w, stderr)
		}
	}
}

// poetryFake is a loopback poetry server for one connection.
type poetryFake struct {
	addr string
	done chan struct{} // closed once the client closed its connection
}

// poetryServer sends poem to its first client, then closes the
// connection if end, or waits for the client to close it.
func poetryServer(t *testing.T, poem string, end bool) *poetryFake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &poetryFake{addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write([]byte(poem)); err != nil {
			return
		}
		if end {
			_ = c.(*net.TCPConn).CloseWrite()
		}
		_, _ = io.Copy(io.Discard, c)
	}()
	return f
}

// waitFor polls s (a child's output) until it contains want, for 20 s at
// most.
func waitFor(t *testing.T, s *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(s.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in 20 s; output:\n%s", want, s.String())
		}
	}
}
