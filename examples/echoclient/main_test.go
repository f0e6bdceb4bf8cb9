package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEchoClient(t *testing.T) {
	port, done := serveOnce(t, func(c net.Conn) {
		io.Copy(c, c) // echo until the client closes
	})
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := run(ctx, config{endpoint: "tcp:127.0.0.1:" + port, message: "hello, world"}, &out); err != nil {
		t.Fatalf("run: %v; output:\n%s", err, out.String())
	}
	<-done
	want := "Started to connect.\nConnected.\nServer said: hello, world\nLost connection. Reason: connection closed cleanly\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestEchoClientFailed(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	var out bytes.Buffer
	if err := run(t.Context(), config{endpoint: "tcp:127.0.0.1:" + port, message: "x"}, &out); err == nil {
		t.Error("run succeeded against a closed port")
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || lines[0] != "Started to connect." ||
		!strings.HasPrefix(lines[1], "Connection failed. Reason: ") || !strings.Contains(lines[1], "refused") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestEchoClientLongAnswer: an answer that arrives in several reads is
// printed whole. Before, only the first read (64 KiB) was printed and the
// connection closed on the rest.
func TestEchoClientLongAnswer(t *testing.T) {
	port, done := serveOnce(t, func(c net.Conn) {
		io.Copy(c, c)
	})
	msg := strings.Repeat("0123456789", 100000)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := run(ctx, config{endpoint: "tcp:127.0.0.1:" + port, message: msg}, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	<-done
	want := "Started to connect.\nConnected.\nServer said: " + msg + "\nLost connection. Reason: connection closed cleanly\n"
	if got := out.String(); got != want {
		t.Errorf("output of %d bytes, want %d; starts %.200q", len(got), len(want), got)
	}
}

// TestEchoClientPartialAnswer: what a server sent before closing is printed.
func TestEchoClientPartialAnswer(t *testing.T) {
	port, done := serveOnce(t, func(c net.Conn) {
		io.ReadFull(c, make([]byte, 5))
		c.Write([]byte("hel"))
	})
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := run(ctx, config{endpoint: "tcp:127.0.0.1:" + port, message: "hello"}, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	<-done
	want := "Started to connect.\nConnected.\nServer said: hel\nLost connection. Reason: connection closed cleanly\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestEchoClientEmptyMessage: an empty message is refused at once. Before,
// the client connected, sent nothing and waited forever for an answer.
func TestEchoClientEmptyMessage(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, config{endpoint: "tcp:127.0.0.1:" + port, message: ""}, &out); !errors.Is(err, errEmptyMessage) || out.Len() != 0 {
		t.Errorf("run = %v, want errEmptyMessage before connecting; output:\n%s", err, out.String())
	}
}

// serveOnce accepts one loopback connection and runs handle on it (with a
// 10 s deadline), then closes it; done is closed after. It returns the port.
func serveOnce(t *testing.T, handle func(c net.Conn)) (port string, done <-chan struct{}) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		handle(c)
	}()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), ch
}
