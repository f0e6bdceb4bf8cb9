package chat_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/chat"
	"github.com/weftkit/weft/server"
)

// TestShutdownTellsClients: at a graceful server.Server Shutdown every
// client, named or not, gets chat.MsgShutdown as its last line before a
// clean end of stream, and no client is told of the others leaving (they
// all leave at once; before, each got, depending on the order the
// connections happened to close in, "NAME has left." for some of the
// others, and no word of why it was disconnected). It runs on both engines.
func TestShutdownTellsClients(t *testing.T) {
	for _, engine := range []string{"goroutine", "epoll"} {
		t.Run(engine, func(t *testing.T) {
			var e *weft.Engine
			if engine == "epoll" {
				var err error
				if e, err = weft.NewEngine(); err != nil {
					t.Skipf("no readiness engine here: %v", err)
				}
				t.Cleanup(func() { e.Close() })
			}
			testShutdownTellsClients(t, e)
		})
	}
}

func testShutdownTellsClients(t *testing.T, e *weft.Engine) {
	var room chat.Server
	srv := &server.Server{Factory: &room, Engine: e}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-served })

	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		rd := bufio.NewReader(c)
		if l, err := rd.ReadString('\n'); l != chat.MsgAskName+"\r\n" {
			t.Fatalf("got %q (%v)", l, err)
		}
		return c, rd
	}
	names := []string{"ann", "bob", "cat", "dan"}
	conns := make([]net.Conn, len(names))
	rds := make([]*bufio.Reader, len(names))
	for i, n := range names {
		conns[i], rds[i] = dial()
		if _, err := conns[i].Write([]byte(n + "\n")); err != nil {
			t.Fatal(err)
		}
		if l, err := rds[i].ReadString('\n'); l != "Welcome, "+n+"!\r\n" {
			t.Fatalf("%s got %q (%v)", n, l, err)
		}
		for j := range i { // the earlier clients hear of it
			if l, err := rds[j].ReadString('\n'); l != n+" has joined.\r\n" {
				t.Fatalf("%s got %q (%v)", names[j], l, err)
			}
		}
	}
	unnamed, urd := dial()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	served <- nil // for the cleanup
	for i, rd := range append(rds, urd) {
		rest, err := io.ReadAll(rd)
		if want := chat.MsgShutdown + "\r\n"; string(rest) != want || err != nil {
			who := "the unnamed client"
			if i < len(names) {
				who = names[i]
			}
			t.Errorf("%s got %q (%v) after joining, want %q then the end of stream", who, rest, err, want)
		}
	}
	_ = unnamed
	if n := room.Names(); len(n) != 0 {
		t.Errorf("room still holds %s", strings.Join(n, ", "))
	}
}

// TestJoinQuitFlood: many clients joining and leaving at once (by /quit or
// by hanging up) leave the room empty but for the one watching, which is
// told of each, its join before its leave, and nothing else.
func TestJoinQuitFlood(t *testing.T) {
	r := newRoom(t, nil)
	w := named(t, r, "watcher")
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := net.Dial("tcp", r.ln.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			rd := bufio.NewReader(c)
			name := fmt.Sprintf("f%03d", i)
			if _, err := fmt.Fprintf(c, "%s\n", name); err != nil {
				t.Error(err)
				return
			}
			for {
				l, err := rd.ReadString('\n')
				if err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				if l == "Welcome, "+name+"!\r\n" {
					break
				}
			}
			if i%2 == 0 {
				_, _ = c.Write([]byte("/quit\n"))
				_, _ = io.ReadAll(rd) // "Bye." and whatever came before it
			}
		})
	}
	wg.Wait()
	state := map[string]int{} // 1 joined, 2 left
	_ = w.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for left := 0; left < n; {
		l, err := w.rd.ReadString('\n')
		if err != nil {
			t.Fatalf("watcher after %d left: %v", left, err)
		}
		var name string
		switch {
		case strings.HasSuffix(l, " has joined.\r\n"):
			name = strings.TrimSuffix(l, " has joined.\r\n")
			if state[name] != 0 {
				t.Fatalf("watcher: %q, with %s in state %d", l, name, state[name])
			}
			state[name] = 1
		case strings.HasSuffix(l, " has left.\r\n"):
			name = strings.TrimSuffix(l, " has left.\r\n")
			if state[name] != 1 {
				t.Fatalf("watcher: %q, with %s in state %d", l, name, state[name])
			}
			state[name] = 2
			left++
		default:
			t.Fatalf("watcher got %q", l)
		}
	}
	w.say("/who\n")
	w.expect("Online: watcher")
}
