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
// Unlike Twisted's example it does not wait forever: if the whole exchange
// (connecting included) takes longer than -timeout (default 10 s; 0 means no
// limit), for example with a server that accepts and never answers, it
// closes the connection, prints "Lost connection. Reason: echoclient: timed
// out after 10s" and exits with status 1.
//
//	echoclient -endpoint tcp:localhost:8000 -message "hello, world" -timeout 10s
//
// Port 8000, the default, is Twisted's; the echo servers here listen on
// 8007, so start one on 8000 (`weft serve echo --listen
// tcp:8000:interface=127.0.0.1`) or pass -endpoint tcp:localhost:8007.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/client"
)

// defaultTimeout is the -timeout flag's default.
const defaultTimeout = 10 * time.Second

// errTimeout: the exchange took longer than the timeout.
var errTimeout = errors.New("echoclient: timed out")

// errNegativeTimeout: -timeout must be 0 (no limit) or more.
var errNegativeTimeout = errors.New("echoclient: the timeout is negative")

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

// config is what the flags set.
type config struct {
	endpoint string // an endpoint client description
	message  string
	// timeout bounds the whole exchange, connecting included; zero means
	// no limit.
	timeout time.Duration
	// dial opens the connection; nil means endpoint.Dial.
	dial client.DialFunc
}

// run connects to cfg.endpoint, prints each step to out and returns the error
// of a failed connection attempt, or why the exchange was cut short (the
// timeout, or ctx's end).
func run(ctx context.Context, cfg config, out io.Writer) error {
	if cfg.message == "" {
		return errEmptyMessage
	}
	if cfg.timeout < 0 {
		return fmt.Errorf("%w: %v", errNegativeTimeout, cfg.timeout)
	}
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cfg.timeout, fmt.Errorf("%w after %v", errTimeout, cfg.timeout))
		defer cancel()
	}
	fmt.Fprintln(out, "Started to connect.")
	c, err := client.Dial(ctx, cfg.endpoint, &echo{out: out, msg: cfg.message}, &client.Options{Dialer: cfg.dial})
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		fmt.Fprintf(out, "Connection failed. Reason: %v\n", err)
		return err
	}
	var cut error
	select {
	case <-c.Done():
	case <-ctx.Done(): // timed out or interrupted: close at once
		cut = context.Cause(ctx)
		c.Transport().Abort()
	}
	reason := c.Wait()
	if cut != nil && reason != nil { // ended by the Abort, not before it
		fmt.Fprintf(out, "Lost connection. Reason: %v\n", cut)
		return cut
	}
	fmt.Fprintf(out, "Lost connection. Reason: %s\n", reasonText(reason))
	return nil
}

func main() {
	ep := flag.String("endpoint", "tcp:localhost:8000", "echo server (an endpoint client description)")
	msg := flag.String("message", "hello, world", "message to send")
	timeout := flag.Duration("timeout", defaultTimeout, "give up if the exchange, connecting included, takes longer (0: no limit)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, config{endpoint: *ep, message: *msg, timeout: *timeout}, os.Stdout); err != nil {
		if errors.Is(err, errEmptyMessage) || errors.Is(err, errNegativeTimeout) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(1)
	}
}
