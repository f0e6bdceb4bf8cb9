package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/weftkit/weft/endpoint"
	"github.com/weftkit/weft/protocols/poetry"
)

// get runs "weft get poetry ENDPOINT...": progress on stderr, each poem on
// stdout, in the order of the endpoints, as soon as it and those before it
// are complete; exit status 1 if any download failed. A SIGINT or SIGTERM
// (ctx done) ends it: what is printed stays printed, nothing more is (a
// write to stdout under way is given up), the downloads cut short are not
// reported as failures, and the status is interruptStatus's (130 or 143).
func get(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("get poetry", stderr)
	maxPoem := fs.Int("max-poem", 0, "largest poem accepted, in bytes (0: 16 MiB)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: weft get poetry ENDPOINT... (e.g. tcp:127.0.0.1:10000)")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, getStatuses)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || pos[0] != "poetry" {
		return fmt.Errorf("%w: get takes the protocol \"poetry\" followed by endpoints", errUsage)
	}
	eps := pos[1:]
	if len(eps) == 0 {
		return fmt.Errorf("%w: get poetry needs at least one ENDPOINT", errUsage)
	}
	for _, d := range eps {
		if _, err := endpoint.ParseClient(d); err != nil {
			return fmt.Errorf("%w: endpoint %q: %v", errUsage, d, err)
		}
	}
	if *maxPoem < 0 {
		return fmt.Errorf("%w: --max-poem %d is negative", errUsage, *maxPoem)
	}
	// One Client per server, so that each poem is printed as soon as it
	// and those before it are complete: an interrupt keeps what is
	// printed, and a slow last server does not hold the first poems back.
	var mu sync.Mutex // stderr's lines
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, format, a...)
	}
	dctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // a stdout error ends the downloads too
	results := make([]chan poetry.Result, len(eps))
	for i, ep := range eps {
		results[i] = make(chan poetry.Result, 1)
		c := poetry.Client{MaxPoem: *maxPoem, Progress: func(_, n, total int) {
			say("poem %d from %s: %d bytes (%d so far)\n", i+1, ep, n, total)
		}}
		wg.Go(func() { results[i] <- c.Get(dctx, ep)[0] })
	}
	out := interruptibleWriter{ctx, stdout}
	failed := 0
	for i := range eps {
		r := <-results[i]
		if ctx.Err() != nil {
			// Interrupted: what is printed stays printed, nothing more
			// is, and the downloads cut short are no failures.
			return exitError{interruptStatus(ctx)}
		}
		if r.Err != nil {
			failed++
			say("poem %d failed: %v\n", i+1, r.Err)
			continue
		}
		say("poem %d from %s: done, %d bytes\n", i+1, r.Endpoint, len(r.Poem))
		if _, err := out.Write(r.Poem); err != nil {
			if ctx.Err() != nil {
				return exitError{interruptStatus(ctx)}
			}
			return fmt.Errorf("writing stdout: %w", err)
		}
	}
	if failed > 0 {
		say("weft: %d of %d downloads failed\n", failed, len(eps))
		return exitError{1}
	}
	return nil
}

// getStatuses ends "weft get -h".
const getStatuses = `Each poem is printed once it and those before it are complete.
exit status: 0 every poem printed; 1 a download failed (the other poems
are printed); 2 a usage error; 130 (SIGINT) or 143 (SIGTERM) interrupted:
what was printed stays, nothing more is.`

// interruptStatus is the exit status of a command that a SIGINT or SIGTERM
// (ctx's end) cut short before its own end, as get and connect are: 128 +
// the signal's number, 130 or 143, the status a shell shows for a command
// killed by that signal (socat's). main, seeing that status after that
// signal, re-raises the signal where it can (Unix), so that the process
// ends killed by it; the status is what remains elsewhere (Windows). A
// command whose normal stop is the signal (serve, logbot) exits 0 instead.
// The signal is the one main's notifyContext recorded as ctx's cause
// (interruptSignal); any other end of ctx counts as SIGINT.
func interruptStatus(ctx context.Context) int {
	if sig, ok := interruptSignal(ctx); ok {
		return 128 + int(sig)
	}
	return 128 + int(syscall.SIGINT)
}

// errWriteInterrupted is interruptibleWriter's error once ctx ended.
var errWriteInterrupted = errors.New("write to stdout given up: interrupted")

// interruptibleWriter writes to w on another goroutine, so that a write
// blocked on a stdout nobody reads (a pipe into a pager that stopped
// reading, a terminal paused with ^S) does not hold get or connect after a
// SIGINT or SIGTERM: once ctx is done, Write returns errWriteInterrupted and
// leaves the blocked write behind, with a copy of its bytes (the process
// is about to exit). Writes are never concurrent: a Write returns once its
// write did, or after ctx ended, and none starts after that.
type interruptibleWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w interruptibleWriter) Write(p []byte) (int, error) {
	if w.ctx.Err() != nil {
		return 0, errWriteInterrupted
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	b := bytes.Clone(p) // p may be reused once Write returned
	go func() {
		n, err := w.w.Write(b)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-w.ctx.Done():
		return 0, errWriteInterrupted
	}
}
