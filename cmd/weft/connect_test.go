package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
)

// syncBuffer is an output buffer safe for a writer and a reader.
type syncBuffer = testenv.SyncBuffer

// TestConnectReconnects: "weft connect --reconnect" reports failed attempts
// while no server listens, connects once one does, and sends stdin lines.
func TestConnectReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, port := hostPort(t, addr)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, weftBinary(t), "connect", "tcp:"+addr, "--codec", "line", "--reconnect")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		done <- cmd.Wait()
	}()
	for !strings.Contains(stderr.String(), "attempt 2:") {
		select {
		case <-ctx.Done():
			t.Fatalf("no attempts reported; stderr:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond): // polling the output, not asserting timing
		}
	}
	p := startServe(t, 1, "echo", "--codec", "line", "--listen", "tcp:"+port+":interface=127.0.0.1")
	if _, err := stdin.Write([]byte("are you there?\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-lines:
		if l != "are you there?" {
			t.Errorf("connect printed %q", l)
		}
	case <-ctx.Done():
		t.Fatalf("no echo; stderr:\n%s", stderr.String())
	}
	p.stop(t, syscall.SIGTERM)
	for !strings.Contains(stderr.String(), "reconnecting") {
		select {
		case <-ctx.Done():
			t.Fatalf("loss not reported; stderr:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	// Cut short (stdin is still open): killed by SIGTERM, re-raised
	// (TestConnectInterrupted).
	wantInterrupted(t, <-done, syscall.SIGTERM, stderr.String())
}

// TestConnectBackpressure: "weft connect" with 8 MB on stdin and a server
// that does not read for a while. The client's write buffer (MaxWriteBuffer,
// 1 MiB) would overflow, and the connection close as a slow consumer,
// unless stdin is read only as fast as the server takes the frames. Every
// line must arrive, in order.
func TestConnectBackpressure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 80_000
	var in bytes.Buffer
	for i := range n {
		fmt.Fprintf(&in, "line %06d %s\n", i, strings.Repeat("x", 88))
	}
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		time.Sleep(300 * time.Millisecond) // not reading: the client must wait
		sc := bufio.NewScanner(c)
		i := 0
		for sc.Scan() {
			want := fmt.Sprintf("line %06d %s", i, strings.Repeat("x", 88)) // Scanner drops the \r
			if sc.Text() != want {
				got <- fmt.Errorf("line %d: %.20q", i, sc.Text())
				return
			}
			i++
		}
		if i != n {
			got <- fmt.Errorf("%d lines of %d (%v)", i, n, sc.Err())
			return
		}
		got <- nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	err = connect(ctx, []string{"tcp:" + ln.Addr().String(), "--codec", "line", "--wait", "100ms"}, &in, &stdout, &stderr)
	serr := <-got // the server ends with the connection
	if err != nil || serr != nil {
		t.Fatalf("connect: %v; server: %v; stderr:\n%s", err, serr, stderr.String())
	}
}

// TestConnectLineTooLong: a stdin line the codec refuses ends "weft connect"
// with an error that says so and names the flag that raises the limit,
// instead of a bare "connection aborted"; the lines before it were sent.
func TestConnectLineTooLong(t *testing.T) {
	ln, got := sink(t)
	in := strings.NewReader("short\n" + strings.Repeat("y", 20000) + "\nafter\n")
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := connect(ctx, []string{"tcp:" + ln.Addr().String(), "--codec", "line"}, in, &stdout, &stderr)
	if err == nil || !errors.Is(err, codec.ErrFrameTooLarge) || !strings.Contains(err.Error(), "--max-frame") {
		t.Fatalf("connect = %v, want the codec's ErrFrameTooLarge and a hint", err)
	}
	if s := <-got; s != "short\r\n" {
		t.Errorf("server received %q, want the line before the long one", s)
	}
}

func TestPrefixed(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("weft: connection aborted"), "weft: connection aborted"},
		{errors.New("endpoint: bad"), "weft: endpoint: bad"},
		{fmt.Errorf("%w: unknown command", errUsage), "weft: usage: unknown command"},
	} {
		if got := prefixed(tc.err); got != tc.want {
			t.Errorf("prefixed(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestConnectRaw: with --codec raw, "weft connect" is nc: stdin's bytes go
// to the server as they are (newlines, empty lines and a last line without
// one included), and what the server sends is printed as it is. Before, the
// newlines were dropped on the way out and one was added after every read
// on the way in.
func TestConnectRaw(t *testing.T) {
	const reply = "first part, " + "no newline at the end"
	ln, got := sink(t, reply[:12], reply[12:]) // in two writes: maybe two reads
	const in = "hello\r\n\nworld\nlast, no newline"
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := connect(ctx, []string{"tcp:" + ln.Addr().String(), "--codec", "raw", "--wait", "200ms"}, strings.NewReader(in), &stdout, &stderr)
	if err != nil {
		t.Fatalf("connect: %v; stderr:\n%s", err, stderr.String())
	}
	if s := <-got; s != in {
		t.Errorf("server received %q, want %q", s, in)
	}
	if s := stdout.String(); s != reply {
		t.Errorf("connect printed %q, want %q", s, reply)
	}
}

// TestConnectHugeStdinLine: a stdin line over 16 MiB is sent when
// --max-frame allows it, and is an error otherwise. Before, stdin's scanner
// stopped at 16 MiB as if stdin had ended: the line and everything after it
// were dropped and "weft connect" exited 0.
func TestConnectHugeStdinLine(t *testing.T) {
	huge := strings.Repeat("y", 17_000_000)
	for _, tc := range []struct {
		name     string
		maxFrame string
		want     string // what the server receives
		wantErr  bool
	}{
		{"allowed", "20000000", "5:first," + "17000000:" + huge + ",5:after,", false},
		{"refused", "0", "5:first,", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, got := sink(t)
			in := strings.NewReader("first\n" + huge + "\nafter\n")
			var stdout, stderr syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := connect(ctx, []string{"tcp:" + ln.Addr().String(), "--codec", "netstring", "--max-frame", tc.maxFrame, "--wait", "100ms"}, in, &stdout, &stderr)
			if (err != nil) != tc.wantErr {
				t.Errorf("connect = %v, want error: %v", err, tc.wantErr)
			}
			if s := <-got; s != tc.want {
				t.Errorf("server received %d bytes %.40q, want %d bytes", len(s), s, len(tc.want))
			}
		})
	}
}

// sink listens on loopback, writes each of send to the first connection (one
// Write each), and sends on got everything that connection sends (or the
// accept error), once it ends; ln closes at the test's end.
func sink(t *testing.T, send ...string) (net.Listener, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		for _, p := range send {
			c.Write([]byte(p))
		}
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	return ln, got
}
