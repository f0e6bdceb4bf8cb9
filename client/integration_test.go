package client

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helloServer accepts on ln, greets each client with "hello\n" and keeps its
// connection until close is called.
type helloServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// newHelloServer listens on addr and serves it until the test ends. A fixed
// port given up a moment ago may be briefly taken by someone's ephemeral
// connection: EADDRINUSE is retried for up to 10 s.
func newHelloServer(t *testing.T, addr string) *helloServer {
	t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ln, err = net.Listen("tcp4", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := &helloServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\n"))
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(s.close)
	return s
}

// close stops listening and hangs up on every client.
func (s *helloServer) close() {
	s.ln.Close()
	s.wg.Wait()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
}

// waitFor waits (bounded) until an event containing want was logged.
func waitFor(t *testing.T, ev *events, want string) {
	t.Helper()
	waitCount(t, ev, want, 1)
}

// waitCount waits (bounded) until n events containing want were logged.
func waitCount(t *testing.T, ev *events, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		count := 0
		for _, e := range ev.snapshot() {
			if strings.Contains(e, want) {
				count++
			}
		}
		if count >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("fewer than %d %q events within 10 s; events: %s", n, want, ev)
}

// The server goes away and comes back on the same port: the client notices,
// retries, reconnects, and its new Protocol sees ConnectionMade.
func TestReconnectingLoopback(t *testing.T) {
	srv := newHelloServer(t, "127.0.0.1:0")
	addr := srv.ln.Addr().String()
	port := strconv.Itoa(srv.ln.Addr().(*net.TCPAddr).Port)
	var ev events
	r := &Reconnecting{
		Endpoint: "tcp:127.0.0.1:" + port + ":timeout=5",
		Factory:  &recFactory{ev: &ev},
		Backoff:  &Exponential{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond, Multiplier: 2},
	}
	hook(r, &ev)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	waitFor(t, &ev, `data 1 "hello\n"`)
	if r.Transport() == nil {
		t.Error("Transport() = nil while connected")
	}

	srv.close() // the server goes away
	waitFor(t, &ev, "failed 2")
	newHelloServer(t, addr) // and comes back on the same port
	waitFor(t, &ev, `data 2 "hello\n"`)
	r.Stop()
	if err := r.Wait(); err != nil {
		t.Errorf("Run = %v after Stop, want nil", err)
	}

	// The hooks and callbacks, in order.
	got := ev.snapshot()
	i := 0
	expect := func(prefix string) {
		t.Helper()
		if i >= len(got) || !strings.HasPrefix(got[i], prefix) {
			t.Fatalf("event %d: want %q; events: %q", i, prefix, got)
		}
		i++
	}
	expect("connecting 1")
	expect("made 1")
	expect(`data 1 "hello\n"`)
	expect("connectionLost 1 <nil>")
	expect("lost <nil> next 10ms")
	for n := 1; i < len(got) && strings.HasPrefix(got[i], "connecting "+strconv.Itoa(n)); n++ {
		i++
		if strings.HasPrefix(got[i], "made 2") {
			break
		}
		expect("failed " + strconv.Itoa(n) + " next ")
	}
	expect("made 2")
	expect(`data 2 "hello\n"`)
	expect("connectionLost 2 <nil>")
	expect("lost <nil> next -1ns")
	if i != len(got) {
		t.Errorf("unexpected events after Stop: %q", got[i:])
	}
}
