package irc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// TestClientCTCPPing: a CTCP PING in a PRIVMSG is answered with a NOTICE to
// the sender's nick echoing its data, as Twisted's IRCClient does
// (ctcpQuery_PING). Before, the Client ignored every CTCP query but ACTION.
func TestClientCTCPPing(t *testing.T) {
	_, fs := registeringClient(t, Config{Nick: "me"}, nil)
	fs.send(":s 001 me :hi")
	fs.send(":alice!a@h PRIVMSG me :\x01PING 12345\x01", "PING sync")
	fs.expect("NOTICE alice :\x01PING 12345\x01")
	fs.expect("PONG sync")
}

// ctcpConfig is a Config with every CTCP answer set, a fixed clock, and a
// budget large enough not to get in the way.
func ctcpConfig() Config {
	return Config{Nick: "me", CTCPVersion: "weft:1.0:linux", CTCPSource: "https://example.org/weft",
		CTCPUserInfo: "a log bot", CTCPFinger: "weft bot", Now: fixedClock(), CTCPMaxReplies: 1000}
}

// TestClientCTCPAnswers: the answer to each CTCP query, as the NOTICE
// text sent back ("" for no answer). Unless a comment says otherwise it is
// the text Debian's python3-twisted 22.4 IRCClient sends for the same
// PRIVMSG, with versionName "weft", versionNum "1.0", versionEnv "linux",
// sourceURL, userinfo and fingerReply set as in ctcpConfig, the clock at
// 2026-11-25 12:34:56 in UTC ("unset": with none of them, and sourceURL
// None).
func TestClientCTCPAnswers(t *testing.T) {
	const all = "ACTION CLIENTINFO ERRMSG FINGER PING SOURCE TIME USERINFO VERSION"
	for _, tc := range []struct {
		unset bool
		query string
		want  string
	}{
		{false, "\x01PING 12345\x01", "\x01PING 12345\x01"},
		{false, "\x01PING\x01", "\x01PING\x01"},
		// Dequoted, then quoted again.
		{false, "\x01PING a\\\\b\\ac\\q\x01", "\x01PING a\\\\b\\acq\x01"},
		{false, "\x01TIME\x01", "\x01TIME :Wed Nov 25 12:34:56 2026\x01"},
		{false, "\x01ERRMSG oops\x01", "\x01ERRMSG oops :No error has occurred.\x01"},
		// Twisted: "\x01ERRMSG None :No error has occurred.\x01".
		{false, "\x01ERRMSG\x01", "\x01ERRMSG :No error has occurred.\x01"},
		// Twisted lists its methods, DCC included, answered or not:
		// "ACTION CLIENTINFO DCC ERRMSG FINGER PING SOURCE TIME USERINFO
		// VERSION".
		{false, "\x01CLIENTINFO\x01", "\x01CLIENTINFO " + all + "\x01"},
		// Twisted sends the method's docstring, none for PING:
		// "\x01CLIENTINFO\x01".
		{false, "\x01CLIENTINFO PING\x01", "\x01CLIENTINFO PING <data>: echoes <data>, to measure the lag\x01"},
		{false, "\x01CLIENTINFO FOO bar\x01", "\x01ERRMSG CLIENTINFO FOO bar :Unknown query 'FOO'\x01"},
		// Twisted raises IndexError (which it logs): no answer.
		{false, "\x01CLIENTINFO  \x01", "\x01CLIENTINFO " + all + "\x01"},
		{false, "\x01VERSION\x01", "\x01VERSION weft:1.0:linux\x01"},
		{false, "\x01SOURCE\x01", "\x01SOURCE https://example.org/weft\x01\x01SOURCE\x01"},
		{false, "\x01USERINFO\x01", "\x01USERINFO a log bot\x01"},
		{false, "\x01FINGER\x01", "\x01FINGER weft bot\x01"},
		// Twisted's tags are case-sensitive: no answer.
		{false, "\x01version\x01", "\x01VERSION weft:1.0:linux\x01"},
		{false, "\x01FOO bar\x01", ""},
		{false, "\x01DCC CHAT chat 2130706433 6667\x01", ""},
		{false, "\x01PING x\x01 text", "\x01PING x\x01"},
		{true, "\x01PING 1\x01", "\x01PING 1\x01"},
		{true, "\x01VERSION\x01", ""},
		{true, "\x01SOURCE\x01", ""},
		{true, "\x01USERINFO\x01", ""},
		{true, "\x01FINGER\x01", ""},
		// Twisted: "ACTION CLIENTINFO DCC ERRMSG FINGER PING SOURCE TIME
		// USERINFO VERSION".
		{true, "\x01CLIENTINFO\x01", "\x01CLIENTINFO ACTION CLIENTINFO ERRMSG PING TIME\x01"},
		// Twisted: "\x01CLIENTINFO\x01" (no docstring for VERSION).
		{true, "\x01CLIENTINFO VERSION\x01", "\x01ERRMSG CLIENTINFO VERSION :Unknown query 'VERSION'\x01"},
	} {
		t.Run(fmt.Sprintf("%v %q", !tc.unset, tc.query), func(t *testing.T) {
			cfg := ctcpConfig()
			if tc.unset {
				cfg = Config{Nick: "me", Now: fixedClock()}
			}
			_, fs := registeringClient(t, cfg, nil)
			fs.send(":s 001 me :hi", ":alice!a@h PRIVMSG me :"+tc.query, "PING sync")
			if tc.want != "" {
				fs.expect(Message{Command: "NOTICE", Params: []string{"alice", tc.want}}.String())
			}
			fs.expect("PONG sync")
		})
	}
}

// ctcpRecorder records the CTCP queries a CTCPHandler is told of, and the
// other events as recorder does.
type ctcpRecorder struct{ *recorder }

func (r ctcpRecorder) CTCPQuery(_ *Client, user, target, tag, data string, answered bool) {
	r.ev <- fmt.Sprintf("ctcp %s %s %s %q %v", user, target, tag, data, answered)
}

// TestClientCTCPDispatch: a query to a channel is answered to the sender's
// nick, never to the channel; a CTCP message in a NOTICE (an answer) is not
// answered, so that two clients cannot answer each other forever; of one
// message, only the first query of each tag is considered, and at most
// MaxCTCPQueries tags (an unknown one counts), ACTION apart; the client
// does not answer itself, nor a sender whose nick is no nick. A Handler
// that implements CTCPHandler is told of each query considered, and
// whether it was answered.
func TestClientCTCPDispatch(t *testing.T) {
	rec := ctcpRecorder{newRecorder()}
	cfg := ctcpConfig()
	cfg.CTCPVersion = ""
	_, fs := registeringClient(t, cfg, rec)
	fs.send(":s 001 me :hi")
	rec.expect(t, "signedon me")

	fs.send(":alice!a@h PRIVMSG #weft :\x01PING 1\x01", "PING sync")
	fs.expect("NOTICE alice :\x01PING 1\x01")
	fs.expect("PONG sync")
	rec.expect(t, `ctcp alice #weft PING "1" true`)

	fs.send(":alice!a@h NOTICE me :\x01PING 2\x01", ":alice!a@h NOTICE #weft :\x01VERSION\x01",
		":alice!a@h NOTICE me :\x01CLIENTINFO\x01 hi", "PING sync")
	fs.expect("PONG sync")
	rec.expect(t, "notice alice me  hi")

	fs.send(":bob!b@h PRIVMSG me :\x01PING 1\x01\x01ping 2\x01\x01ACTION waves\x01\x01VERSION\x01"+
		"\x01ACTION twice\x01\x01FOO\x01\x01TIME\x01\x01ERRMSG x\x01 text", "PING sync")
	fs.expect("NOTICE bob :\x01PING 1\x01")
	fs.expect("PONG sync")
	rec.expect(t, `ctcp bob me PING "1" true`, "action bob me waves", `ctcp bob me VERSION "" false`,
		`ctcp bob me FOO "" false`, "privmsg bob me  text")

	fs.send(":me!u@h PRIVMSG me :\x01PING self\x01", ":a,#weft!u@h PRIVMSG me :\x01PING 3\x01",
		":#weft!u@h PRIVMSG me :\x01PING 4\x01", "PING sync")
	fs.expect("PONG sync")
	rec.expect(t, `ctcp me me PING "self" false`, `ctcp a,#weft me PING "3" false`, `ctcp #weft me PING "4" false`)
}

// TestClientCTCPLongAnswer: an answer that would not fit in MaxLineLength
// once the server relays it (a PING with a long payload) is not sent, nor
// cut short (a PING answered with other data answers nothing); one that
// fits is sent whole. Twisted's IRCClient sends what it is given.
func TestClientCTCPLongAnswer(t *testing.T) {
	c, fs := registeringClient(t, ctcpConfig(), nil)
	fs.send(":s 001 me :hi")
	fits := strings.Repeat("p", c.MaxText("alice")-len("\x01PING \x01"))
	fs.send(":alice!a@h PRIVMSG me :\x01PING "+fits+"x\x01",
		":alice!a@h PRIVMSG me :\x01PING "+strings.Repeat("p", 8000)+"\x01", // a line over 512 bytes
		":alice!a@h PRIVMSG me :\x01PING "+fits+"\x01", "PING sync")
	fs.expect("NOTICE alice :\x01PING " + fits + "\x01")
	fs.expect("PONG sync")
}

// TestConfigValidateCTCP: a CTCP answer holding NUL, CR or LF could not be
// sent, and a negative CTCPReplyInterval means nothing: ErrConfig. A
// negative CTCPMaxReplies answers no query.
func TestConfigValidateCTCP(t *testing.T) {
	for _, cfg := range []Config{
		{Nick: "a", CTCPVersion: "v\r\nQUIT"}, {Nick: "a", CTCPSource: "s\n"}, {Nick: "a", CTCPUserInfo: "\x00"},
		{Nick: "a", CTCPFinger: "f\r"}, {Nick: "a", CTCPReplyInterval: -time.Second},
	} {
		if _, err := NewClient(cfg, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("NewClient(%#v) error = %v, want ErrConfig", cfg, err)
		}
	}
	_, fs := registeringClient(t, Config{Nick: "me", CTCPMaxReplies: -1}, nil)
	fs.send(":s 001 me :hi", ":alice!a@h PRIVMSG me :\x01PING 1\x01", "PING sync")
	fs.expect("PONG sync")
}

// pipeServe runs p over a net.Pipe (in the caller's synctest bubble, if
// any) and returns the server side.
func pipeServe(t *testing.T, p weft.Protocol) (r *bufio.Reader, send func(lines ...string), hangUp func()) {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- weft.Serve(cli, p, nil) }()
	r = bufio.NewReader(srv)
	send = func(lines ...string) {
		t.Helper()
		for _, l := range lines {
			if _, err := fmt.Fprintf(srv, "%s\r\n", l); err != nil {
				t.Fatalf("writing %q: %v", l, err)
			}
		}
	}
	hangUp = func() { srv.Close(); <-done }
	return r, send, hangUp
}

// clientPipe runs a Client with cfg over a net.Pipe in the caller's synctest
// bubble up to its welcome, and returns the server side.
func clientPipe(t *testing.T, cfg Config, h Handler) (r *bufio.Reader, send func(lines ...string), hangUp func()) {
	t.Helper()
	c, err := NewClient(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	r, send, hangUp = pipeServe(t, c)
	expectLine(t, r, "NICK "+cfg.Nick)
	expectLine(t, r, "USER "+cfg.Nick+" 0 * "+cfg.Nick)
	send(":s 001 " + cfg.Nick + " :hi")
	return r, send, hangUp
}

// TestClientCTCPRateLimit: the answers to CTCP queries are rate limited
// (Twisted's IRCClient answers every one, and a flood of queries makes it
// flood the server, which kills it): one answer per tag per sender per
// DefaultCTCPReplyInterval, at most DefaultCTCPMaxReplies in all; the
// excess is dropped, and answers are allowed again once the interval has
// passed.
func TestClientCTCPRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, send, hangUp := clientPipe(t, Config{Nick: "me"}, nil)
		defer hangUp()
		flood := func(lines ...string) int {
			t.Helper()
			go func() { send(append(lines[:len(lines):len(lines)], "PING :sync")...) }() // a copy: lines may be a prefix of a longer slice
			return countNotices(t, r)
		}
		var one []string
		for i := range 100 {
			one = append(one, fmt.Sprintf(":alice!a@h PRIVMSG me :\x01PING %d\x01", i))
		}
		if n := flood(one...); n != 1 {
			t.Fatalf("100 PINGs from alice got %d answers, want 1", n)
		}
		if n := flood(":ALICE!a@h PRIVMSG me :\x01PING x\x01", ":alice!a@h PRIVMSG #weft :\x01PING y\x01"); n != 0 {
			t.Fatalf("more PINGs from alice (as ALICE, in a channel) got %d answers, want 0", n)
		}
		// Another tag from alice, then many senders: the cap in all.
		if n := flood(":alice!a@h PRIVMSG me :\x01TIME\x01"); n != 1 {
			t.Fatalf("TIME from alice got %d answers, want 1", n)
		}
		var many []string
		for i := range 100 {
			many = append(many, fmt.Sprintf(":u%d!u@h PRIVMSG me :\x01PING %d\x01\x01TIME\x01\x01CLIENTINFO\x01", i, i))
		}
		if n := flood(many...); n != DefaultCTCPMaxReplies-2 {
			t.Fatalf("300 queries from 100 senders got %d answers, want %d (DefaultCTCPMaxReplies less alice's 2)", n, DefaultCTCPMaxReplies-2)
		}
		time.Sleep(DefaultCTCPReplyInterval - time.Second)
		if n := flood(one[:1]...); n != 0 {
			t.Fatalf("before %v, a PING from alice got %d answers, want 0", DefaultCTCPReplyInterval, n)
		}
		time.Sleep(time.Second)
		if n := flood(one...); n != 1 {
			t.Fatalf("after %v, 100 PINGs from alice got %d answers, want 1", DefaultCTCPReplyInterval, n)
		}
		if n := flood(many...); n != DefaultCTCPMaxReplies-1 {
			t.Fatalf("after %v, 100 senders got %d answers, want %d", DefaultCTCPReplyInterval, n, DefaultCTCPMaxReplies-1)
		}
	})
}

// TestClientCTCPRateLimitSet: CTCPReplyInterval and CTCPMaxReplies set.
func TestClientCTCPRateLimitSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, send, hangUp := clientPipe(t, Config{Nick: "me", CTCPReplyInterval: time.Minute, CTCPMaxReplies: 7}, nil)
		defer hangUp()
		var many []string
		for i := range 20 {
			many = append(many, fmt.Sprintf(":u%d!u@h PRIVMSG me :\x01PING %d\x01", i, i))
		}
		for round := range 3 {
			go send(append(many[:len(many):len(many)], "PING :sync")...)
			if n := countNotices(t, r); n != 7 {
				t.Fatalf("round %d: %d answers, want 7", round, n)
			}
			time.Sleep(time.Minute)
		}
	})
}

// TestLogBotCTCPBudget: the log bot answers CTCP queries (PING, TIME at its
// clock, ...) within the budget of its other automatic answers
// (LogBotConfig.ReplyInterval and MaxReplies), which outlives a
// connection: whispers and queries together get at most MaxReplies
// answers per ReplyInterval, reconnecting or not. It logs no CTCP query
// but ACTION, as Twisted's ircLogBot.
func TestLogBotCTCPBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &syncBuffer{}
		bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", Log: log, Now: fixedClock(), MaxReplies: 3})
		if err != nil {
			t.Fatal(err)
		}
		connect := func() (*bufio.Reader, func(lines ...string), func()) {
			r, send, close := pipeServe(t, bot.BuildProtocol(nil))
			var once sync.Once
			hangUp := func() { once.Do(close) }
			t.Cleanup(hangUp) // when a check fails before it is called
			expectLine(t, r, "NICK logbot")
			expectLine(t, r, "USER logbot 0 * logbot")
			send(":s 001 logbot :hi")
			expectLine(t, r, "JOIN #weft")
			return r, send, hangUp
		}
		r, send, hangUp := connect()
		go send(":alice!a@h PRIVMSG logbot :\x01TIME\x01", "PING :sync")
		expectLine(t, r, "NOTICE alice :\x01TIME :Wed Nov 25 12:34:56 2026\x01")
		expectLine(t, r, "PONG sync")
		go func() {
			for i := range 50 {
				send(fmt.Sprintf(":u%d!u@h PRIVMSG logbot :\x01PING %d\x01", i, i), fmt.Sprintf(":u%d!u@h PRIVMSG logbot :psst", i))
			}
			send("PING :sync")
		}()
		if n := countNotices(t, r); n != 2 {
			t.Fatalf("50 PINGs and 50 whispers got %d answers, want 2 (MaxReplies 3 less the TIME answer)", n)
		}
		hangUp()
		if got := log.String(); strings.Contains(got, "TIME") || strings.Contains(got, "PING") {
			t.Errorf("the log shows CTCP queries:\n%s", got)
		}
		// A new connection: the budget is still spent, then renewed.
		r, send, hangUp = connect()
		defer hangUp()
		go send(":bob!b@h PRIVMSG logbot :\x01PING 1\x01", "PING :sync")
		if n := countNotices(t, r); n != 0 {
			t.Fatalf("after a reconnect, a PING got %d answers, want 0", n)
		}
		time.Sleep(DefaultReplyInterval)
		go send(":bob!b@h PRIVMSG logbot :\x01PING 1\x01", "PING :sync")
		expectLine(t, r, "NOTICE bob :\x01PING 1\x01")
		expectLine(t, r, "PONG sync")
	})
}

// TestClientCTCPNgircd: through a real ngircd, another user's CTCP PING
// and VERSION to the client are answered with NOTICEs she receives
// (ngircd relays them with the client's prefix); a CTCP in a NOTICE is not
// answered, and a query to a channel is answered to her, not to the
// channel.
func TestClientCTCPNgircd(t *testing.T) {
	srv := newNgircd(t)
	srv.start()
	alice := dialPeer(t, srv.addr, "alice")
	alice.send("JOIN #weft")
	alice.waitFor(" 366 ")
	c, rec := signOn(t, srv, Config{Nick: "weftbot", CTCPVersion: "weft:test:go"})
	if err := c.Join("#weft"); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, "joined #weft")
	if got := alice.waitFor(":weftbot!"); !strings.Contains(got, " JOIN ") {
		t.Fatalf("alice saw %q, want the client's JOIN", got)
	}

	answer := func() string {
		t.Helper()
		line := strings.TrimRight(alice.waitFor(":weftbot!"), "\r\n")
		_, rest, _ := strings.Cut(line, " ")
		return rest
	}
	alice.send("PRIVMSG weftbot :\x01PING 12345\x01")
	if got, want := answer(), "NOTICE alice :\x01PING 12345\x01"; got != want {
		t.Errorf("answer to PING: %q, want %q", got, want)
	}
	alice.send("PRIVMSG weftbot :\x01VERSION\x01")
	if got, want := answer(), "NOTICE alice :\x01VERSION weft:test:go\x01"; got != want {
		t.Errorf("answer to VERSION: %q, want %q", got, want)
	}
	// (A tag not asked yet: one answer per tag per sender per 10 s.)
	alice.send("NOTICE weftbot :\x01TIME\x01")
	alice.send("PRIVMSG #weft :\x01CLIENTINFO\x01")
	if got, want := answer(), "NOTICE alice :\x01CLIENTINFO ACTION CLIENTINFO ERRMSG PING TIME VERSION\x01"; got != want {
		t.Errorf("after a CTCP TIME in a NOTICE and a CLIENTINFO to the channel, the client sent %q, want %q", got, want)
	}
}

// ctcpReplyRecorder records the CTCP answers a CTCPReplyHandler is told of.
type ctcpReplyRecorder struct{ *recorder }

func (r ctcpReplyRecorder) CTCPReply(_ *Client, user, target, tag, data string) {
	r.ev <- fmt.Sprintf("reply %s %s %s %q", user, target, tag, data)
}

// TestClientCTCPQueryAndReply: Client.CTCP sends a query (Twisted's
// ctcpMakeQuery), CTCP-quoted; a bad tag or data is ErrInvalid and sends
// nothing. The answer, a CTCP message in a NOTICE, goes to a
// CTCPReplyHandler (dequoted, the tag upper-cased, the first of each tag,
// at most MaxCTCPQueries tags), never answered; the NOTICE's other text
// still goes to Noticed.
func TestClientCTCPQueryAndReply(t *testing.T) {
	rec := ctcpReplyRecorder{newRecorder()}
	c, fs := registeringClient(t, ctcpConfig(), rec)
	fs.send(":s 001 me :hi")
	rec.expect(t, "signedon me")
	if err := c.CTCP("alice", "PING", `12 \ 34`+"\x01"); err != nil {
		t.Fatal(err)
	}
	fs.expect("PRIVMSG alice :\x01PING 12 \\\\ 34\\a\x01")
	if err := c.CTCP("alice", "VERSION", ""); err != nil {
		t.Fatal(err)
	}
	fs.expect("PRIVMSG alice \x01VERSION\x01") // one word: no ":" needed
	for _, tc := range []struct{ tag, data string }{{"", "x"}, {"PI NG", ""}, {"PING\x01", ""}, {`A\B`, ""}, {"PING", "a\r\nQUIT"}} {
		if err := c.CTCP("alice", tc.tag, tc.data); !errors.Is(err, ErrInvalid) {
			t.Errorf("CTCP(%q, %q) = %v, want ErrInvalid", tc.tag, tc.data, err)
		}
	}
	fs.send(":alice!a@h NOTICE me :\x01PING 12 \\\\ 34\\a\x01\x01ping again\x01\x01VERSION x:1:y\x01"+
		"\x01TIME :now\x01\x01FINGER f\x01 and text", "PING sync")
	fs.expect("PONG sync") // nothing answered
	rec.expect(t, `reply alice me PING "12 \\ 34\x01"`, `reply alice me VERSION "x:1:y"`, `reply alice me TIME ":now"`,
		"notice alice me  and text")
}
