package client_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/client"
)

// printer prints what it receives, then signals on got.
type printer struct {
	got chan<- string
}

func (p printer) ConnectionMade(weft.Transport) {}
func (p printer) DataReceived(data []byte)      { fmt.Println(string(data)); p.got <- string(data) }
func (p printer) ConnectionLost(error)          {}

// greetServer greets each client with "hello #n"; it hangs up on the first
// one only.
func greetServer() (net.Listener, string) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		var keep []net.Conn
		defer func() {
			for _, c := range keep {
				c.Close()
			}
		}()
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello #%d", n)
			if n == 1 {
				c.Close()
			} else {
				keep = append(keep, c)
			}
		}
	}()
	return ln, fmt.Sprintf("tcp:127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port)
}

func ExampleDial() {
	ln, ep := greetServer()
	defer ln.Close()
	got := make(chan string, 1)
	c, err := client.Dial(context.Background(), ep, printer{got}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	<-got
	fmt.Println("closed:", c.Close())
	// Output:
	// hello #1
	// closed: <nil>
}

func ExampleReconnecting() {
	ln, ep := greetServer()
	defer ln.Close()
	got := make(chan string, 2)
	r := &client.Reconnecting{
		Endpoint: ep,
		Factory:  weft.FactoryFunc(func(net.Addr) weft.Protocol { return printer{got} }),
		Backoff:  &client.Exponential{Initial: 10 * time.Millisecond}, // no jitter
		OnConnecting: func(attempt int) {
			fmt.Println("connecting, attempt", attempt)
		},
		OnConnectionLost: func(reason error, next time.Duration) {
			fmt.Println("lost:", reason, "next attempt in", next)
		},
	}
	if err := r.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	<-got // the server hangs up on this one: the client reconnects
	<-got
	r.Stop() // closes the live connection: no reconnect (GiveUp = -1ns)
	// Output:
	// connecting, attempt 1
	// hello #1
	// lost: <nil> next attempt in 10ms
	// connecting, attempt 1
	// hello #2
	// lost: <nil> next attempt in -1ns
}

func ExampleExponential() {
	b := &client.Exponential{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2}
	fmt.Println(b.Delay(1), b.Delay(2), b.Delay(3), b.Delay(4), b.Delay(5))
	t := client.Twisted()
	fmt.Println("Twisted, un-jittered:", t.Base(1).Round(time.Millisecond), t.Base(2).Round(time.Millisecond), t.Base(9))
	// Output:
	// 1s 2s 4s 8s 10s
	// Twisted, un-jittered: 2.718s 7.389s 1h0m0s
}
