package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
)

// countServed is what countServer's handler saw on one connection.
type countServed struct {
	n       int64
	readErr error // nil: it read the client's end of stream
}

// countServer listens on 127.0.0.1:0 and answers each connection as wc -c
// over a socket does: it reads to the end of stream, then writes "N
// bytes\n" and closes. Each connection is bounded to 10 s.
func countServer(t *testing.T) (addr string, served <-chan countServed) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan countServed, 8)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				n, err := io.Copy(io.Discard, c)
				fmt.Fprintf(c, "%d bytes\n", n)
				ch <- countServed{n, err}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return "tcp:" + ln.Addr().String(), ch
}

// TestConnectHalfClose: against a server that answers only at the end of
// the client's stream, "weft connect --half-close" half-closes at the end
// of stdin, prints the answer and ends when the server closes (status 0).
// Without --half-close the server sees the end of stream only when the
// client closes after --wait: its answer comes after that close, is
// discarded (the runtime's close linger reads and drops it), and nothing is
// printed (status 0: the client closed by itself).
func TestConnectHalfClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		out  string
	}{
		{"half-close", []string{"--half-close"}, "10 bytes\n"},
		{"half-close raw", []string{"--half-close", "--codec", "raw"}, "8 bytes\n"},
		{"half-close reconnect", []string{"--half-close", "--reconnect"}, "10 bytes\n"}, // the server's close ends the run
		{"wait", []string{"--wait", "50ms"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, served := countServer(t)
			var stdout, stderr syncBuffer
			err := connect(t.Context(), append([]string{addr}, tc.args...), strings.NewReader("one\ntwo\n"), &stdout, &stderr)
			if err != nil {
				t.Errorf("connect = %v, want nil (stderr %q)", err, stderr.String())
			}
			if got := stdout.String(); got != tc.out {
				t.Errorf("printed %q, want %q", got, tc.out)
			}
			select {
			case s := <-served:
				if s.readErr != nil {
					t.Errorf("the server's read ended with %v, want the client's end of stream", s.readErr)
				}
			case <-time.After(10 * time.Second): // bounds the failure only
				t.Errorf("the server served no connection")
			}
			if stderr.String() != "" {
				t.Errorf("stderr %q", stderr.String())
			}
		})
	}
}

// TestConnectHalfCloseAfterRefusedLine: a line the codec refuses ends what
// is sent as the end of stdin does: with --half-close the lines before it
// are answered (the server reads their end), and the run ends with the
// refused line's error once the server closes.
func TestConnectHalfCloseAfterRefusedLine(t *testing.T) {
	addr, _ := countServer(t)
	var stdout, stderr syncBuffer
	err := connect(t.Context(), []string{addr, "--half-close", "--max-frame", "8"}, strings.NewReader("one\nmuch too long\nthree\n"), &stdout, &stderr)
	if !errors.Is(err, codec.ErrFrameTooLarge) || !strings.Contains(fmt.Sprint(err), "a line of stdin cannot be sent") {
		t.Errorf("connect = %v, want codec.ErrFrameTooLarge for a line of stdin", err)
	}
	if got := stdout.String(); got != "5 bytes\n" {
		t.Errorf("printed %q, want %q", got, "5 bytes\n")
	}
}

// TestConnectHalfCloseNotSupported: a connection that cannot half-close
// (net.Pipe) makes --half-close fall back to closing once nothing arrived
// for --wait's default, 1 s.
func TestConnectHalfCloseNotSupported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conns := pipeServers(t)
		served, ended := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(served)
			var srv net.Conn
			select {
			case srv = <-conns:
			case <-ended: // connect ended without connecting
				return
			}
			defer srv.Close()
			buf := make([]byte, len("hi\r\n"))
			if _, err := io.ReadFull(srv, buf); err != nil {
				t.Errorf("server read: %v", err)
				return
			}
			if _, err := srv.Write([]byte("ok\r\n")); err != nil {
				return
			}
			io.Copy(io.Discard, srv) // until the client closes
		}()
		var stdout, stderr syncBuffer
		start := time.Now()
		err := connect(t.Context(), []string{"tcp:127.0.0.1:1", "--half-close"}, strings.NewReader("hi\n"), &stdout, &stderr)
		close(ended)
		<-served
		if err != nil || stdout.String() != "ok\n" {
			t.Errorf("connect = %v, printed %q; want nil, %q", err, stdout.String(), "ok\n")
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("closed after %v, want 1s (--wait's default)", d)
		}
	})
}

// TestConnectHalfCloseUsage: --wait has no effect with --half-close (the
// run ends when the server closes): given explicitly, even at its default,
// it is a usage error naming both. --reconnect goes with it.
func TestConnectHalfCloseUsage(t *testing.T) {
	for _, args := range [][]string{
		{"connect", "tcp:127.0.0.1:1", "--half-close", "--wait", "2s"},
		{"connect", "tcp:127.0.0.1:1", "--wait=1s", "--half-close"},
		{"connect", "--half-close", "tcp:127.0.0.1:1", "--reconnect", "--wait", "5s"},
	} {
		var out, errb bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // without the check, connect would dial and end at once
		code := run(ctx, args, strings.NewReader(""), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "--wait") || !strings.Contains(errb.String(), "--half-close") {
			t.Errorf("weft %q: exit %d, stderr %q; want 2 naming --wait and --half-close", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	args := []string{"connect", "tcp:127.0.0.1:1", "--half-close", "--reconnect"}
	if code := run(ctx, args, strings.NewReader(""), &out, &errb); code == 2 {
		t.Errorf("weft %q: exit 2 (stderr %q), want no usage error", args, errb.String())
	}
}

// TestConnectHalfCloseLikeNetcat: nc -N (netcat-openbsd) and "weft connect
// --codec raw --half-close" get the same answer from the same server.
func TestConnectHalfCloseLikeNetcat(t *testing.T) {
	nc := testenv.LookPath(t, "nc", "netcat-openbsd")
	addr, _ := countServer(t)
	host, port := hostPort(t, strings.TrimPrefix(addr, "tcp:"))
	const in = "one\ntwo words\n\nlast\n"
	want := peer(t, in, nc, "-N", host, port)
	var stdout, stderr syncBuffer
	if err := connect(t.Context(), []string{addr, "--codec", "raw", "--half-close"}, strings.NewReader(in), &stdout, &stderr); err != nil {
		t.Errorf("connect = %v (stderr %q)", err, stderr.String())
	}
	if got := stdout.String(); got != want || want != fmt.Sprintf("%d bytes\n", len(in)) {
		t.Errorf("weft connect printed %q, nc -N %q; want both %q", got, want, fmt.Sprintf("%d bytes\n", len(in)))
	}
}
