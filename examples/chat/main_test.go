package main

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
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
// more comes is dropped by the very line that would take what waits for it
// past 64 KiB, not before, and the others are told it left.
//
// It runs in a synctest bubble, where synctest.Wait returns once the server
// has done all it will do with what it was sent: the drop ends slow's
// connection at once, but "slow has left." is said by its ConnectionLost,
// on its own goroutine, which under load ran after more than 35 further
// lines had been relayed (the test used to count lines until the message
// came, and failed 3 times in 300 -race runs beside a CPU-heavy process).
func TestSlowClientDroppedPast64KiB(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
			_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // fake time: passes only if all is stuck
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
		// benGot checks that ben has been sent exactly the lines want
		// since the last call, once the server is done.
		benGot := func(when string, want ...string) {
			t.Helper()
			synctest.Wait()
			var got []string
			for len(benLines) > 0 {
				got = append(got, <-benLines)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: ben got %.60q, want %.60q", when, got, want)
			}
		}
		text := strings.Repeat("x", 1000)
		line := func(i int) string { return fmt.Sprintf("<ann> %d %s\r\n", i, text) }
		say := func(i int) {
			t.Helper()
			if _, err := fmt.Fprintf(ann.c, "%d %s\n", i, text); err != nil {
				t.Fatal(err)
			}
		}
		// 40 lines of 1 KB for slow, who does not read: under the limit.
		var want []string
		for i := range 40 {
			say(i)
			want = append(want, line(i))
		}
		benGot("after 40 lines", want...)
		if _, err := ann.c.Write([]byte("/who\n")); err != nil {
			t.Fatal(err)
		}
		expectLines(t, ann.rd, "Online: ann, ben, slow")
		for i := range 40 {
			expectLines(t, slow.rd, strings.TrimSuffix(line(i), "\r\n"))
		}
		synctest.Wait() // slow took all: nothing waits for it

		// More, still unread by slow: the line that would take what waits
		// for slow past 64 KiB drops it, and only that one. On net.Pipe
		// nothing is buffered between server and client, so what ann says
		// waits in the server until slow reads it.
		const limit = 64 << 10 // MaxWriteBuffer of newServer
		waiting := 0
		for i := 40; ; i++ {
			say(i)
			if n := len(line(i)); waiting+n <= limit {
				waiting += n
				benGot(fmt.Sprintf("line %d, %d bytes waiting for slow", i, waiting), line(i))
				continue
			}
			benGot(fmt.Sprintf("line %d, past %d bytes waiting for slow", i, waiting), line(i), "slow has left.\r\n")
			break
		}
		if got := srv.Snapshot().Closed["slow consumer"]; got != 1 {
			t.Errorf("%d connections closed as slow consumers, want 1 (closed: %v)", got, srv.Snapshot().Closed)
		}
		if got := room.Names(); !slices.Equal(got, []string{"ann", "ben"}) {
			t.Errorf("room: %q, want ann and ben", got)
		}
	})
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
