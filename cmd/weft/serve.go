package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/endpoint"
	"github.com/weftkit/weft/protocols/chat"
	"github.com/weftkit/weft/protocols/poetry"
	"github.com/weftkit/weft/protocols/wire"
	"github.com/weftkit/weft/server"
)

// defaultShutdownTimeout bounds the graceful shutdown after SIGINT/SIGTERM.
const defaultShutdownTimeout = 10 * time.Second

// defaultPoem is served by "weft serve poetry" without --file.
const defaultPoem = `O Rose thou art sick.
The invisible worm,
That flies in the night
In the howling storm:

Has found out thy bed
Of crimson joy:
And his dark secret love
Does thy life destroy.
`

const protocolNames = "echo, discard, chargen, qotd, daytime, time, poetry, chat"

type serveFlags struct {
	listen, quotes                       strList
	codec, overflow, rejectMsg, logLevel string
	engine                               string
	file                                 string
	maxFrame, maxConns, maxQueue, perIP  int
	chunk                                int
	queueTimeout, idle, delay, stats     time.Duration
	closeTimeout, keepAlive              time.Duration
	shutdownTimeout                      time.Duration
	set                                  map[string]bool // flags given on the command line
}

// flagSet defines serve's flags, with their defaults, into f.
func (f *serveFlags) flagSet(stderr io.Writer) *flag.FlagSet {
	fs := newFlagSet("serve PROTOCOL", stderr)
	fs.Var(&f.listen, "listen", "endpoint to listen on, e.g. tcp:8007:interface=127.0.0.1, unix:/run/x.sock, systemd:domain=INET:index=0, or stdio: (one connection on stdin/stdout, alone) (repeatable; required)")
	fs.StringVar(&f.codec, "codec", "raw", "echo framing: "+codecNames)
	fs.IntVar(&f.maxFrame, "max-frame", 0, "largest frame in bytes for --codec (0: the codec's default)")
	fs.IntVar(&f.maxConns, "max-conns", 0, "connections served at once (0: no limit)")
	fs.StringVar(&f.overflow, "overflow", "reject", "past --max-conns: reject, fifo or lifo")
	fs.StringVar(&f.rejectMsg, "reject-message", "", "line sent to a refused client before closing")
	fs.IntVar(&f.maxQueue, "max-queue", 0, "connections queued past --max-conns (0: the server default)")
	fs.DurationVar(&f.queueTimeout, "queue-timeout", 0, "longest wait in the queue (0: no limit)")
	fs.IntVar(&f.perIP, "max-conns-per-peer", 0, "connections per client IP (0: no limit)")
	fs.DurationVar(&f.idle, "idle-timeout", 0, "close connections idle this long (0: never)")
	fs.DurationVar(&f.closeTimeout, "close-timeout", server.DefaultCloseTimeout, "reset a closing connection whose client takes none of its output for this long (0: never)")
	fs.DurationVar(&f.keepAlive, "keepalive", 15*time.Second, "TCP keep-alive: probe a client silent this long, and drop it if it is gone (0: off)")
	fs.Var(&f.quotes, "quote", "qotd: a quote (repeatable; served in turn)")
	fs.StringVar(&f.file, "file", "", "poetry: the poem file (default: a built-in poem)")
	fs.IntVar(&f.chunk, "chunk", 0, "poetry: bytes sent every --delay (0: all at once)")
	fs.DurationVar(&f.delay, "delay", 0, "poetry: pause between chunks")
	fs.StringVar(&f.logLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	fs.DurationVar(&f.stats, "stats", 0, "print a stats line to stderr every DUR (0: never)")
	fs.StringVar(&f.engine, "engine", "epoll", "epoll (the readiness engine: no goroutine per idle connection; Linux) or goroutine (one per connection); epoll falls back to goroutine where unavailable")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "on SIGINT/SIGTERM, wait this long for connections to drain, then close them")
	return fs
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := f.flagSet(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: weft serve PROTOCOL --listen ENDPOINT [flags]\nPROTOCOL: %s\n", protocolNames)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: serve takes one PROTOCOL (%s), got %q", errUsage, protocolNames, pos)
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	srv, err := f.server(ctx, pos[0], stderr)
	if errors.Is(err, errInterrupted) {
		return nil // SIGINT or SIGTERM during start-up: a normal end
	}
	if err != nil {
		return err
	}
	eps, err := parseListen(f.listen)
	if err != nil {
		return err
	}
	for _, ep := range eps {
		if ep.Type == "stdio" && len(eps) > 1 {
			return fmt.Errorf("%w: --listen %q serves one connection, on standard input and output: it cannot be combined with other --listen endpoints", errUsage, ep.Desc)
		}
	}
	if f.shutdownTimeout <= 0 {
		return fmt.Errorf("%w: --shutdown-timeout %v must be positive", errUsage, f.shutdownTimeout)
	}
	if f.stats < 0 {
		return fmt.Errorf("%w: --stats %v is negative", errUsage, f.stats)
	}
	return run1(ctx, srv, eps, &f, stdout, stderr)
}

// server builds the Server from the flags.
func (f *serveFlags) server(ctx context.Context, proto string, stderr io.Writer) (*server.Server, error) {
	fac, err := f.factory(ctx, proto)
	if err != nil {
		return nil, err
	}
	srv := &server.Server{Factory: fac, MaxConns: f.maxConns, MaxQueue: f.maxQueue,
		QueueTimeout: f.queueTimeout, MaxConnsPerPeer: f.perIP, IdleTimeout: f.idle,
		// epoll is the Server's default: an engine of its own on Linux,
		// closed after the shutdown; goroutines where there is none.
		NoEngine: f.engine == "goroutine"}
	if srv.CloseTimeout, err = zeroIsOff("--close-timeout", f.closeTimeout, "never"); err != nil {
		return nil, err
	}
	if srv.KeepAlive, err = zeroIsOff("--keepalive", f.keepAlive, "off"); err != nil {
		return nil, err
	}
	switch f.overflow {
	case "reject":
		srv.Overflow = server.Reject
	case "fifo":
		srv.Overflow = server.QueueFIFO
	case "lifo":
		srv.Overflow = server.QueueLIFO
	default:
		return nil, fmt.Errorf("%w: --overflow %q: want reject, fifo or lifo", errUsage, f.overflow)
	}
	if err := f.queueFlags(); err != nil {
		return nil, err
	}
	if f.rejectMsg != "" {
		srv.RejectMessage = []byte(f.rejectMsg + "\r\n")
	}
	switch f.engine {
	case "epoll", "goroutine": // NoEngine, set by server
	default:
		return nil, fmt.Errorf("%w: --engine %q: want epoll or goroutine", errUsage, f.engine)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, f.logLevel)
	}
	srv.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := srv.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, flagNames(err))
	}
	return srv, nil
}

// queueFlags refuses the overflow flags where they would have no effect:
// without --max-conns nothing overflows, and with --overflow reject nothing
// waits in a queue (--reject-message also serves --max-conns-per-peer).
func (f *serveFlags) queueFlags() error {
	for _, name := range []string{"overflow", "max-queue", "queue-timeout", "reject-message"} {
		switch {
		case !f.set[name]:
		case name == "reject-message" && f.maxConns == 0 && f.perIP == 0:
			return fmt.Errorf("%w: --reject-message has no effect without --max-conns or --max-conns-per-peer", errUsage)
		case name != "reject-message" && f.maxConns == 0:
			return fmt.Errorf("%w: --%s has no effect without --max-conns", errUsage, name)
		case (name == "max-queue" || name == "queue-timeout") && f.overflow == "reject":
			return fmt.Errorf("%w: --%s is for --overflow fifo or lifo (reject queues nothing)", errUsage, name)
		}
	}
	return nil
}

// zeroIsOff maps the value d of a duration flag whose 0 turns a bound off
// (saying so in the error as off) to the server field whose negative value
// does; a negative d is a usage error.
func zeroIsOff(flag string, d time.Duration, off string) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("%w: %s %v is negative (0: %s)", errUsage, flag, d, off)
	case d == 0:
		return -1, nil
	}
	return d, nil
}

// flagNames rewrites the server's field names into the flags that set them.
func flagNames(err error) string {
	return strings.NewReplacer("Server.MaxConnsPerPeer", "--max-conns-per-peer", "Server.MaxConns", "--max-conns",
		"Server.MaxQueue", "--max-queue", "Server.QueueTimeout", "--queue-timeout",
		"Server.IdleTimeout", "--idle-timeout").Replace(err.Error())
}

func (f *serveFlags) factory(ctx context.Context, proto string) (weft.Factory, error) {
	// A flag given to a protocol it does not apply to is a mistake worth
	// saying, not a setting to ignore.
	only := func(set bool, flag, want string) error {
		if set && proto != want {
			return fmt.Errorf("%w: %s is for %s only", errUsage, flag, want)
		}
		return nil
	}
	if err := errors.Join(
		only(f.set["codec"], "--codec", "echo"),
		only(f.set["max-frame"], "--max-frame", "echo"),
		only(f.set["quote"], "--quote", "qotd"),
		only(f.set["file"], "--file", "poetry"),
		only(f.set["chunk"], "--chunk", "poetry"),
		only(f.set["delay"], "--delay", "poetry"),
	); err != nil {
		return nil, err
	}
	switch proto {
	case "echo":
		c, err := parseCodec(f.codec, f.maxFrame)
		if err != nil {
			return nil, err
		}
		if _, raw := c.(codec.Raw); raw {
			return wire.Echo{}, nil // bytes as they come: no framing to keep
		}
		return wire.FramedEcho{Codec: c}, nil
	case "discard":
		return wire.Discard{}, nil
	case "chargen":
		return wire.Chargen{}, nil
	case "qotd":
		for i, q := range f.quotes {
			if q == "" {
				return nil, fmt.Errorf("%w: --quote %d is empty", errUsage, i+1)
			}
			if len(q) > wire.MaxQuoteLength {
				return nil, fmt.Errorf("%w: --quote %d: %d bytes, RFC 865 allows %d", errUsage, i+1, len(q), wire.MaxQuoteLength)
			}
		}
		return &wire.QOTD{Quotes: f.quotes}, nil
	case "daytime":
		return wire.Daytime{}, nil
	case "time":
		return wire.Time{}, nil
	case "chat":
		return &chat.Server{}, nil
	case "poetry":
		poem := []byte(defaultPoem)
		if f.set["file"] && f.file == "" {
			return nil, fmt.Errorf("%w: --file is empty (leave it out for the built-in poem)", errUsage)
		}
		if f.file != "" {
			b, err := readPoem(ctx, f.file)
			if errors.Is(err, errInterrupted) {
				return nil, err
			}
			if err != nil {
				return nil, fmt.Errorf("%w: --file: %v", errUsage, err)
			}
			poem = b
		}
		s := &poetry.Server{Poem: poem, Chunk: f.chunk, Delay: f.delay}
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("%w: --chunk/--delay: %v", errUsage, err)
		}
		if (f.chunk > 0) != (f.delay > 0) { // one of them 0: all at once
			return nil, fmt.Errorf("%w: --chunk %d --delay %v: give both, positive, to send the poem slowly (either 0: all at once)", errUsage, f.chunk, f.delay)
		}
		return s, nil
	}
	return nil, fmt.Errorf("%w: unknown protocol %q (want one of %s)", errUsage, proto, protocolNames)
}

// errInterrupted: ctx ended (SIGINT, SIGTERM) during start-up.
var errInterrupted = errors.New("interrupted")

// readPoem reads the poem file with poetry.ReadFile, refusing one over
// poetry.MaxPoemFile bytes (64 MiB, 4 times what "weft get poetry" accepts
// by default). A FIFO
// or a device may make open or read wait, for a writer or for ever: ctx
// ending (SIGINT, SIGTERM) ends the wait with errInterrupted, leaving the
// reading goroutine to the process's exit (or to the file's end).
func readPoem(ctx context.Context, path string) ([]byte, error) {
	b, err := interruptible(ctx, func() ([]byte, error) { return poetry.ReadFile(path) }, nil)
	if err != nil && err == ctx.Err() {
		return nil, errInterrupted
	}
	return b, err
}

func parseListen(descs []string) ([]*endpoint.Server, error) {
	if len(descs) == 0 {
		return nil, fmt.Errorf("%w: --listen ENDPOINT is required (e.g. --listen tcp:8007:interface=127.0.0.1)", errUsage)
	}
	eps := make([]*endpoint.Server, len(descs))
	for i, d := range descs {
		ep, err := endpoint.ParseServer(d)
		if err != nil {
			return nil, fmt.Errorf("%w: --listen %q: %v", errUsage, d, err)
		}
		eps[i] = ep
	}
	return eps, nil
}

// run1 opens every listener, prints them, serves until ctx ends, then shuts
// down gracefully.
func run1(ctx context.Context, srv *server.Server, eps []*endpoint.Server, f *serveFlags, stdout, stderr io.Writer) error {
	// stdio: serves one connection, as inetd runs a server: its end ends the
	// run. Standard output is that connection: nothing else is written there.
	if len(eps) == 1 && eps[0].Type == "stdio" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		prev := srv.ConnState
		srv.ConnState = func(info server.ConnInfo, st server.ConnState) {
			if prev != nil {
				prev(info, st)
			}
			if st == server.StateClosed {
				cancel()
			}
		}
		stdout = io.Discard
	}
	// The server opens each endpoint (for tls: plain TCP, then PROXY header,
	// then the handshake on the connection's goroutine) and serves it.
	var lns []net.Listener
	var serves []func() error
	for _, ep := range eps {
		l, serve, err := srv.OpenEndpoint(ep)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("--listen %q: %w", ep.Desc, err)
		}
		lns, serves = append(lns, l), append(serves, serve)
	}
	errc := make(chan error, len(lns))
	for i, l := range lns {
		fmt.Fprintf(stdout, "listening on %s %s\n", l.Addr().Network(), l.Addr())
		go func() { errc <- serves[i]() }()
	}
	var tick <-chan time.Time
	if f.stats > 0 {
		t := time.NewTicker(f.stats)
		defer t.Stop()
		tick = t.C
	}
	var failed error
	for running := len(lns); running > 0 && failed == nil; {
		select {
		case <-ctx.Done():
			running = 0
		case <-tick:
			fmt.Fprintln(stderr, statsLine(srv.Snapshot()))
		case err := <-errc:
			running--
			if !errors.Is(err, server.ErrServerClosed) {
				failed = err
			}
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
	defer cancel()
	// Past the timeout Shutdown closes the remaining connections (and logs
	// it): the process still ends as asked, with status 0.
	_ = srv.Shutdown(sctx)
	return failed
}

func statsLine(s server.Snapshot) string {
	return fmt.Sprintf("stats: accepted=%d active=%d queued=%d rejected=%s closed=%s bytes_in=%d bytes_out=%d frames_in=%d frames_out=%d",
		s.Accepted, s.Active, s.Queued, counts(s.Rejected), counts(s.Closed), s.BytesIn, s.BytesOut, s.FramesIn, s.FramesOut)
}

func counts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s:%d", strings.ReplaceAll(k, " ", "_"), m[k])
	}
	b.WriteString("}")
	return b.String()
}
