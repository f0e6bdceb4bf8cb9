package main

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft/server"
)

// TestQueueFullGetsMessage: a client arriving when the 2 slots and the whole
// queue (server.DefaultMaxQueue) are taken is told why it is turned away.
// Before, the server set no RejectMessage and the client was closed without
// a word.
func TestQueueFullGetsMessage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()

	held := 2 + server.DefaultMaxQueue
	for i := range held {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i < 2 { // make sure the first two hold the slots
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			fmt.Fprintf(c, "hello from %d\n", i)
			expectEcho(t, c, i)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); srv.Snapshot().Queued != int64(server.DefaultMaxQueue); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queued %d, want %d", srv.Snapshot().Queued, server.DefaultMaxQueue)
		}
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if string(b) != busyMessage || err != nil {
		t.Errorf("client over the queue got %q (%v), want %q", b, err, busyMessage)
	}
}
