package irc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/client"
	"github.com/weftkit/weft/internal/testenv"
)

// fixedClock returns a clock that always reads 2026-11-25 12:34:56 UTC.
func fixedClock() func() time.Time {
	at := time.Date(2026, 11, 25, 12, 34, 56, 0, time.UTC)
	return func() time.Time { return at }
}

// syncBuffer is an output buffer safe for a writer and a reader.
type syncBuffer = testenv.SyncBuffer

func TestLogBotSession(t *testing.T) {
	// "weft" is "#weft", as in Twisted's join: the same session either way.
	for _, channel := range []string{"#weft", "weft"} {
		t.Run(channel, func(t *testing.T) { testLogBotSession(t, channel) })
	}
}

func testLogBotSession(t *testing.T, channel string) {
	log, fs := joiningLogBot(t, channel)
	fs.send(":logbot!u@h JOIN :#weft",
		":alice!a@h PRIVMSG #weft :hello everyone",
		":alice!a@h PRIVMSG #weft :\x01ACTION waves\x01",
		":alice!a@h NICK :alice2",
		":alice2!a@h PRIVMSG logbot :psst",
	)
	fs.expect("NOTICE alice2 :" + Whisper)
	fs.send(":alice2!a@h PRIVMSG #weft :logbot: who are you?")
	fs.expect("NOTICE #weft :alice2: I am a log bot")
	// The replies are NOTICEs (RFC 2812 3.3.2: automatic replies never
	// answer a NOTICE and are sent as NOTICEs), so two bots cannot keep
	// answering each other; a NOTICE gets no answer.
	fs.send(":alice2!a@h PRIVMSG #weft :logbotx: not me",
		":otherbot!o@h NOTICE logbot :"+Whisper,
		":otherbot!o@h NOTICE #weft :logbot: I am a log bot",
		"PING :z")
	fs.expect("PONG z")
	if err := fs.hangUp(); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"[12:34:56] [connected at Wed Nov 25 12:34:56 2026]",
		"[12:34:56] [I have joined #weft]",
		"[12:34:56] <alice> hello everyone",
		"[12:34:56] * alice waves",
		"[12:34:56] alice is now known as alice2",
		"[12:34:56] <alice2> psst",
		"[12:34:56] <alice2> logbot: who are you?",
		"[12:34:56] <logbot> alice2: I am a log bot",
		"[12:34:56] <alice2> logbotx: not me",
		"[12:34:56] [disconnected at Wed Nov 25 12:34:56 2026]",
	}, "\n") + "\n"
	if got := log.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

// runBot runs bot on a client.Reconnecting to addr; stop says QUIT, stops
// the client and returns Run's result.
func runBot(t *testing.T, bot *LogBot, addr string, initial time.Duration) (stop func() error) {
	r := &client.Reconnecting{
		Endpoint: "tcp:" + addr,
		Factory:  bot,
		Backoff:  &client.Exponential{Initial: initial, Max: time.Second, Multiplier: 2},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		bot.Quit("")
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// TestLogBotRun runs the bot against a loopback server that hangs up after
// each welcome: the bot reconnects, re-registers, rejoins, and the log file
// (opened once) holds both sessions; cancelling ctx makes it say QUIT.
func TestLogBotRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := filepath.Join(t.TempDir(), "bot.log")
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", LogPath: path, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()
	stop := runBot(t, bot, ln.Addr().String(), time.Millisecond)
	for session := 1; session <= 2; session++ {
		conn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(conn)
		readLine := func(want string) {
			t.Helper()
			line, err := r.ReadString('\n')
			if err != nil || strings.TrimSpace(line) != want {
				t.Fatalf("session %d: read %q, %v; want %q", session, line, err, want)
			}
		}
		readLine("NICK logbot")
		readLine("USER logbot 0 * logbot")
		conn.Write([]byte(":s 001 logbot :hi\r\n"))
		readLine("JOIN #weft")
		conn.Write([]byte(":logbot!u@h JOIN #weft\r\n"))
		if session == 1 {
			conn.Close()
			continue
		}
		conn.Write([]byte("PING :sync\r\n"))
		readLine("PONG sync")
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("Reconnecting.Run = %v, want context.Canceled", err)
		}
		readLine("QUIT")
		conn.Close()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	session := "[12:34:56] [connected at Wed Nov 25 12:34:56 2026]\n" +
		"[12:34:56] [I have joined #weft]\n" +
		"[12:34:56] [disconnected at Wed Nov 25 12:34:56 2026]\n"
	if got := string(data); got != session+session {
		t.Errorf("log file:\n%s\nwant:\n%s", got, session+session)
	}
}

func TestLogBotConfig(t *testing.T) {
	for _, cfg := range []LogBotConfig{
		{Channel: "#c", Log: os.Stdout},
		{Nick: "b", Log: os.Stdout},
		{Nick: "b", Channel: "#a b", Log: os.Stdout},
		{Nick: "b", Channel: "#c"},
		{Nick: "b", Channel: "#" + strings.Repeat("c", 600), Log: os.Stdout}, // JOIN cannot be sent
		{Nick: strings.Repeat("n", 600), Channel: "#c", Log: os.Stdout},
		{Nick: "b", Channel: "#c", Log: os.Stdout, ReplyInterval: -time.Second},
		{Nick: "b", Channel: "#c", Log: os.Stdout, MaxReplies: -1},
		{Nick: "b", Channel: "#c", Log: os.Stdout, RejoinDelay: -time.Second},
		{Nick: "b", Channel: "#c", Log: os.Stdout, MaxRejoinDelay: -time.Second},
	} {
		if _, err := NewLogBot(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("NewLogBot(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
	if _, err := NewLogBot(LogBotConfig{Nick: "b", Channel: "#c", LogPath: t.TempDir() + "/no/such/dir/x.log"}); err == nil {
		t.Error("unopenable log path accepted")
	}
}

func TestLoggerFlushes(t *testing.T) {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	l := NewLogger(w, fixedClock())
	if err := l.Log("a\r\nb"); err != nil {
		t.Fatal(err)
	}
	// CR and LF are escaped (they were dropped and made a space before
	// the Logger escaped control bytes), so a line stays one line.
	if got := out.String(); got != `[12:34:56] a\x0d\x0ab`+"\n" {
		t.Errorf("flushed %q", got)
	}
}

// failWriter fails every Write after the first ok ones.
type failWriter struct {
	mu sync.Mutex
	ok int
}

func (w *failWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ok == 0 {
		return 0, errors.New("disk full")
	}
	w.ok--
	return len(p), nil
}

// TestLogBotOnError: what the bot cannot log reaches OnError: a registration
// that found no usable nick (before, the connection was only aborted, which
// "weft logbot" reported as "connection aborted"), and a log write that
// fails, once per run of failures (before, log errors were dropped).
func TestLogBotOnError(t *testing.T) {
	errs := make(chan error, 10)
	w := &failWriter{ok: 1}
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", Log: w, Now: fixedClock(),
		OnError: func(err error) { errs <- err }})
	if err != nil {
		t.Fatal(err)
	}
	fs := startFake(t, bot.BuildProtocol(nil))
	fs.expect("NICK logbot") // "[connected ...]" was written
	fs.expect("USER logbot 0 * logbot")
	fs.send(":s 001 logbot :hi", ":a!a@h PRIVMSG #weft :one", ":a!a@h PRIVMSG #weft :two")
	fs.expect("JOIN #weft")
	fs.send(":logbot!u@h JOIN #weft", "PING x")
	fs.expect("PONG x")
	if err := fs.hangUp(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "disk full") {
			t.Errorf("OnError(%v), want the log write error", err)
		}
	default:
		t.Fatal("a failed log write was not reported")
	}
	select {
	case err := <-errs:
		t.Errorf("OnError(%v) again while the log kept failing", err)
	default:
	}

	w.mu.Lock()
	w.ok = 1 << 30
	w.mu.Unlock()
	limit := DefaultMaxNickRetries
	fs = startFake(t, bot.BuildProtocol(nil))
	fs.expect("NICK logbot")
	fs.expect("USER logbot 0 * logbot")
	nick := "logbot"
	for i := 0; i < limit; i++ {
		fs.send(":s 432 * " + nick + " :Erroneous nickname")
		nick += "^"
		fs.expect("NICK " + nick)
	}
	fs.send(":s 432 * " + nick + " :Erroneous nickname")
	select {
	case err := <-errs:
		want := `irc: no usable nickname: "logbot^^^^^^^^^^" refused (432 Erroneous nickname) after 11 tries`
		if !errors.Is(err, ErrNickUnavailable) || err.Error() != want {
			t.Errorf("OnError(%v), want %s", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no usable nick: not reported")
	}

	// The log wrote again (the second connection's lines): a new run of
	// failures is reported again.
	_ = fs.hangUp() // the aborted connection has ended: its lines are written
	w.mu.Lock()
	w.ok = 0
	w.mu.Unlock()
	fs = startFake(t, bot.BuildProtocol(nil))
	fs.expect("NICK logbot") // "[connected ...]" fails after this
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "disk full") {
			t.Errorf("OnError(%v), want the log write error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a log failing again after it recovered was not reported")
	}
}

// shortWriter writes half of the first line it is given, then fails it (a
// disk that fills up in the middle of a line); later writes succeed.
type shortWriter struct {
	buf    bytes.Buffer
	failed bool
}

func (w *shortWriter) Write(p []byte) (int, error) {
	if !w.failed {
		w.failed = true
		n, _ := w.buf.Write(p[:len(p)/2])
		return n, errors.New("disk full")
	}
	return w.buf.Write(p)
}

// TestLoggerPartialWrite: a line cut short by a failed write is ended
// before the next line, so that one starts on a line of its own with its
// timestamp. Before the fix the next line was glued to the partial one.
func TestLoggerPartialWrite(t *testing.T) {
	w := &shortWriter{}
	l := NewLogger(w, fixedClock())
	if err := l.Log("first line, long enough"); err == nil {
		t.Fatal("failed write not reported")
	}
	if err := l.Log("second"); err != nil {
		t.Fatal(err)
	}
	if err := l.Log("third"); err != nil {
		t.Fatal(err)
	}
	if got, want := w.buf.String(), "[12:34:56] first \n[12:34:56] second\n[12:34:56] third\n"; got != want {
		t.Errorf("log %q, want %q", got, want)
	}
}

// TestLogBotReportsRegisterTimeout: a server that never welcomes the bot is
// reported to OnError (the bot reconnects), not only logged as a
// disconnection.
func TestLogBotReportsRegisterTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errs := make(chan error, 10)
		var log bytes.Buffer
		bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", Log: &log, Now: fixedClock(),
			OnError: func(err error) { errs <- err }})
		if err != nil {
			t.Fatal(err)
		}
		cli, srv := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- weft.Serve(cli, bot.BuildProtocol(nil), nil) }()
		go func() { _, _ = io.Copy(io.Discard, srv) }()
		if err := <-done; !errors.Is(err, ErrRegisterTimeout) {
			t.Errorf("Serve = %v, want ErrRegisterTimeout", err)
		}
		srv.Close()
		select {
		case err := <-errs:
			if !errors.Is(err, ErrRegisterTimeout) {
				t.Errorf("OnError(%v), want ErrRegisterTimeout", err)
			}
		default:
			t.Error("registration timeout not reported to OnError")
		}
	})
}

// TestLogBotUserName: LogBotConfig.User is the user name the bot registers
// with (the nick when empty), for a nick a server refuses as a user name
// (ngircd refuses '|': TestLogBotCaseMappingNgircd). It is validated like
// Config.User.
func TestLogBotUserName(t *testing.T) {
	bot, err := NewLogBot(LogBotConfig{Nick: "log|bot", User: "logbot", Channel: "#weft", Log: &syncBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	fs := startFake(t, bot.BuildProtocol(nil))
	fs.expect("NICK log|bot")
	fs.expect("USER logbot 0 * log|bot")
	if _, err := NewLogBot(LogBotConfig{Nick: "b", User: "u@h", Channel: "#weft", Log: &syncBuffer{}}); !errors.Is(err, ErrConfig) {
		t.Errorf("User %q: %v, want ErrConfig", "u@h", err)
	}
}
