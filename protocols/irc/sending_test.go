package irc

import (
	"errors"
	"strings"
	"testing"

	"github.com/weftkit/weft"
)

// TestClientNickRefusedNumerics: during registration every numeric that
// refuses the nick, 437 (ERR_UNAVAILRESOURCE, the nick delay of RFC 2812)
// included, makes the client try an altered nick; without it registration
// stalled. A 437 about a channel does not touch the nick.
func TestClientNickRefusedNumerics(t *testing.T) {
	for _, tc := range []struct {
		line string
		want string // the client's next line
	}{
		{":s 432 * bot :Erroneous nickname", "NICK bot^"},
		{":s 433 * bot :Nickname already in use", "NICK bot^"},
		{":s 436 * bot :Nickname collision KILL", "NICK bot^"},
		{":s 437 * bot :Nick/channel is temporarily unavailable", "NICK bot^"},
		{":s 437 * BOT :Nick/channel is temporarily unavailable", "NICK bot^"},
		{":s 437 * #weft :Nick/channel is temporarily unavailable", "PONG sync"},
	} {
		t.Run(tc.line[3:6]+" "+strings.Fields(tc.line)[3], func(t *testing.T) {
			c, err := NewClient(Config{Nick: "bot"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			fs := startFake(t, c)
			fs.expect("NICK bot")
			fs.expect("USER bot 0 * bot")
			fs.send(tc.line, "PING sync")
			fs.expect(tc.want)
		})
	}
}

// TestClientNotConnected: the sending methods called before the connection
// is made return ErrNotConnected, which callers can match.
func TestClientNotConnected(t *testing.T) {
	c, err := NewClient(Config{Nick: "bot"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, send := range map[string]func() error{
		"Send":   func() error { return c.Send(Message{Command: "PING", Params: []string{"x"}}) },
		"Msg":    func() error { return c.Msg("#weft", "hi") },
		"Notice": func() error { return c.Notice("#weft", "hi") },
		"Me":     func() error { return c.Me("#weft", "waves") },
		"Join":   func() error { return c.Join("#weft") },
	} {
		if err := send(); !errors.Is(err, ErrNotConnected) {
			t.Errorf("%s before ConnectionMade = %v, want ErrNotConnected", name, err)
		}
	}
	// After the connection is lost: the transport's weft.ErrClosed.
	fs := startFake(t, c)
	fs.expect("NICK bot")
	if err := fs.hangUp(); err != nil {
		t.Fatal(err)
	}
	if err := c.Msg("#weft", "hi"); !errors.Is(err, weft.ErrClosed) {
		t.Errorf("Msg after ConnectionLost = %v, want weft.ErrClosed", err)
	}
}

// TestClientMeRefusesBadText: a CTCP ACTION text holding \x01 would end the
// CTCP message early (the rest reaching the channel as plain text), and
// CR/LF/NUL would break the line: each is ErrInvalid, nothing is sent.
func TestClientMeRefusesBadText(t *testing.T) {
	c, err := NewClient(Config{Nick: "bot"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs := startFake(t, c)
	fs.expect("NICK bot")
	fs.expect("USER bot 0 * bot")
	for _, text := range []string{"a\x01b", "\x01", "waves\x01VERSION\x01", "a\nb", "a\rb", "a\x00b"} {
		if err := c.Me("#weft", text); !errors.Is(err, ErrInvalid) {
			t.Errorf("Me(%q) = %v, want ErrInvalid", text, err)
		}
	}
	if err := c.Me("#weft", "waves"); err != nil {
		t.Fatal(err)
	}
	fs.expect("PRIVMSG #weft :\x01ACTION waves\x01")
}

// worstPrefix is the longest ":nick!user@host " a server may put before a
// line it relays from c, as the Client reckons it.
func worstPrefix(nick, user string) string {
	return ":" + nick + "!" + strings.Repeat("u", max(len(user)+1, 10)) + "@" + strings.Repeat("h", 63) + " "
}

// TestClientTextLimit: Msg, Notice and Me accept a text only if the line
// the server relays, with its ":nick!user@host " prefix, fits in 512 bytes;
// MaxText says how long that is. Before, a 497-byte text was accepted and
// cut by the server.
func TestClientTextLimit(t *testing.T) {
	c, err := NewClient(Config{Nick: "bot", User: "weft"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs := startFake(t, c)
	fs.expect("NICK bot")
	fs.expect("USER weft 0 * bot")
	fs.send(":s 001 bot :hi")
	const target = "#weft"
	n := c.MaxText(target)
	relayed := len(worstPrefix("bot", "weft")) + len("PRIVMSG #weft :") + n + len("\r\n")
	if relayed != MaxLineLength {
		t.Fatalf("MaxText(%q) = %d: the relayed line is %d bytes, want %d", target, n, relayed, MaxLineLength)
	}
	for _, tc := range []struct {
		name  string
		send  func(text string) error
		max   int
		wire  string // the line sent, before the text
		after string // and after it
	}{
		{"Msg", func(s string) error { return c.Msg(target, s) }, n, "PRIVMSG #weft :", ""},
		{"Notice", func(s string) error { return c.Notice(target, s) }, n, "NOTICE #weft :", ""},
		{"Me", func(s string) error { return c.Me(target, s) }, n - len("\x01ACTION \x01"), "PRIVMSG #weft :\x01ACTION ", "\x01"},
	} {
		for _, size := range []int{tc.max + 1, 497, 509} {
			if err := tc.send(strings.Repeat("x", size)); !errors.Is(err, ErrLineTooLong) {
				t.Errorf("%s: %d-byte text = %v, want ErrLineTooLong", tc.name, size, err)
			}
		}
		text := "x " + strings.Repeat("x", tc.max-3) + "y" // a space: written with ':'
		if err := tc.send(text); err != nil {
			t.Fatalf("%s: %d-byte text: %v", tc.name, tc.max, err)
		}
		fs.expect(tc.wire + text + tc.after)
	}
	// A longer nick leaves less room.
	fs.send(":bot!u@h NICK :" + strings.Repeat("n", 30))
	fs.send("PING sync")
	fs.expect("PONG sync")
	if got := c.MaxText(target); got != n-27 {
		t.Errorf("MaxText after a 30-byte nick = %d, want %d", got, n-27)
	}
}
