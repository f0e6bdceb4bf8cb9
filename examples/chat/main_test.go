package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft/internal/testenv"
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

// TestSlowClientDroppedPast64KiB: the server's limits are those the example
// names. A client that does not read while 40 KiB of chat is waiting for it
// is still served (it then reads every line); one that does not read while
// 100 KiB more come is dropped, and the others are told it left.
func TestSlowClientDroppedPast64KiB(t *testing.T) {
	room := &chat.Server{}
	srv := newServer(room)
	ln := testenv.NewPipeListener() // no kernel buffer: what a client does not read stays in the server
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()

	type client struct {
		c  net.Conn
		rd *bufio.Reader
	}
	join := func(name string, others ...client) client {
		t.Helper()
		c := ln.Dial()
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		x := client{c, bufio.NewReader(c)}
		go func() { _, _ = c.Write([]byte(name + "\n")) }()
		expectLines(t, x.rd, "What's your name?", "Welcome, "+name+"!")
		for _, o := range others {
			expectLines(t, o.rd, name+" has joined.")
		}
		return x
	}
	ann := join("ann")
	ben := join("ben", ann)
	slow := join("slow", ann, ben)

	// ben reads everything, on its own goroutine.
	benLines := make(chan string, 1000)
	go func() {
		for {
			l, err := ben.rd.ReadString('\n')
			if err != nil {
				close(benLines)
				return
			}
			benLines <- l
		}
	}()
	text := strings.Repeat("x", 1000)
	say := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := fmt.Fprintf(ann.c, "%d %s\n", i, text); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 40 lines of 1 KB for slow, who does not read: under the limit.
	say(0, 40)
	if _, err := ann.c.Write([]byte("/who\n")); err != nil {
		t.Fatal(err)
	}
	expectLines(t, ann.rd, "Online: ann, ben, slow") // every line is relayed by now
	for i := range 40 {
		expectLines(t, slow.rd, fmt.Sprintf("<ann> %d %s", i, text))
	}
	for n := range 40 {
		if l, ok := <-benLines; !ok || l != fmt.Sprintf("<ann> %d %s\r\n", n, text) {
			t.Fatalf("ben's line %d: %.40q (open %v)", n, l, ok)
		}
	}
	// Up to 100 more, still unread by slow: past the limit. ann waits for
	// each line to reach ben, who reads: on net.Pipe nothing is buffered
	// between server and client, so a ben who lagged 64 KiB behind would be
	// dropped too.
	for i := 40; ; i++ {
		if i == 140 {
			t.Fatal("slow was not dropped after 100 KB more")
		}
		say(i, i+1)
		l, ok := <-benLines
		if !ok {
			t.Fatalf("ben's connection ended at line %d, before \"slow has left.\"", i)
		}
		if l == "slow has left.\r\n" {
			break
		}
		if want := fmt.Sprintf("<ann> %d %s\r\n", i, text); l != want {
			t.Fatalf("ben got %.40q, want %.40q", l, want)
		}
	}
	// The server counts a close once the Protocol's ConnectionLost (which
	// said "slow has left.") has returned: wait for it, bounded.
	closed := srv.Snapshot().Closed
	for deadline := time.Now().Add(10 * time.Second); closed["slow consumer"] == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		closed = srv.Snapshot().Closed
	}
	if got := closed["slow consumer"]; got != 1 {
		t.Errorf("%d connections closed as slow consumers, want 1 (closed: %v)", got, closed)
	}
}

// expectLines reads the next lines from rd and checks them, "\r\n" added.
func expectLines(t *testing.T, rd *bufio.Reader, want ...string) {
	t.Helper()
	for _, w := range want {
		if got, err := rd.ReadString('\n'); got != w+"\r\n" {
			t.Fatalf("got %.60q (%v), want %.60q", got, err, w)
		}
	}
}
