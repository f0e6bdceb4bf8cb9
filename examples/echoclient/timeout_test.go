package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// TestSilentServerTimesOut: a server that accepts and never answers no longer
// holds the client forever: after the timeout (the -timeout default, 10 s)
// the connection is closed and run reports errTimeout. Before, run waited
// until interrupted.
func TestSilentServerTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvEnd := make(chan net.Conn, 1)
		dial := func(context.Context, string) (net.Conn, error) {
			c, s := net.Pipe()
			srvEnd <- s
			return c, nil
		}
		read := make(chan []byte, 1)
		go func() {
			s := <-srvEnd
			defer s.Close()
			b, _ := io.ReadAll(s) // reads the message, never answers
			read <- b
		}()
		var out bytes.Buffer
		start := time.Now()
		err := run(t.Context(), config{endpoint: "tcp:silent:7", message: "hello", timeout: defaultTimeout, dial: dial}, &out)
		if !errors.Is(err, errTimeout) {
			t.Errorf("run = %v, want errTimeout", err)
		}
		if d := time.Since(start); d != defaultTimeout {
			t.Errorf("run returned after %v, want %v", d, defaultTimeout)
		}
		want := "Started to connect.\nConnected.\nLost connection. Reason: echoclient: timed out after 10s\n"
		if out.String() != want {
			t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
		}
		if b := <-read; string(b) != "hello" {
			t.Errorf("server read %q", b)
		}
	})
}

// TestConnectTimesOut: the timeout bounds the connection attempt too.
func TestConnectTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dial := func(ctx context.Context, _ string) (net.Conn, error) {
			<-ctx.Done() // a SYN that is never answered
			return nil, ctx.Err()
		}
		var out bytes.Buffer
		err := run(t.Context(), config{endpoint: "tcp:blackhole:7", message: "hello", timeout: time.Second, dial: dial}, &out)
		if !errors.Is(err, errTimeout) {
			t.Errorf("run = %v, want errTimeout", err)
		}
		want := "Started to connect.\nConnection failed. Reason: echoclient: timed out after 1s (context deadline exceeded)\n"
		if out.String() != want {
			t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
		}
	})
}

// TestNegativeTimeout: a negative -timeout is refused before connecting.
func TestNegativeTimeout(t *testing.T) {
	var out bytes.Buffer
	err := run(t.Context(), config{endpoint: "tcp:127.0.0.1:1", message: "x", timeout: -time.Second}, &out)
	if !errors.Is(err, errNegativeTimeout) || out.Len() != 0 {
		t.Errorf("run = %v, output %q; want errNegativeTimeout before connecting", err, out.String())
	}
}
