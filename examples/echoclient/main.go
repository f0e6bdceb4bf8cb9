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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/client"
)

// errEmptyMessage: an echo server answers nothing to an empty message.
var errEmptyMessage = errors.New("echoclient: the message is empty: the server would never answer")

// echo sends its message when connected and closes after the answer: as
// many bytes as it sent, however many reads they arrive in.
type echo struct {
	out  io.Writer
	msg  string
	t    weft.Transport
	got  []byte // the answer so far
	done bool   // the answer was printed
}

func (e *echo) ConnectionMade(t weft.Transport) {
	e.t = t
	fmt.Fprintln(e.out, "Connected.")
	t.Write([]byte(e.msg))
}

func (e *echo) DataReceived(data []byte) {
	if e.done {
		return
	}
	e.got = append(e.got, data...)
	if len(e.got) >= len(e.msg) {
		e.print()
		e.t.LoseConnection()
	}
}

// ConnectionLost prints a partial answer, if the server closed before
// answering in full.
func (e *echo) ConnectionLost(error) {
	if !e.done && len(e.got) > 0 {
		e.print()
	}
}

func (e *echo) print() {
	e.done = true
	fmt.Fprintf(e.out, "Server said: %s\n", e.got)
}

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
	if msg == "" {
		return errEmptyMessage
	}
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
		if errors.Is(err, errEmptyMessage) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(1)
	}
}
