package main

import (
	"context"
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

// TestShutdownTellsQueued: on SIGTERM (here: Run's context cancelled) a
// queued client is sent busyMessage, then a clean end of stream, although
// the server never read the line it sent; the clients being served are
// closed after their drain. Before, the queued client got no message and,
// having sent bytes, a TCP reset.
func TestShutdownTellsQueued(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, 5*time.Second, ln) }()

	var cs []net.Conn
	for i := range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := fmt.Fprintf(c, "hello from %d\n", i); err != nil {
			t.Fatal(err)
		}
		if i < 2 { // make sure the first two hold the slots
			expectEcho(t, c, i)
		}
		cs = append(cs, c)
	}
	for deadline := time.Now().Add(10 * time.Second); srv.Snapshot().Queued != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queued %d, want 1", srv.Snapshot().Queued)
		}
	}
	cancel() // as SIGTERM does
	b, err := io.ReadAll(cs[2])
	if string(b) != busyMessage || err != nil {
		t.Errorf("queued client got %q (%v) at shutdown, want %q then EOF", b, err, busyMessage)
	}
	cs[2].Close()
	for i := range 2 {
		if b, err := io.ReadAll(cs[i]); len(b) != 0 || err != nil {
			t.Errorf("served client %d got %q (%v) at shutdown, want EOF", i, b, err)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}
