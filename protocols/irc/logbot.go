package irc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/weftkit/weft"
)

// The log bot's defaults for a client.Reconnecting: the first retry waits
// DefaultInitialDelay, later ones grow to DefaultMaxDelay.
const (
	DefaultInitialDelay = time.Second
	DefaultMaxDelay     = time.Minute
)

// The log bot's default rate limit of its automatic replies (see
// LogBotConfig.ReplyInterval): one per sender per DefaultReplyInterval, at
// most DefaultMaxReplies in all per DefaultReplyInterval.
const (
	DefaultReplyInterval = 30 * time.Second
	DefaultMaxReplies    = 5
)

// The log bot's defaults for rejoining its channel after a kick or a
// refused JOIN (see LogBotConfig.RejoinDelay): the first rejoin waits
// DefaultRejoinDelay, each one after it twice as long, up to
// DefaultMaxRejoinDelay.
const (
	DefaultRejoinDelay    = 5 * time.Second
	DefaultMaxRejoinDelay = 5 * time.Minute
)

// Whisper is the log bot's answer to a private message (Twisted's
// ircLogBot text, two spaces included), sent as a NOTICE.
const Whisper = "It isn't nice to whisper!  Play nice with the group."

// Logger writes "[HH:MM:SS] message" lines, one Write and one flush per
// line (Twisted's MessageLogger). It is safe for concurrent use.
//
// The message is written escaped, so that text from the network (a
// message, a nick, a channel name) cannot drive the terminal of someone
// reading the log with cat or tail -f, nor split or glue lines: every C0
// control byte (CR and LF included) is written as \xHH ("\x1b" for ESC),
// DEL as \x7f, a C1 control (U+0080..U+009F) as \u00HH ("\u009b"), a
// bidi embedding, override or isolate (U+202A..U+202E, U+2066..U+2069,
// which would make the rest of the line display reordered) as \uHHHH, each
// byte of invalid UTF-8 as \xHH, and a backslash as \\. IRC's formatting
// codes are kept as they are, being content: \x02 bold, \x03 colour, \x04
// hex colour, \x0f reset, \x11 monospace, \x16 reverse, \x1d italic, \x1e
// strikethrough and \x1f underline (a terminal ignores them, but for
// \x0f, SI to it, which only selects the normal character set). The escapes are
// a Go string literal's: strconv.Unquote gives the message back exactly
// (once each '"' is written \").
type Logger struct {
	mu      sync.Mutex
	w       io.Writer
	now     func() time.Time
	partial bool // a failed write left part of a line: end it first
}

// NewLogger returns a Logger writing to w, timestamped with now (nil:
// time.Now). With a nil w (or on the zero Logger) every Log fails with an
// error saying so.
func NewLogger(w io.Writer, now func() time.Time) *Logger {
	if now == nil {
		now = time.Now
	}
	return &Logger{w: w, now: now}
}

// Log writes one line, msg escaped as the Logger's doc says. If the writer has a Flush() error method (a
// bufio.Writer) it is flushed; an *os.File is written unbuffered. A line
// that a failed write cut short is ended with "\n" before the next one.
func (l *Logger) Log(msg string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return errNoLogWriter
	}
	line := l.Now().Format("[15:04:05] ") + escapeLog(msg) + "\n"
	if l.partial {
		line = "\n" + line
	}
	if n, err := io.WriteString(l.w, line); err != nil {
		// A line cut short would glue the next one to it.
		l.partial = l.partial && n == 0 || n > 0 && n < len(line)
		return fmt.Errorf("irc: log: %w", err)
	}
	l.partial = false
	if f, ok := l.w.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// formatCodes are IRC's formatting codes, which the Logger keeps: bold,
// colour, hex colour, reset, monospace, reverse, italic, strikethrough and
// underline.
const formatCodes = "\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f"

// isBidiControl reports whether r is a bidirectional embedding, override or
// isolate (U+202A..U+202E, U+2066..U+2069), which reorders the text after it
// on a terminal: the Logger writes them escaped. The marks (LRM, RLM, ALM)
// are kept, acting on their neighbours only.
func isBidiControl(r rune) bool {
	return 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069
}

// escapeLog returns s as the Logger writes it (see Logger).
func escapeLog(s string) string {
	clean := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 && strings.IndexByte(formatCodes, c) < 0 || c == 0x7f || c == '\\' || c >= 0x80 {
				return false
			}
		}
		return true
	}
	if clean(s) { // ASCII without controls: the common case, no copy
		return s
	}
	const hex = "0123456789abcdef"
	b := make([]byte, 0, len(s)+16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		c := s[i]
		switch {
		case c == '\\':
			b = append(b, '\\', '\\')
		case r == utf8.RuneError && size == 1, c < 0x20 && strings.IndexByte(formatCodes, c) < 0, c == 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		case 0x80 <= r && r <= 0x9f, isBidiControl(r):
			b = append(b, '\\', 'u', hex[r>>12], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b)
}

// errNoLogWriter is Log's error on a Logger without a writer.
var errNoLogWriter = errors.New("irc: log: Logger has no io.Writer (NewLogger with a nil one, or the zero Logger)")

// Now returns the logger's clock reading (time.Now on the zero Logger).
func (l *Logger) Now() time.Time {
	if l.now == nil {
		return time.Now()
	}
	return l.now()
}

// LogBotConfig configures a LogBot. Nick, Channel and one of LogPath or Log
// are required.
type LogBotConfig struct {
	// Nick is the bot's nickname. Required.
	Nick string
	// Channel is the channel to join and log, e.g. "#weft". Required. A name
	// without a channel prefix (#, &, + or !) gets "#", as in Twisted's join;
	// a prefix alone ("#") is refused.
	Channel string
	// LogPath is the file to append the log to, created 0600 if missing
	// (readable by its owner only: the log holds the private messages
	// sent to the bot); a file that exists keeps its mode. LogBot.Reopen
	// opens it again, after log rotation renamed it.
	// Empty: Log must be set.
	LogPath string
	// Log, if not nil, receives the log instead of LogPath (the bot does
	// not close it). Nil: LogPath is opened.
	Log io.Writer
	// Now is the clock for timestamps and for the answer to CTCP TIME
	// (Config.Now). Nil means time.Now (local time, as Twisted's
	// time.localtime).
	Now func() time.Time
	// User is the user name sent with USER (Config.User). Empty means
	// Nick, as in Twisted; set it when Nick holds a character the server
	// refuses in a user name (ngircd refuses '|', '^', '[', ...: "ERROR
	// :Invalid user name", and the bot could never register).
	User string
	// Password, if not empty, is sent with PASS. Empty: no PASS.
	Password string
	// SASL, if not nil, is Config.SASL: the bot authenticates with SASL
	// PLAIN while it registers (validated as Config.SASL: User and Password
	// required). The outcome is logged without the password: "[SASL: logged
	// in as ACCOUNT]", or "[SASL failed (ERR); continuing unauthenticated]"
	// ("; disconnecting" with Required), the error (ErrSASLUnavailable,
	// ErrSASLFailed) also reported to OnError. With Required the failed
	// connection ends with that error, and client.Reconnecting retries it
	// after its backoff.
	SASL *SASLConfig
	// AlterNick is Config.AlterNick (nil: append "^").
	AlterNick func(nick string) string
	// ReplyInterval and MaxReplies rate-limit the bot's automatic replies
	// (the whisper answer to a private message, "nick: I am a log bot" in
	// the channel, the answers to CTCP queries: PING, TIME, CLIENTINFO,
	// ERRMSG, as Config says), so that a flood of messages cannot make it
	// flood the server back (a server kills a client that sends too
	// fast): a sender
	// gets at most one reply of each kind (each CTCP tag a kind) per
	// ReplyInterval (nicks compared with EqualFold), and the bot sends at
	// most MaxReplies replies in all in any ReplyInterval, across
	// reconnections. The excess is dropped (the messages are still
	// logged). The time is the system clock's, not Now. Zero means
	// DefaultReplyInterval (30 s) and DefaultMaxReplies (5): a reply every
	// 6 s on average, in bursts of at most 5 lines, within the flood limits
	// of common servers.
	ReplyInterval time.Duration
	// MaxReplies: see ReplyInterval. Zero means DefaultMaxReplies.
	MaxReplies int
	// RejoinDelay is how long the bot waits before it joins Channel again
	// after it was kicked from it, or after the server refused its JOIN
	// (ERR_BANNEDFROMCHAN 474, ERR_CHANNELISFULL 471, ERR_INVITEONLYCHAN
	// 473, ERR_BADCHANNELKEY 475, ERR_SECUREONLYCHAN 489, 405, 437, 477:
	// refusals that may end; no such channel 403, bad channel mask 476 and
	// illegal channel name 479 never do, and are reported to OnError,
	// not retried), as Twisted's
	// IRCClient.kickedFrom lets a bot do: a log bot outside its channel
	// logs nothing. Each kick or refusal in a row doubles the wait, up to
	// MaxRejoinDelay, and the bot keeps trying at that pace: it never
	// gives up its channel (but for the names refused for good, above),
	// and a kick-ban loop costs the server one JOIN
	// per MaxRejoinDelay, not a flood (nor a JOIN/KICK storm in the
	// channel). A kick after the bot has stayed MaxRejoinDelay in the
	// channel waits RejoinDelay again. The kick is logged with the wait;
	// refusals are logged until the wait reaches MaxRejoinDelay. The time
	// is the system clock's, not Now. Zero means DefaultRejoinDelay (5 s).
	RejoinDelay time.Duration
	// MaxRejoinDelay: see RejoinDelay. Zero means DefaultMaxRejoinDelay
	// (5 min); less than RejoinDelay means RejoinDelay.
	MaxRejoinDelay time.Duration
	// OnError, if not nil, is told what the bot cannot put in its log: a
	// registration that found no usable nick (ErrNickUnavailable; the bot
	// reconnects and tries again), a server that did not welcome the bot
	// within DefaultRegisterTimeout (ErrRegisterTimeout; the bot
	// reconnects), a SASL authentication that failed or was not offered
	// (ErrSASLFailed, ErrSASLUnavailable; see SASL), a JOIN of Channel
	// refused for good (ErrBadChannel: no such channel, bad channel mask,
	// illegal channel name; the bot stays connected, logging its private
	// messages, and tries again only after a reconnect), and a failed log
	// write (reported once per run of failures; the lines are lost). It is
	// called on the connection's goroutine. Nil: such errors are dropped.
	OnError func(err error)
}

// LogBot is Twisted's ircLogBot as a weft.Factory: give it to
// client.Reconnecting. Each connection registers, joins Channel and logs
// it; the log file is opened once, here, and survives reconnects.
type LogBot struct {
	cfg  LogBotConfig
	log  *Logger
	file *logFile // LogPath's file; nil with Log

	mu  sync.Mutex
	cur *Client

	logFailing atomic.Bool // the last log write failed (and was reported)
	replies    *replyLimiter
}

// replyLimiter is the rate limit of the automatic replies: one per key per
// interval, at most max per interval in all (a sliding window). It holds
// only the replies of the last interval: at most max entries.
type replyLimiter struct {
	interval time.Duration
	max      int

	mu     sync.Mutex
	last   map[string]time.Time // key → time of its last reply
	recent []time.Time          // the replies of the last interval, oldest first
}

func newReplyLimiter(interval time.Duration, max int) *replyLimiter {
	if interval == 0 {
		interval = DefaultReplyInterval
	}
	if max == 0 {
		max = DefaultMaxReplies
	}
	return &replyLimiter{interval: interval, max: max, last: make(map[string]time.Time)}
}

// allow reports whether a reply of kind to nick may be sent now, and if so
// counts it.
func (l *replyLimiter) allow(kind, nick string) bool {
	now := time.Now()
	key := kind + " " + foldNick(nick)
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for i < len(l.recent) && now.Sub(l.recent[i]) >= l.interval {
		i++
	}
	l.recent = append(l.recent[:0], l.recent[i:]...)
	for k, at := range l.last {
		if now.Sub(at) >= l.interval {
			delete(l.last, k)
		}
	}
	if _, ok := l.last[key]; ok || len(l.recent) >= l.max {
		return false
	}
	l.last[key] = now
	l.recent = append(l.recent, now)
	return true
}

// foldNick maps nick to its lower case under the rfc1459 case mapping.
func foldNick(nick string) string {
	b := []byte(nick)
	for i, c := range b {
		b[i] = foldByte(c)
	}
	return string(b)
}

// NewLogBot validates cfg and opens the log.
func NewLogBot(cfg LogBotConfig) (*LogBot, error) {
	if cfg.SASL != nil {
		s := *cfg.SASL // the caller's later changes do not reach the bot
		cfg.SASL = &s
	}
	if err := (Config{Nick: cfg.Nick, User: cfg.User, Password: cfg.Password, SASL: cfg.SASL}).Validate(); err != nil {
		return nil, err
	}
	if cfg.ReplyInterval < 0 || cfg.MaxReplies < 0 {
		return nil, fmt.Errorf("%w: LogBotConfig.ReplyInterval %v or MaxReplies %d is negative", ErrConfig, cfg.ReplyInterval, cfg.MaxReplies)
	}
	if cfg.RejoinDelay < 0 || cfg.MaxRejoinDelay < 0 {
		return nil, fmt.Errorf("%w: LogBotConfig.RejoinDelay %v or MaxRejoinDelay %v is negative", ErrConfig, cfg.RejoinDelay, cfg.MaxRejoinDelay)
	}
	if cfg.RejoinDelay == 0 {
		cfg.RejoinDelay = DefaultRejoinDelay
	}
	if cfg.MaxRejoinDelay == 0 {
		cfg.MaxRejoinDelay = DefaultMaxRejoinDelay
	}
	cfg.MaxRejoinDelay = max(cfg.MaxRejoinDelay, cfg.RejoinDelay)
	if cfg.Channel == "" || strings.ContainsAny(cfg.Channel, " ,\x00\x07\r\n") {
		return nil, fmt.Errorf("%w: LogBotConfig.Channel %q must be a channel name such as #weft", ErrConfig, cfg.Channel)
	}
	if !strings.ContainsAny(cfg.Channel[:1], "#&+!") {
		// As Twisted's IRCClient.join does; the bot must also match the
		// name the server uses in its messages, "#weft" for "weft".
		cfg.Channel = "#" + cfg.Channel
	}
	if len(cfg.Channel) == 1 {
		return nil, fmt.Errorf("%w: LogBotConfig.Channel %q has no name after its prefix", ErrConfig, cfg.Channel)
	}
	if _, err := (Message{Command: "JOIN", Params: []string{cfg.Channel}}).Append(nil); err != nil {
		return nil, fmt.Errorf("%w: LogBotConfig.Channel cannot be joined: %w", ErrConfig, err)
	}
	b := &LogBot{cfg: cfg, replies: newReplyLimiter(cfg.ReplyInterval, cfg.MaxReplies)}
	w := cfg.Log
	if w == nil {
		if cfg.LogPath == "" {
			return nil, fmt.Errorf("%w: LogBotConfig.LogPath is empty and Log is nil", ErrConfig)
		}
		// 0600: the log holds the private messages sent to the bot. A
		// file that exists keeps its mode.
		f, err := openLogFile(cfg.LogPath)
		if err != nil {
			return nil, fmt.Errorf("irc: log bot: %w", err)
		}
		b.file, w = f, f
	}
	b.log = NewLogger(w, cfg.Now)
	return b, nil
}

// BuildProtocol implements weft.Factory: a new Client for each connection.
func (b *LogBot) BuildProtocol(net.Addr) weft.Protocol {
	c, err := NewClient(Config{Nick: b.cfg.Nick, User: b.cfg.User, Password: b.cfg.Password, SASL: b.cfg.SASL, AlterNick: b.cfg.AlterNick, Now: b.cfg.Now}, &botHandler{b: b})
	if err != nil { // cannot happen: validated in NewLogBot
		return nil
	}
	// The answers to CTCP queries share the budget of the bot's other
	// automatic answers, which outlives the connection.
	c.ctcpLimit = b.replies
	b.mu.Lock()
	b.cur = c
	b.mu.Unlock()
	return c
}

// Client returns the Client of the latest connection, nil before the first.
func (b *LogBot) Client() *Client {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur
}

// Reopen opens the log again, for log rotation: after logrotate (or an
// operator) has renamed the file at LogPath, the bot keeps writing to the
// renamed file until Reopen opens LogPath anew (created 0600 if missing,
// appended to otherwise) and closes the old one. Each line goes whole to
// one file: the lines logged before Reopen returns are in the old file or
// the new one, those after it in the new one, none is lost or split. It is
// safe to call from any goroutine while the bot logs; weft logbot calls it
// on SIGHUP. If the open fails the bot keeps the old file and Reopen
// returns the error.
//
// A LogPath that is not a regular file (a FIFO, a device such as
// /dev/stdout) is not reopened: nothing rotates it by renaming, and
// opening a FIFO again would wait for a reader. With LogBotConfig.Log
// instead of LogPath, Reopen calls the writer's Reopen() error method if
// it has one (which must then be safe to call concurrently with Write),
// and otherwise does nothing. After Close it returns an error matching
// os.ErrClosed.
func (b *LogBot) Reopen() error {
	if b.file != nil {
		return b.file.Reopen()
	}
	if r, ok := b.cfg.Log.(interface{ Reopen() error }); ok {
		return r.Reopen()
	}
	return nil
}

// Close closes the log file opened from LogPath.
func (b *LogBot) Close() error {
	if b.file == nil {
		return nil
	}
	return b.file.Close()
}

// botHandler is one connection of the log bot. Its fields are used on the
// connection's goroutine only.
type botHandler struct {
	BaseHandler
	b *LogBot

	rejoin   *time.Timer   // the pending JOIN after a kick or refusal
	tries    int           // kicks and refusals in a row
	wait     time.Duration // the last wait before a rejoin
	joinedAt time.Time     // when the bot joined Channel; zero: not in it
	refused  bool          // Channel was refused for good (ErrBadChannel) since the last join
}

func (h *botHandler) logf(format string, a ...any) {
	err := h.b.log.Log(fmt.Sprintf(format, a...))
	if failing := h.b.logFailing.Swap(err != nil); err != nil && !failing {
		h.b.report(err)
	}
}

// report hands err to OnError, if set.
func (b *LogBot) report(err error) {
	if b.cfg.OnError != nil {
		b.cfg.OnError(err)
	}
}

func (h *botHandler) NickUnavailable(_ *Client, err error) { h.b.report(err) }

func (h *botHandler) ConnectionMade(*Client) {
	h.logf("[connected at %s]", h.b.log.Now().Format(time.ANSIC))
}

func (h *botHandler) ConnectionLost(_ *Client, reason error) {
	if h.rejoin != nil {
		h.rejoin.Stop() // the next connection joins on its own
	}
	h.logf("[disconnected at %s]", h.b.log.Now().Format(time.ANSIC))
	if errors.Is(reason, ErrRegisterTimeout) {
		h.b.report(reason)
	}
}

// SASLResult logs how SASL ended, without the password, and reports a
// failure to OnError (see LogBotConfig.SASL).
func (h *botHandler) SASLResult(c *Client, err error) {
	if err == nil {
		account := c.Account() // from the server's 900
		if account == "" {
			account = h.b.cfg.SASL.User
		}
		h.logf("[SASL: logged in as %s]", account)
		return
	}
	then := "continuing unauthenticated"
	if h.b.cfg.SASL.Required {
		then = "disconnecting"
	}
	h.logf("[SASL failed (%v); %s]", err, then)
	h.b.report(err)
}

func (h *botHandler) SignedOn(c *Client) { _ = c.Join(h.b.cfg.Channel) }

func (h *botHandler) Joined(c *Client, channel string) {
	if c.EqualFold(channel, h.b.cfg.Channel) {
		if h.rejoin != nil {
			h.rejoin.Stop()
		}
		h.joinedAt, h.refused = time.Now(), false
	}
	h.logf("[I have joined %s]", channel)
}

// Left logs the bot's own PART, which the server also sends when a channel
// operator or an oper removes the bot (REMOVE, SAPART): "[I have left
// #weft]", like its joins, so that the log shows where it stops covering
// the channel. (Unlike a kick, it does not rejoin: REMOVE is how operators
// ask a client not to come back.)
func (h *botHandler) Left(c *Client, channel string) {
	if c.EqualFold(channel, h.b.cfg.Channel) {
		h.joinedAt = time.Time{}
	}
	h.logf("[I have left %s]", channel)
}

// Kicked logs a kick from the bot's channel and rejoins it after a wait
// (see LogBotConfig.RejoinDelay).
func (h *botHandler) Kicked(c *Client, channel, kicker, reason string) {
	if !c.EqualFold(channel, h.b.cfg.Channel) {
		return
	}
	if !h.joinedAt.IsZero() && time.Since(h.joinedAt) >= h.b.cfg.MaxRejoinDelay {
		h.tries = 0 // the bot had stayed: not a kick loop
	}
	d := h.scheduleRejoin(c)
	if reason != "" {
		reason = " (" + reason + ")"
	}
	h.logf("[I was kicked from %s by %s%s; rejoining in %v]", channel, kicker, reason, d)
}

// UserKicked logs a kick of another user from the bot's channel, in the
// form of the bot's own kick line: "[ann was kicked from #weft by bob
// (reason)]", without the parentheses when the KICK gave no reason. A kick
// from another channel is not logged (nor is the bot's own: Kicked).
func (h *botHandler) UserKicked(c *Client, user, channel, kicker, reason string) {
	if !c.EqualFold(channel, h.b.cfg.Channel) {
		return
	}
	if reason != "" {
		reason = " (" + reason + ")"
	}
	h.logf("[%s was kicked from %s by %s%s]", user, channel, kicker, reason)
}

// MessageReceived sees the server's refusals of the bot's JOIN. A refusal
// that may end (a ban, a full, invite-only, keyed or TLS-only channel, too
// many channels, a channel held by the server for a while, a registration
// the channel asks for) is tried again after a wait (see
// LogBotConfig.RejoinDelay). One that no wait changes (no such channel,
// bad channel mask, illegal channel name: the name itself is refused) is
// logged and reported to OnError (ErrBadChannel), once until the bot joins
// the channel after all (an operator's SAJOIN), and not tried again on this
// connection.
func (h *botHandler) MessageReceived(c *Client, m Message) {
	retry := true
	switch m.Command {
	case "405", "437", "471", "473", "474", "475", "477", "489":
	case "403", "476", "479":
		retry = false
	default:
		return
	}
	channel := m.Param(1)
	if !c.EqualFold(channel, h.b.cfg.Channel) {
		return
	}
	text := m.Param(len(m.Params) - 1)
	if !retry {
		if h.rejoin != nil {
			h.rejoin.Stop()
		}
		h.joinedAt = time.Time{}
		if h.refused {
			return // said already: a server repeating itself floods nothing
		}
		h.refused = true
		h.logf("[cannot join %s (%s %s); not retrying]", channel, m.Command, text)
		h.b.report(fmt.Errorf("%w: %s refused (%s %s)", ErrBadChannel, printable(channel), m.Command, printable(text)))
		return
	}
	last := h.wait
	d := h.scheduleRejoin(c)
	if last < h.b.cfg.MaxRejoinDelay { // then quiet: a long ban fills no log
		h.logf("[cannot join %s (%s %s); retrying in %v]", channel, m.Command, text, d)
	}
}

// scheduleRejoin arms the JOIN of the bot's channel after the wait the
// kicks and refusals in a row call for, and returns the wait.
func (h *botHandler) scheduleRejoin(c *Client) time.Duration {
	d, maxD := h.b.cfg.RejoinDelay, h.b.cfg.MaxRejoinDelay
	for i := 0; i < h.tries && d < maxD; i++ {
		if d > maxD/2 { // 2*d may not fit in a Duration
			d = maxD
		} else {
			d *= 2
		}
	}
	h.tries++
	h.wait = d
	h.joinedAt = time.Time{}
	if h.rejoin != nil {
		h.rejoin.Stop()
	}
	channel := h.b.cfg.Channel
	h.rejoin = time.AfterFunc(d, func() { _ = c.Join(channel) })
	return d
}

// Privmsg logs the message and answers a private one, or one addressed to
// the bot in the channel, within the rate limit of
// LogBotConfig.ReplyInterval and MaxReplies; the channel answer is logged
// only once sent. The answers are NOTICEs, not PRIVMSGs as in
// Twisted's ircLogBot: RFC 2812 (3.3.2) asks automatic replies to be
// NOTICEs, which no client answers, so the bot cannot loop with another bot
// that answers what it is sent.
func (h *botHandler) Privmsg(c *Client, user, target, text string) {
	h.logf("<%s> %s", user, text)
	nick := c.Nick()
	if c.EqualFold(target, nick) {
		if h.b.replies.allow("whisper", user) {
			_ = c.Notice(user, Whisper)
		}
		return
	}
	if strings.HasPrefix(text, nick+":") && h.b.replies.allow("channel", user) {
		// Logged only once sent: Notice refuses a reply over MaxText (a
		// long nick) and fails on a closed connection.
		if reply := user + ": I am a log bot"; c.Notice(target, reply) == nil {
			h.logf("<%s> %s", nick, reply)
		}
	}
}

func (h *botHandler) Action(_ *Client, user, _, text string) { h.logf("* %s %s", user, text) }

func (h *botHandler) NickChanged(_ *Client, old, nick string) {
	h.logf("%s is now known as %s", old, nick)
}

// Quit says QUIT on the live connection, if any, and closes it once the
// QUIT is written. Call it before stopping the client.Reconnecting that runs
// the bot.
func (b *LogBot) Quit(reason string) {
	if c := b.Client(); c != nil {
		_ = c.Quit(reason)
	}
}
