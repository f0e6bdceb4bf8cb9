// Command echoclient is Twisted's echo client example (ClientFactory with
// startedConnecting, buildProtocol, clientConnectionLost and
// clientConnectionFailed): it connects, sends a message, prints what the
// server answers, then closes. It reports each step exactly as Twisted's
// example does:
//
//	Started to connect.
//	Connected.
//	Server said: hello, world
//	Lost connection. Reason: connection closed cleanly
//
// or, when nobody listens, "Connection failed. Reason: ...".
//
//	echoclient -endpoint tcp:localhost:8000 -message "hello, world"
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/client"
)

// echo sends its message when connected and closes after the first answer.
type echo struct {
	out io.Writer
	msg string
	t   weft.Transport
}

func (e *echo) ConnectionMade(t weft.Transport) {
	e.t = t
	fmt.Fprintln(e.out, "Connected.")
	t.Write([]byte(e.msg))
}

func (e *echo) DataReceived(data []byte) {
	fmt.Fprintf(e.out, "Server said: %s\n", data)
	e.t.LoseConnection()
}

func (e *echo) ConnectionLost(error) {}

// reasonText describes a ConnectionLost reason (nil is a clean close).
func reasonText(err error) string {
	if err == nil {
		return "connection closed cleanly"
	}
	return err.Error()
}

// run connects to ep, prints each step to out and returns the error of a
// failed connection attempt.
func run(ctx context.Context, ep, msg string, out io.Writer) error {
	fmt.Fprintln(out, "Started to connect.")
	c, err := client.Dial(ctx, ep, &echo{out: out, msg: msg}, nil)
	if err != nil {
		fmt.Fprintf(out, "Connection failed. Reason: %v\n", err)
		return err
	}
	select {
	case <-c.Done():
	case <-ctx.Done(): // interrupted: close at once
		c.Transport().Abort()
	}
	fmt.Fprintf(out, "Lost connection. Reason: %s\n", reasonText(c.Wait()))
	return ctx.Err()
}

func main() {
	ep := flag.String("endpoint", "tcp:localhost:8000", "echo server (an endpoint client description)")
	msg := flag.String("message", "hello, world", "message to send")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *ep, *msg, os.Stdout); err != nil {
		os.Exit(1)
	}
}
