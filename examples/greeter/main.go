// Command greeter is the classic single-use client (Twisted's "greeter"
// example from Writing Clients): it connects, sends a message at once and
// another one a second later, then closes the connection.
//
//	greeter -endpoint tcp:localhost:1234 [-delay 1s]
//
// Each message is sent as "MESSAGE <text>\n". Try it against netcat:
// `nc -l 1234` in another terminal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/client"
)

// greeter is the Protocol: it only keeps its Transport to send messages.
type greeter struct {
	t weft.Transport
}

func (g *greeter) ConnectionMade(t weft.Transport) { g.t = t }
func (g *greeter) DataReceived([]byte)             {}
func (g *greeter) ConnectionLost(error)            {}

// sendMessage writes one message; the Transport is safe from any goroutine.
func (g *greeter) sendMessage(msg string) error {
	_, err := fmt.Fprintf(g.t, "MESSAGE %s\n", msg)
	return err
}

// run connects to ep, sends "Hello", waits delay, sends the second message,
// waits delay again and closes the connection.
func run(ctx context.Context, ep string, delay time.Duration) error {
	if delay < 0 {
		return fmt.Errorf("-delay %v is negative", delay)
	}
	g := &greeter{}
	c, err := client.Dial(ctx, ep, g, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := g.sendMessage("Hello"); err != nil {
		return err
	}
	wait := func() error {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-c.Done():
			if err := c.Wait(); err != nil {
				return fmt.Errorf("connection lost early: %w", err)
			}
			return errors.New("the server closed the connection before the greeting was done")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := wait(); err != nil {
		return err
	}
	if err := g.sendMessage("This is sent in a second"); err != nil {
		return err
	}
	if err := wait(); err != nil {
		return err
	}
	return c.Close()
}

func main() {
	ep := flag.String("endpoint", "tcp:localhost:1234", "server to greet (an endpoint client description)")
	delay := flag.Duration("delay", time.Second, "pause between the two messages, and before closing")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *ep, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "greeter:", err)
		os.Exit(1)
	}
}
