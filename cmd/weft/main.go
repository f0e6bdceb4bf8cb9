// Command weft serves the classic protocols on any endpoint and talks to
// servers, like Twisted's twist command:
//
//	weft serve PROTOCOL --listen ENDPOINT [--listen ENDPOINT ...] [flags]
//	weft get poetry ENDPOINT...
//	weft connect ENDPOINT [--codec C] [--reconnect]
//	weft logbot --server ENDPOINT --channel '#chan' --log FILE [flags]
//
// PROTOCOL is one of echo, discard, chargen, qotd, daytime, time, poetry,
// chat. On start, serve prints one line per listener on stdout, exactly
// "listening on NETWORK ADDRESS" (for example "listening on tcp
// 127.0.0.1:40123"); SIGINT or SIGTERM shut it down gracefully (exit 0),
// and a second one during that shutdown ends the process at once, killed by
// that signal (status 130 or 143 in a shell). logbot stops the same way
// (exit 0), and on SIGHUP (Unix) reopens its --log file (for logrotate).
// get and connect, cut short by SIGINT or SIGTERM, print nothing more and
// then, on Unix, end killed by that signal, re-raised (status 130
// or 143 in a shell, which stops its loop or script as after Ctrl-C); on
// Windows they exit with status 130 or 143.
// Usage errors exit with status 2 and name the bad flag or endpoint; "weft
// serve -h" lists the flags. Flags may come before or after PROTOCOL.
// Runtime errors exit with status 1: for connect, a refused connection, a
// stream that ends inside a frame (codec.ErrTruncated), a stdout that
// cannot be written ("writing stdout"), or a stdin line the codec refuses
// (after the replies to the lines before it are printed). With
// --reconnect, connect sends on the next connection the stdin lines that a
// lost connection had taken but not written into its socket; a line
// written into a socket that then drops may be lost (docs/operations.md).
//
// The pieces: main.go (dispatch, exit codes, signals), reraise_unix.go and
// reraise_other.go (ending killed by a signal, or not), serve.go (the serve
// command and its server flags), get.go (weft get poetry), connect.go (weft
// connect, with reconnection and backoff), logbot.go (the IRC log bot),
// logbot_hup_unix.go and logbot_hup_other.go (the log reopened on SIGHUP,
// or not), interrupt.go (start-up waits that a signal ends), flags.go
// (shared flag helpers).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// errUsage marks an error the user made on the command line (exit 2).
var errUsage = errors.New("usage")

// exitError carries an exit status.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

const usage = `usage:
  weft serve PROTOCOL --listen ENDPOINT [--listen ENDPOINT ...] [flags]
      PROTOCOL: echo, discard, chargen, qotd, daytime, time, poetry, chat
  weft get poetry ENDPOINT...
  weft connect ENDPOINT [--codec raw|line|netstring|int8|int16|int32] [--reconnect]
  weft logbot --server ENDPOINT --channel '#chan' --log FILE [--nick NAME]
Run "weft COMMAND -h" for the flags of a command.
`

func main() {
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	// get and connect, cut short by the signal, return 128 + its number:
	// end as a program that handles the signal to clean up ends once done,
	// killed by it, so that a shell stops its loop or script as after
	// Ctrl-C of cat (bash goes on after a child that exited, whatever its
	// status). The status stays where that cannot be done (Windows).
	if sig, ok := interruptSignal(ctx); ok && code == 128+int(sig) {
		reraise(sig)
	}
	os.Exit(code)
}

// interruption is the cause of notifyContext's context: the signal that
// came.
type interruption struct{ sig syscall.Signal }

func (i interruption) Error() string { return i.sig.String() + " signal received" }

// notifyContext is signal.NotifyContext with the signal recorded as the
// context's cause (an interruption, read by interruptSignal, not by its
// text). The first of sigs to arrive asks for a graceful end; once it came,
// the signals' default action is back, so that a second one ends the
// process at once, killed by it, instead of waiting out a drain
// (--shutdown-timeout) or a start-up step that does not return. stop
// releases the signals if none came (their default action is back); it
// leaves ctx as it is.
func notifyContext(parent context.Context, sigs ...os.Signal) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)              // before cancel: the default action is back once ctx is done
			sig, _ := s.(syscall.Signal) // os/signal delivers only syscall.Signal values
			cancel(interruption{sig})
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}

// interruptSignal is the signal that ended ctx (notifyContext's), if one
// did.
func interruptSignal(ctx context.Context) (syscall.Signal, bool) {
	var i interruption
	if errors.As(context.Cause(ctx), &i) {
		return i.sig, true
	}
	return 0, false
}

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "get":
		err = get(ctx, args[1:], stdout, stderr)
	case "connect":
		err = connect(ctx, args[1:], stdin, stdout, stderr)
	case "logbot":
		err = logbot(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("%w: unknown command %q (the commands: serve, get, connect, logbot; weft -h says more)", errUsage, args[0])
	}
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, prefixed(err))
		return 2
	default:
		fmt.Fprintln(stderr, prefixed(err))
		return 1
	}
}

// prefixed is err's message after "weft: ", once: the runtime's own errors
// already start with it.
func prefixed(err error) string {
	if msg := err.Error(); strings.HasPrefix(msg, "weft: ") {
		return msg
	}
	return "weft: " + err.Error()
}
