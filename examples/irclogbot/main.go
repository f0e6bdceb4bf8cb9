// Command irclogbot is Twisted's classic ircLogBot example on weft: it
// joins one IRC channel and logs what is said there to a file, one
// "[HH:MM:SS] " line per event, and reconnects with backoff when the server
// goes away (with waits that grow while the server keeps hanging up on
// it). Kicked from the channel, it logs the kick and joins again after a
// few seconds (longer if it keeps being kicked or is banned); the kicks of
// other users are logged too. What cannot go in the log (a failed write, a
// full disk, no usable nick) is printed on stderr.
//
//	irclogbot [-server tcp:127.0.0.1:6667] [-nick logbot] [-retry 1s] CHANNEL FILE
//
// As in Twisted, "irclogbot test test.log" logs channel #test to test.log.
// If someone says "logbot: hello" in the channel, the bot answers "<user>:
// I am a log bot"; a private message gets "It isn't nice to whisper!  Play
// nice with the group."
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/weftkit/weft/client"
	"github.com/weftkit/weft/endpoint"
	"github.com/weftkit/weft/protocols/irc"
)

// stableAfter is the bot's client.Reconnecting.StableAfter: a connection
// that ends sooner (a server that accepts and hangs up, a K-line, a
// reconnection throttle, no usable nick) counts as a failed attempt, so the
// waits keep growing instead of starting again from -retry each time.
const stableAfter = 30 * time.Second

// lockedWriter serializes writes to w: the bot reports from its connection's
// goroutine and from client.Reconnecting's.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, runs the bot until ctx ends and returns the exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("irclogbot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "tcp:127.0.0.1:6667", "IRC server endpoint")
	nick := fs.String("nick", "logbot", "the bot's nickname")
	retry := fs.Duration("retry", irc.DefaultInitialDelay, "first reconnection delay")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: irclogbot [-server ENDPOINT] [-nick NAME] [-retry DUR] CHANNEL FILE")
		return 2
	}
	channel := fs.Arg(0)
	if channel != "" && !strings.ContainsAny(channel[:1], "#&+!") {
		channel = "#" + channel
	}
	ep, err := endpoint.ParseClient(*server)
	if err != nil {
		fmt.Fprintf(stderr, "irclogbot: -server: %v\n", err)
		return 2
	}
	stderr = &lockedWriter{w: stderr}
	bot, err := irc.NewLogBot(irc.LogBotConfig{Nick: *nick, Channel: channel, LogPath: fs.Arg(1),
		OnError: func(err error) { fmt.Fprintf(stderr, "irclogbot: %v\n", err) }})
	if err != nil {
		fmt.Fprintf(stderr, "irclogbot: %v\n", err)
		return 1
	}
	defer bot.Close()
	r := &client.Reconnecting{
		Endpoint:    ep.Desc,
		Factory:     bot, // the log file lives here, across reconnects
		Backoff:     &client.Exponential{Initial: *retry, Max: irc.DefaultMaxDelay, Multiplier: math.E, Jitter: 0.12},
		StableAfter: stableAfter,
		// Once ctx has ended the bot is stopping: its QUIT's hang-up is
		// not followed by a reconnection, whatever the delay says.
		OnConnectionLost: func(err error, next time.Duration) {
			if next != client.GiveUp && ctx.Err() == nil {
				fmt.Fprintf(stderr, "irclogbot: connection lost (%v); reconnecting in %v\n", err, next.Round(time.Millisecond))
			}
		},
		OnConnectFailed: func(err error, _ int, next time.Duration) {
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintf(stderr, "irclogbot: %v; retrying in %v\n", err, next.Round(time.Millisecond))
		},
	}
	// When ctx ends, say QUIT, then stop reconnecting.
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer context.AfterFunc(ctx, func() { bot.Quit(""); cancel() })()
	if err := r.Run(runCtx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "irclogbot: %v\n", err)
		return 1
	}
	return 0
}
