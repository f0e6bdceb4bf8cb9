// Command reconnecting is a line client that stays connected: it sends each
// line read from standard input to the server, prints each line the server
// sends, and when the connection fails or drops it reconnects with
// exponential backoff and jitter (client.Reconnecting, Twisted's
// ReconnectingClientFactory). A connection that ends within -stable (5 s by
// default: client.Reconnecting.StableAfter) counts as a failed attempt, so
// a server that accepts and hangs up at once (one over its connection
// limit, a proxy before a dead backend) is retried with a growing delay,
// not every -initial for ever; -stable 0 counts every connection made as a
// success, restarting the backoff. It stops on Ctrl-C, at the end of its
// input once the lines read are sent, or with an error if the client gives
// up (never with these flags).
// Input is read no faster than the server takes it (a weft.Gate per
// connection), so a slow server slows the input down instead of being
// dropped as a slow consumer. Lines read while there is no connection
// (before the first one, as with `echo hi | reconnecting`, or between two)
// wait for the next one and are sent in order, as `weft connect
// --reconnect` does, up to 1 MiB: a line beyond that is dropped. A line
// handed to a connection that then drops may be lost.
//
//	reconnecting -endpoint tcp:localhost:8007 [-initial 1s] [-max 2m] [-stable 5s]
//
// Output: "connecting (attempt N)", "connected to ADDR", "< LINE" for each
// line received, "connection failed: ERR; retrying in D", "connection lost:
// REASON; reconnecting in D" (either ends "; giving up" when the client will
// not try again), "! input waiting for a connection would exceed 1048576
// bytes: line dropped", and "! line over 16384 bytes: line dropped" for an
// input line too long for the line codec.
package main

import (
	"bufio"
	"bytes"
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
	p         *printer
	connected chan struct{} // a connection was made (buffered: 1)
	mu        sync.Mutex
	lr        *codec.LineReceiver // nil while disconnected
	gate      *weft.Gate          // lr's flow control
}

func (f *lines) BuildProtocol(net.Addr) weft.Protocol { return codec.NewLineReceiver(&handler{f: f}) }

// send sends line on the live connection and reports whether it could (not
// while disconnected, nor on a connection being closed), then waits while
// the server is slow to take what was sent (flow control: the input is read
// no faster than the server reads, instead of overflowing the write buffer).
func (f *lines) send(ctx context.Context, line []byte) bool {
	f.mu.Lock()
	lr, gate := f.lr, f.gate
	f.mu.Unlock()
	if lr == nil || lr.SendLine(line) != nil {
		return false
	}
	// The line is queued: a lost connection or ctx's end, which Wait
	// reports, is reported elsewhere.
	_ = gate.Wait(ctx)
	return true
}

// handler is one connection's LineHandler.
type handler struct{ f *lines }

func (h *handler) ConnectionMade(r *codec.LineReceiver) {
	gate := weft.NewGate(r.Transport())
	h.f.mu.Lock()
	h.f.lr, h.f.gate = r, gate
	h.f.mu.Unlock()
	h.f.p.printf("connected to %v", r.Transport().RemoteAddr())
	select {
	case h.f.connected <- struct{}{}: // send what waits
	default: // already told
	}
}

func (h *handler) LineReceived(line []byte) { h.f.p.printf("< %s", line) }

func (h *handler) ConnectionLost(error) {
	h.f.mu.Lock()
	h.f.lr, h.f.gate = nil, nil
	h.f.mu.Unlock()
}

func reasonText(err error) string {
	if err == nil {
		return "closed cleanly"
	}
	return err.Error()
}

// afterText says what comes next: again (the verb: "retrying",
// "reconnecting") after d, or, when the client will not try again
// (client.GiveUp: stopped, or the Backoff gave up), "giving up".
func afterText(again string, d time.Duration) string {
	if d == client.GiveUp {
		return "giving up"
	}
	return again + " in " + d.Round(time.Millisecond).String()
}

// defaultStableAfter is how long a connection must stay up to count as
// successful and restart the backoff (the -stable flag): longer than a
// server that refuses by hanging up takes to do it, shorter than a session.
const defaultStableAfter = 5 * time.Second

// maxPending bounds the bytes of the input lines that wait for a
// connection: past it, lines are dropped rather than kept in memory.
const maxPending = 1 << 20

// run keeps a line connection to ep until in ends and its lines are sent,
// or ctx is done; it returns an error if the client gives up. A
// connection that ends within stableAfter counts as a failed attempt
// (client.Reconnecting.StableAfter; 0: every connection made is a success).
func run(ctx context.Context, ep string, backoff client.Backoff, stableAfter time.Duration, in io.Reader, out io.Writer) error {
	p := &printer{out: out}
	f := &lines{p: p, connected: make(chan struct{}, 1)}
	r := &client.Reconnecting{
		Endpoint: ep,
		Factory:  f,
		Backoff:  backoff,
		// Without it, a server that accepts and hangs up at once would be
		// retried every Delay(1) for ever: the backoff would restart
		// after each of its connections.
		StableAfter: stableAfter,
		OnConnecting: func(attempt int) {
			p.printf("connecting (attempt %d)", attempt)
		},
		OnConnectFailed: func(err error, attempt int, next time.Duration) {
			p.printf("connection failed: %v; %s", err, afterText("retrying", next))
		},
		OnConnectionLost: func(reason error, next time.Duration) {
			p.printf("connection lost: %s; %s", reasonText(reason), afterText("reconnecting", next))
		},
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	defer r.Stop()
	ended := make(chan struct{}) // the client gave up, or ctx ended it
	go func() { r.Wait(); close(ended) }()
	input := make(chan []byte)
	var inErr error // set before input is closed
	go func() {
		defer close(input)
		inErr = readLines(ctx, in, codec.DefaultMaxLineLength, input)
	}()
	lines := (<-chan []byte)(input) // nil once the input ended
	var pending [][]byte            // lines read and not sent yet, oldest first
	size := 0                       // their bytes
	for {
		for len(pending) > 0 && f.send(ctx, pending[0]) {
			size -= len(pending[0])
			pending = pending[1:]
		}
		if lines == nil && len(pending) == 0 {
			if inErr != nil {
				return fmt.Errorf("reading input: %w", inErr)
			}
			return nil
		}
		select {
		case line, ok := <-lines:
			switch {
			case !ok:
				lines = nil
			case len(line) > codec.DefaultMaxLineLength:
				p.printf("! line over %d bytes: line dropped", codec.DefaultMaxLineLength)
			case size+len(line) > maxPending:
				p.printf("! input waiting for a connection would exceed %d bytes: line dropped", maxPending)
			default:
				pending = append(pending, line)
				size += len(line)
			}
		case <-f.connected: // send what waits
		case <-ended:
			if ctx.Err() != nil {
				return nil
			}
			if len(pending) > 0 {
				return fmt.Errorf("%w (lines not sent: %d)", r.Wait(), len(pending))
			}
			return r.Wait()
		case <-ctx.Done():
			return nil
		}
	}
}

// readLines sends each line of in, without its "\n" or "\r\n", to input
// until in ends or ctx is done, and returns why in could not be read to its
// end, or nil. A line longer than maxLen bytes is cut to maxLen+1 bytes (too long
// to send): it is neither kept whole in memory nor taken for the end of
// the input.
func readLines(ctx context.Context, in io.Reader, maxLen int, input chan<- []byte) error {
	r := bufio.NewReader(in)
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		line = append(line, frag[:min(len(frag), maxLen+2-len(line))]...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		select {
		case input <- line[:min(len(line), maxLen+1)]:
		case <-ctx.Done():
			return nil
		}
		if err != nil { // io.EOF after a last line without "\n"
			return nil
		}
		line = nil
	}
}

func main() {
	ep := flag.String("endpoint", "tcp:localhost:8007", "line server (an endpoint client description)")
	initial := flag.Duration("initial", time.Second, "first retry delay")
	maxDelay := flag.Duration("max", 120*time.Second, "longest retry delay (before ±20% jitter)")
	stable := flag.Duration("stable", defaultStableAfter, "a connection that ends sooner counts as a failed attempt: the retry delay keeps growing (0: every connection made restarts the backoff)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	b := client.GRPC()
	b.Initial, b.Max = *initial, *maxDelay
	if err := b.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "reconnecting:", err)
		os.Exit(2)
	}
	if err := run(ctx, *ep, b, *stable, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "reconnecting:", err)
		os.Exit(1)
	}
}
