package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft/protocols/chat"
	"github.com/weftkit/weft/protocols/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestThreePorts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan []net.Addr, 1)
	done := make(chan error, 1)
	svcs := []service{{"echo", "127.0.0.1:0", wire.Echo{}}, {"qotd", "127.0.0.1:0", &wire.QOTD{Quotes: []string{"q"}}},
		{"chat", "127.0.0.1:0", &chat.Server{}}}
	go func() { done <- run(ctx, svcs, func(a []net.Addr) { addrs <- a }) }()
	a := <-addrs
	dial := func(i int) net.Conn {
		c, err := net.Dial("tcp", a[i].String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	e := dial(0)
	_, _ = e.Write([]byte("ping"))
	if b := make([]byte, 4); func() error { _, err := io.ReadFull(e, b); return err }() != nil || string(b) != "ping" {
		t.Errorf("echo: %q", b)
	}
	e.Close()
	q := dial(1)
	if b, _ := io.ReadAll(q); string(b) != "q\r\n" {
		t.Errorf("qotd: %q", b)
	}
	q.Close()
	c := dial(2)
	if l, _ := bufio.NewReader(c).ReadString('\n'); l != "What's your name?\r\n" {
		t.Errorf("chat: %q", l)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestOneAddressTaken: when one service cannot listen (its address is
// taken), run fails at once with an error naming it, without serving the
// others, and closes the listeners it had opened (the first address can be
// listened on again).
func TestOneAddressTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	svcs := []service{{"echo", freeAddr, wire.Echo{}}, {"qotd", taken.Addr().String(), &wire.QOTD{}}}
	ready := false
	err = run(context.Background(), svcs, func([]net.Addr) { ready = true })
	if err == nil || !strings.HasPrefix(err.Error(), "qotd: ") || ready {
		t.Errorf("run = %v (ready called: %v), want a qotd error before ready", err, ready)
	}
	ln, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Fatalf("the echo listener was left open: %v", err)
	}
	ln.Close()
}
