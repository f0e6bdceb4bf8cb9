package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft/codec"
)

// epipeWriter is a stdout whose reader has gone: every write fails.
type epipeWriter struct{}

func (epipeWriter) Write([]byte) (int, error) { return 0, syscall.EPIPE }

// TestConnectStdoutFails: when stdout cannot be written (EPIPE: the reader
// of a pipe is gone, with SIGPIPE ignored), "weft connect" ends with an
// error naming stdout. Before, the write errors were ignored: it went on
// receiving a server that keeps sending, printing nothing, until killed.
func TestConnectStdoutFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		for { // a chargen: sends until the client goes
			if _, err := c.Write([]byte(strings.Repeat("z", 70) + "\r\n")); err != nil {
				return
			}
		}
	}()
	stdinR, stdinW := io.Pipe() // stdin stays open
	defer stdinW.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stderr syncBuffer
	err = connect(ctx, []string{"tcp:" + ln.Addr().String(), "--codec", "line"}, stdinR, epipeWriter{}, &stderr)
	if ctx.Err() != nil || err == nil || !errors.Is(err, syscall.EPIPE) || !strings.Contains(err.Error(), "stdout") {
		t.Fatalf("connect = %v (still running after 20 s: %v), want an error writing stdout", err, ctx.Err() != nil)
	}
}

// TestServePoetryEndlessFile: "weft serve poetry --file" with a file that
// never ends (/dev/zero) is a usage error naming the flag and the limit.
// Before, the whole file was read into memory: memory grew until the
// runtime died of it ("fatal error: out of memory", here under a 1 GiB
// data-segment limit so the test stays bounded).
func TestServePoetryEndlessFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `ulimit -d 1048576 && exec "$0" serve poetry --file /dev/zero --listen tcp:0:interface=127.0.0.1`, weftBinary(t))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--file") ||
		!strings.Contains(string(out), "larger than") || strings.Contains(string(out), "goroutine ") {
		t.Fatalf("weft serve poetry --file /dev/zero: %v, output:\n%.2000s\nwant exit 2 and a usage error naming --file", err, out)
	}
}

// TestConnectServerEndsInsideFrame: a server that closes in the middle of a
// frame (a netstring or length prefix announcing more than it sends, a last
// line without its delimiter) ends "weft connect" with codec.ErrTruncated
// (exit 1). Before, the partial frame was dropped without a word and the
// exit status was 0, as for a complete conversation.
func TestConnectServerEndsInsideFrame(t *testing.T) {
	for _, tc := range []struct{ codec, send, out string }{
		{"netstring", "2:ok,5:ab", "ok\n"},
		{"int8", "\x02ok\x05ab", "ok\n"},
		{"int32", "\x00\x00", ""},
		{"line", "ok\r\nno end", "ok\n"},
	} {
		t.Run(tc.codec, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() { // sends, then closes
				if c, err := ln.Accept(); err == nil {
					c.Write([]byte(tc.send))
					c.Close()
				}
			}()
			stdinR, stdinW := io.Pipe() // stdin stays open: the server ends the session
			defer stdinW.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr syncBuffer
			err = connect(ctx, []string{"tcp:" + ln.Addr().String(), "--codec", tc.codec}, stdinR, &stdout, &stderr)
			if !errors.Is(err, codec.ErrTruncated) {
				t.Errorf("connect = %v, want codec.ErrTruncated", err)
			}
			if stdout.String() != tc.out {
				t.Errorf("printed %q, want %q", stdout.String(), tc.out)
			}
		})
	}
}
