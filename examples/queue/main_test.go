package main

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestQueuedClientsServedInTurn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()

	var cs []net.Conn
	for i := range 4 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		// Clients 2 and 3 are queued: what they send waits for them.
		if _, err := fmt.Fprintf(c, "hello from %d\n", i); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		if i < 2 { // make sure the first two hold the slots
			expectEcho(t, c, i)
		}
	}
	// Two served, two waiting: the limit holds (polling the server's
	// counts, bounded).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s := srv.Snapshot()
		if s.Queued == 2 {
			if s.Active != 2 {
				t.Fatalf("%d connections served at once with 2 queued, want 2", s.Active)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("4 clients: %d served, %d queued; want 2 and 2", s.Active, s.Queued)
		}
	}
	for i := range 2 {
		cs[i].Close() // frees a slot: client i+2 is served
		expectEcho(t, cs[i+2], i+2)
	}
}

func expectEcho(t *testing.T, c net.Conn, i int) {
	t.Helper()
	want := fmt.Sprintf("hello from %d\n", i)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Fatalf("client %d got %q (%v)", i, got, err)
	}
}
