package main

// weft logbot: the IRC log bot (protocols/irc.LogBot) on a reconnecting
// client. run (main.go) dispatches to it with:
//
//	case "logbot":
//		err = logbot(ctx, args[1:], stdout, stderr)

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/client"
	"github.com/weftkit/weft/endpoint"
	"github.com/weftkit/weft/protocols/irc"
)

// defaultLogbotIdle is --idle-timeout's default: longer than the few minutes
// between the PINGs a server sends an idle client.
const defaultLogbotIdle = 5 * time.Minute

// logbotStableAfter is the bot's client.Reconnecting.StableAfter: a
// connection that ends sooner (a server that refuses the bot, or is over its
// connection limit, and hangs up) is a failed attempt, so the waits grow up
// to --max-retry instead of a reconnection every --retry.
const logbotStableAfter = 30 * time.Second

// logbotStatuses ends "weft logbot -h".
const logbotStatuses = `exit status: 0 stopped by SIGINT or SIGTERM, its normal stop (it says QUIT
first), as "weft serve"; 1 the log file cannot be opened; 2 a usage error.`

// logbot runs "weft logbot --server ENDPOINT --channel '#chan' --nick NAME
// --log FILE" until ctx ends (SIGINT, SIGTERM), then quits IRC and returns
// nil (also while it waits to open a FIFO as FILE). Once FILE is open it
// prints "logging CHANNEL on ENDPOINT to FILE" on stdout (CHANNEL as
// joined: "#" added to a name without a channel prefix), and on stderr
// each lost or failed connection with the wait before the next try, a
// registration that found no usable nick, a failed or unavailable SASL
// login (--sasl-user; never the password, which is read from
// --sasl-password-file so that it shows in no ps listing), a failed log
// write, and a failed reopen. On Unix, a SIGHUP reopens FILE (after logrotate renamed it; a
// FIFO or a device such as /dev/stdout is kept as it is): see
// irc.LogBot.Reopen.
func logbot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("logbot", stderr)
	var server, channel, nick, user, logPath, password string
	var saslUser, saslPassFile string
	var saslRequired bool
	var initial, maxDelay, idle time.Duration
	fs.StringVar(&server, "server", "", "IRC server endpoint, e.g. tcp:irc.example.org:6667 or tls:irc.example.org:6697 (required)")
	fs.StringVar(&channel, "channel", "", "channel to join and log, e.g. '#weft' (required; a name without a channel prefix gets '#')")
	fs.StringVar(&nick, "nick", "logbot", "the bot's nickname (\"^\" is appended while it is taken)")
	fs.StringVar(&user, "user", "", "user name sent with USER (empty: the nick, as Twisted does; set it when the nick holds a character the server refuses in a user name, such as '|' on ngircd)")
	fs.StringVar(&logPath, "log", "", "file the log is appended to (required; on Unix, SIGHUP reopens it, for logrotate)")
	fs.StringVar(&password, "password", "", "server password sent with PASS (empty: none)")
	fs.StringVar(&saslUser, "sasl-user", "", "account name to log in with SASL PLAIN while registering (needs --sasl-password-file; empty: no SASL)")
	fs.StringVar(&saslPassFile, "sasl-password-file", "", "file whose first line is the SASL password (a file, not a flag value, so that it does not show in ps; needs --sasl-user)")
	fs.BoolVar(&saslRequired, "sasl-required", false, "when SASL fails or the server does not offer it, disconnect and retry after the backoff instead of logging on unauthenticated")
	fs.DurationVar(&initial, "retry", irc.DefaultInitialDelay, "first reconnection delay (grows ×e per retry)")
	fs.DurationVar(&maxDelay, "max-retry", irc.DefaultMaxDelay, "longest reconnection delay")
	fs.DurationVar(&idle, "idle-timeout", defaultLogbotIdle, "reconnect when the server sends nothing for this long: a server that never welcomes the bot, or one gone silently (servers PING idle clients every few minutes; 0: never)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: weft logbot --server ENDPOINT --channel '#chan' --log FILE [flags]")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, logbotStatuses)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return fmt.Errorf("%w: logbot takes no arguments, got %q", errUsage, pos)
	case server == "":
		return fmt.Errorf("%w: logbot needs --server ENDPOINT", errUsage)
	case channel == "":
		return fmt.Errorf("%w: logbot needs --channel '#chan'", errUsage)
	case logPath == "":
		return fmt.Errorf("%w: logbot needs --log FILE", errUsage)
	case initial <= 0 || maxDelay <= 0:
		return fmt.Errorf("%w: --retry and --max-retry must be positive", errUsage)
	case initial > maxDelay:
		return fmt.Errorf("%w: --retry %v exceeds --max-retry %v", errUsage, initial, maxDelay)
	case idle < 0:
		return fmt.Errorf("%w: --idle-timeout must not be negative", errUsage)
	case saslUser != "" && saslPassFile == "":
		return fmt.Errorf("%w: --sasl-user needs --sasl-password-file", errUsage)
	case saslUser == "" && saslPassFile != "":
		return fmt.Errorf("%w: --sasl-password-file needs --sasl-user", errUsage)
	case saslRequired && saslUser == "":
		return fmt.Errorf("%w: --sasl-required needs --sasl-user and --sasl-password-file", errUsage)
	}
	var sasl *irc.SASLConfig
	if saslUser != "" {
		pass, err := readPasswordFile(ctx, saslPassFile)
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil // stopped while a FIFO waited for its writer: the normal stop
		}
		if err != nil {
			return fmt.Errorf("%w: --sasl-password-file %q: %v", errUsage, saslPassFile, err)
		}
		sasl = &irc.SASLConfig{User: saslUser, Password: pass, Required: saslRequired}
	}
	ep, err := endpoint.ParseClient(server)
	if err != nil {
		return fmt.Errorf("%w: --server %q: %v", errUsage, server, err)
	}
	// The log is opened here, not by NewLogBot, once the flags are checked:
	// opening a FIFO waits for a reader, and a SIGINT or SIGTERM meanwhile
	// must end the run.
	log := &logFile{ctx: ctx, path: logPath}
	bot, err := irc.NewLogBot(irc.LogBotConfig{Nick: nick, User: user, Channel: channel, Log: log, Password: password, SASL: sasl,
		OnError: func(err error) { fmt.Fprintf(stderr, "weft: logbot: %v\n", err) }})
	if errors.Is(err, irc.ErrConfig) {
		return fmt.Errorf("%w: %v", errUsage, logbotFlagNames(err))
	}
	if err != nil {
		return err
	}
	defer bot.Close()
	f, err := openLog(ctx, logPath)
	if ctx.Err() != nil {
		return nil // stopped during start-up: the normal stop
	}
	if err != nil {
		return fmt.Errorf("logbot: --log: %w", err)
	}
	log.f = f
	defer log.close()
	// From here on, before the "logging" line (tests wait for it), SIGHUP
	// reopens the log.
	stopHangup := onHangup(func() {
		if err := bot.Reopen(); err != nil {
			fmt.Fprintf(stderr, "weft: logbot: reopening the log: %v\n", err)
		}
	})
	defer stopHangup()
	if !strings.ContainsAny(channel[:1], "#&+!") {
		channel = "#" + channel // as irc.NewLogBot does: the channel joined
	}
	fmt.Fprintf(stdout, "logging %s on %s to %s\n", channel, ep.Desc, logPath)
	r := &client.Reconnecting{
		Endpoint:    server,
		Factory:     bot,
		Conn:        &weft.Options{IdleTimeout: idle},
		StableAfter: logbotStableAfter,
		Backoff:     &client.Exponential{Initial: initial, Max: maxDelay, Multiplier: math.E, Jitter: 0.12},
		OnConnectFailed: func(err error, _ int, next time.Duration) {
			fmt.Fprintf(stderr, "weft: logbot: %v; retrying in %v\n", err, next.Round(time.Millisecond))
		},
		OnConnectionLost: func(err error, next time.Duration) {
			// Once ctx is done the bot is stopping (its QUIT may close
			// the connection before Run is told): no reconnection.
			if next != client.GiveUp && ctx.Err() == nil {
				fmt.Fprintf(stderr, "weft: logbot: connection lost (%v); reconnecting in %v\n", orClean(err), next.Round(time.Millisecond))
			}
		},
	}
	// On SIGINT/SIGTERM say QUIT first, then stop reconnecting.
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(ctx, func() { bot.Quit("weft logbot stopping"); cancel() })
	defer stop()
	err = r.Run(runCtx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// maxPasswordLine bounds the first line read from --sasl-password-file, so
// that a file without end (/dev/zero) or a huge one is refused, not read
// into memory.
const maxPasswordLine = 4096

// readPasswordFile returns the first line of the file at path, without its
// line end (LF, CRLF); it reads no further, so a FIFO (a shell's process
// substitution) works. A FIFO, whose writer may never come, is read by
// interruptible: ctx's error is returned if ctx ends first (the goroutine
// is left in open(2) or read(2), to end with the FIFO). Its errors never
// hold the file's content (nor its path: the caller names the flag and the
// file): a missing or unreadable file, an empty first line, or one over
// maxPasswordLine bytes (its line end not counted).
func readPasswordFile(ctx context.Context, path string) (string, error) {
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return readFirstLine(path) // not a FIFO: it does not wait (or fails as Stat did)
	}
	return interruptible(ctx, func() (string, error) { return readFirstLine(path) }, nil)
}

// readFirstLine is readPasswordFile without ctx.
func readFirstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // "no such file or directory", without the path again
		}
		return "", err
	}
	defer f.Close()
	// maxPasswordLine bytes and a CRLF at most: a line end past them is
	// not looked for.
	const limit = maxPasswordLine + 2
	line, err := bufio.NewReaderSize(io.LimitReader(f, limit), limit).ReadString('\n')
	switch {
	case err == nil:
	case err == io.EOF && len(line) < limit: // the whole file, no line end
	case err == io.EOF:
		return "", fmt.Errorf("the first line is over %d bytes", maxPasswordLine)
	default:
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch {
	case len(line) > maxPasswordLine:
		return "", fmt.Errorf("the first line is over %d bytes", maxPasswordLine)
	case line == "":
		return "", errors.New("the first line is empty (want the password)")
	}
	return line, nil
}

// logFile is the bot's log: the file set once openLog opened it, before
// the bot runs, and opened again by Reopen (irc.LogBot.Reopen calls it).
// Write and Reopen are safe to call concurrently: each Write goes whole to
// one file.
type logFile struct {
	ctx  context.Context // ends a Reopen waiting in open(2)
	path string

	reopening sync.Mutex // held by Reopen for its whole run
	mu        sync.Mutex // guards f; held during each Write
	f         *os.File
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen opens path again, as openLog does, writes to the new file from
// then on and closes the old one. A log that is not a regular file (a
// FIFO, /dev/stdout, a terminal) is kept: nothing rotates it by renaming,
// and opening a FIFO again would wait for a reader. If the open fails the
// old file stays in use.
func (l *logFile) Reopen() error {
	l.reopening.Lock()
	defer l.reopening.Unlock()
	l.mu.Lock()
	old := l.f
	l.mu.Unlock()
	fi, err := old.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	// Opened without l.mu: the bot keeps logging to the old file meanwhile.
	f, err := openLog(l.ctx, l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// close closes the file in use.
func (l *logFile) close() error {
	l.reopening.Lock()
	defer l.reopening.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// openLog opens path for appending (created 0600: the log holds private
// messages), as irc.NewLogBot opens LogPath, unless ctx ends first: opening a FIFO waits for a reader, for
// ever if none comes. It then returns ctx's error, and the file, if it is
// opened later, is closed.
func openLog(ctx context.Context, path string) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return interruptible(ctx, func() (*os.File, error) {
		return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	}, func(f *os.File) { f.Close() })
}

// logbotFlagNames rewrites the IRC package's field names in a configuration
// error into the flags that set them, so that a usage error names the flag.
func logbotFlagNames(err error) string {
	return strings.NewReplacer(
		"(Config.Nick, User, RealName or Password)", "(--nick, --user or --password)",
		"Config.RealName or Config.Password", "--password",
		"Config.SASL: User and Password must not be empty", "--sasl-user and the --sasl-password-file line must not be empty",
		"Config.SASL: User, Password or AuthzID", "--sasl-user or the --sasl-password-file line",
		"LogBotConfig.Channel", "--channel",
		"Config.Nick", "--nick",
		"Config.User", "--user",
	).Replace(err.Error())
}
