package main

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestGreeter runs the client against a loopback server that records what it
// receives until the client closes.
func TestGreeter(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c) // until the client closes
		if err != nil {
			b = append(b, " ERROR "+err.Error()...)
		}
		got <- string(b)
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if err := run(t.Context(), "tcp:127.0.0.1:"+port, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	want := "MESSAGE Hello\nMESSAGE This is sent in a second\n"
	if s := <-got; s != want {
		t.Errorf("server received %q, want %q", s, want)
	}
}

func TestGreeterRefused(t *testing.T) {
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	if err := run(t.Context(), "tcp:127.0.0.1:"+port, time.Millisecond); err == nil {
		t.Error("run succeeded against a closed port")
	}
}

// A server that closes at once gets a clear error (it said "connection lost
// early: <nil>"), and a negative -delay is refused before connecting.
func TestGreeterErrors(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	err = run(t.Context(), "tcp:127.0.0.1:"+port, 10*time.Second)
	// A clean close or a reset, depending on whether "Hello" reached the
	// closed socket first: either way an error that says what happened.
	if err == nil || strings.Contains(err.Error(), "<nil>") {
		t.Errorf("server closed at once: %v", err)
	}
	if err := run(t.Context(), "tcp:127.0.0.1:"+port, -time.Second); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative delay: %v", err)
	}
}
