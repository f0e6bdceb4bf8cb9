package main

import (
	"bufio"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft/protocols/chat"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTwoClients(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(&chat.Server{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()
	type cl struct {
		c  net.Conn
		rd *bufio.Reader
	}
	join := func(name string) cl {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		x := cl{c, bufio.NewReader(c)}
		_, _ = c.Write([]byte(name + "\n"))
		return x
	}
	expect := func(x cl, want ...string) {
		t.Helper()
		for _, w := range want {
			if got, err := x.rd.ReadString('\n'); got != w+"\r\n" {
				t.Fatalf("got %q (%v), want %q", got, err, w)
			}
		}
	}
	a := join("ann")
	expect(a, "What's your name?", "Welcome, ann!")
	b := join("ben")
	expect(b, "What's your name?", "Welcome, ben!")
	expect(a, "ben has joined.")
	_, _ = b.c.Write([]byte("hi ann\n/who\n"))
	expect(a, "<ben> hi ann")
	expect(b, "Online: ann, ben")
}
