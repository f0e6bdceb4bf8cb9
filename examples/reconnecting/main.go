// Command reconnecting is a line client that stays connected: it sends each
// line read from standard input to the server, prints each line the server
// sends, and when the connection fails or drops it reconnects with
// exponential backoff and jitter (client.Reconnecting, Twisted's
// ReconnectingClientFactory). It stops at the end of its input or on Ctrl-C.
//
//	reconnecting -endpoint tcp:localhost:8007
//
// Output: "connecting (attempt N)", "connected to ADDR", "< LINE" for each
// line received, "connection failed: ERR; retrying in D", "connection lost:
// REASON; reconnecting in D", and "! not connected: line dropped" for input
// typed while disconnected.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/client"
	"github.com/weftkit/weft/codec"
)

// printer serializes output written from several goroutines.
type printer struct {
	mu  sync.Mutex
	out io.Writer
}

func (p *printer) printf(format string, v ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format+"\n", v...)
}

// lines is the Factory; the current connection's LineReceiver lives here so
// that input can be sent to whichever connection is live.
type lines struct {
	p  *printer
	mu sync.Mutex
	lr *codec.LineReceiver // nil while disconnected
}

func (f *lines) BuildProtocol(net.Addr) weft.Protocol { return codec.NewLineReceiver(&handler{f: f}) }

// send sends line on the live connection, if any.
func (f *lines) send(line string) bool {
	f.mu.Lock()
	lr := f.lr
	f.mu.Unlock()
	return lr != nil && lr.SendLine([]byte(line)) == nil
}

// handler is one connection's LineHandler.
type handler struct{ f *lines }

func (h *handler) ConnectionMade(r *codec.LineReceiver) {
	h.f.mu.Lock()
	h.f.lr = r
	h.f.mu.Unlock()
	h.f.p.printf("connected to %v", r.Transport().RemoteAddr())
}

func (h *handler) LineReceived(line []byte) { h.f.p.printf("< %s", line) }

func (h *handler) ConnectionLost(error) {
	h.f.mu.Lock()
	h.f.lr = nil
	h.f.mu.Unlock()
}

func reasonText(err error) string {
	if err == nil {
		return "closed cleanly"
	}
	return err.Error()
}

func delayText(d time.Duration) string {
	if d == client.GiveUp {
		return "giving up"
	}
	return "in " + d.Round(time.Millisecond).String()
}

// run keeps a line connection to ep until in ends or ctx is done.
func run(ctx context.Context, ep string, backoff client.Backoff, in io.Reader, out io.Writer) error {
	p := &printer{out: out}
	f := &lines{p: p}
	r := &client.Reconnecting{
		Endpoint: ep,
		Factory:  f,
		Backoff:  backoff,
		OnConnecting: func(attempt int) {
			p.printf("connecting (attempt %d)", attempt)
		},
		OnConnectFailed: func(err error, attempt int, next time.Duration) {
			p.printf("connection failed: %v; retrying %s", err, delayText(next))
		},
		OnConnectionLost: func(reason error, next time.Duration) {
			p.printf("connection lost: %s; reconnecting %s", reasonText(reason), delayText(next))
		},
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	defer r.Stop()
	input := make(chan string)
	go func() {
		defer close(input)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case input <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case line, ok := <-input:
			if !ok {
				return nil
			}
			if !f.send(line) {
				p.printf("! not connected: line dropped")
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func main() {
	ep := flag.String("endpoint", "tcp:localhost:8007", "line server (an endpoint client description)")
	initial := flag.Duration("initial", time.Second, "first retry delay")
	maxDelay := flag.Duration("max", 120*time.Second, "longest retry delay (before ±20% jitter)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	b := client.GRPC()
	b.Initial, b.Max = *initial, *maxDelay
	if err := b.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "reconnecting:", err)
		os.Exit(2)
	}
	if err := run(ctx, *ep, b, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "reconnecting:", err)
		os.Exit(1)
	}
}
