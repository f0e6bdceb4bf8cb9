package main

import (
	"bytes"
	"context"
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
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(c, c) // echo until the client closes
	}()
	var out bytes.Buffer
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := run(ctx, "tcp:127.0.0.1:"+port, "hello, world", &out); err != nil {
		t.Fatalf("run: %v; output:\n%s", err, out.String())
	}
	<-done
	want := "Started to connect.\nConnected.\nServer said: hello, world\nLost connection. Reason: connection closed cleanly\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestEchoClientFailed(t *testing.T) {
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	var out bytes.Buffer
	if err := run(t.Context(), "tcp:127.0.0.1:"+port, "x", &out); err == nil {
		t.Error("run succeeded against a closed port")
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || lines[0] != "Started to connect." ||
		!strings.HasPrefix(lines[1], "Connection failed. Reason: ") || !strings.Contains(lines[1], "refused") {
		t.Errorf("output:\n%s", out.String())
	}
}
