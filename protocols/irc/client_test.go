package irc

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestClientSession(t *testing.T) {
	rec := newRecorder()
	c, err := NewClient(Config{Nick: "bot", Password: "sekrit", RealName: "Log Bot"}, rec)
	if err != nil {
		t.Fatal(err)
	}
	fs := startFake(t, c)
	fs.expect("PASS sekrit")
	fs.expect("NICK bot")
	fs.expect("USER bot 0 * :Log Bot")
	fs.send("PING :irc.test")
	fs.expect("PONG irc.test")
	fs.send(":irc.test 433 * bot :Nickname already in use")
	fs.expect("NICK bot^")
	fs.send(":irc.test 433 * bot^ :Nickname already in use")
	fs.expect("NICK bot^^")
	fs.send(":irc.test 001 bot^^ :Welcome")
	rec.expect(t, "signedon bot^^")

	if err := c.Join("#weft"); err != nil {
		t.Fatal(err)
	}
	fs.expect("JOIN #weft")
	fs.send(":bot^^!u@h JOIN :#weft", ":alice!a@h JOIN #weft", ":carol!c@h JOIN #weft", ":carol!c@h PART #weft :later")
	rec.expect(t, "joined #weft", "userjoined alice #weft", "userjoined carol #weft", "userleft carol #weft")

	fs.send(
		":alice!a@h PRIVMSG #weft :hello all",
		":alice!a@h PRIVMSG #weft :\x01ACTION waves\x01",
		":alice!a@h NOTICE bot^^ :psst",
		":alice!a@h NICK :alice2",
		":bot^^!u@h NICK bot",
		":alice2!a@h QUIT :bye now",
		":bot!u@h PART #weft",
	)
	rec.expect(t,
		"privmsg alice #weft hello all",
		"action alice #weft waves",
		"notice alice bot^^ psst",
		"nick alice alice2 me=bot^^",
		"nick bot^^ bot me=bot",
		"quit alice2 bye now",
		"left #weft",
	)

	for _, step := range []struct {
		send func() error
		want string
	}{
		{func() error { return c.Msg("#weft", "hi there") }, "PRIVMSG #weft :hi there"},
		{func() error { return c.Notice("alice", "note") }, "NOTICE alice note"},
		{func() error { return c.Me("#weft", "dances") }, "PRIVMSG #weft :\x01ACTION dances\x01"},
		{func() error { return c.Part("#weft", "") }, "PART #weft"},
		{func() error { return c.Part("#weft", "gone") }, "PART #weft gone"},
		{func() error { return c.SetNick("other") }, "NICK other"},
		{func() error { return c.Quit("bye") }, "QUIT bye"},
	} {
		if err := step.send(); err != nil {
			t.Fatal(err)
		}
		fs.expect(step.want)
	}
	if err := c.Msg("#weft", "a\r\nQUIT"); !errors.Is(err, ErrInvalid) {
		t.Errorf("injected CRLF: %v, want ErrInvalid", err)
	}
	if err := c.Msg("#weft", strings.Repeat("x", 600)); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("long message: %v, want ErrLineTooLong", err)
	}
	if err := fs.hangUp(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	rec.expect(t, "lost <nil>")
}

func TestClientNickHook(t *testing.T) {
	tries := 0
	alter := func(n string) string {
		tries++
		if tries > 2 {
			return ""
		}
		return "_" + n
	}
	rec := newRecorder()
	_, fs := registeringClient(t, Config{Nick: "bot", AlterNick: alter}, rec)
	fs.send(":s 433 * bot :in use")
	fs.expect("NICK _bot")
	fs.send(":s 432 * _bot :erroneous")
	fs.expect("NICK __bot")
	fs.send(":s 436 * __bot :collision")
	rec.expect(t, `unavailable irc: no usable nickname: "__bot" refused (436 collision) after 3 tries`)
	ev := <-rec.ev
	if !strings.HasPrefix(ev, "lost ") {
		t.Fatalf("event %q, want lost", ev)
	}
}

func TestClientMaxNickRetries(t *testing.T) {
	rec := newRecorder()
	_, fs := registeringClient(t, Config{Nick: "b", MaxNickRetries: 1}, rec)
	fs.send(":s 433 * b :in use")
	fs.expect("NICK b^")
	fs.send(":s 433 * b^ :in use")
	rec.expect(t, `unavailable irc: no usable nickname: "b^" refused (433 in use) after 2 tries`)
}

func TestClientIgnoresGarbage(t *testing.T) {
	rec := newRecorder()
	c, _ := NewClient(Config{Nick: "bot"}, rec)
	fs := startFake(t, c)
	fs.expect("NICK bot")
	fs.expect("USER bot 0 * bot")
	fs.send("", ":", "12 x", "\x00\x01", ":s 001 bot :hi")
	rec.expect(t, "signedon bot")
	// After registration a refused NICK keeps the nick.
	fs.send(":s 433 bot other :in use", "PING x")
	fs.expect("PONG x")
	if c.Nick() != "bot" {
		t.Errorf("nick %q after refused change", c.Nick())
	}
}

func TestClientLineTooLong(t *testing.T) {
	rec := newRecorder()
	c, _ := NewClient(Config{Nick: "bot"}, rec)
	fs := startFake(t, c)
	fs.expect("NICK bot")
	fs.expect("USER bot 0 * bot")
	// Over MaxIncomingLineLength (a 600-byte line is accepted since
	// lines from the server may carry IRCv3 tags: TestClientLongIncomingLines).
	go func() {
		_, _ = fs.conn.Write([]byte(":s NOTICE bot :" + strings.Repeat("x", MaxIncomingLineLength) + "\r\n"))
	}()
	// The codec closes the connection on its own (the server does not
	// hang up: on net.Pipe that would cut the line short).
	select {
	case ev := <-rec.ev:
		if !strings.Contains(ev, "too large") || !strings.Contains(ev, "line too long") {
			t.Errorf("event %q, want a line-too-long loss", ev)
		}
	case <-time.After(10 * time.Second):
		// Seen under -race with the runtime at 14f1c1c: LoseConnection
		// called inside a callback with no pending output never closes.
		t.Fatal("no ConnectionLost after a too-long line: the connection hangs")
	}
}

func TestConfigValidate(t *testing.T) {
	long := strings.Repeat("n", 600)
	for _, cfg := range []Config{
		{}, {Nick: "a b"}, {Nick: "a\r\n"}, {Nick: "a", User: "u@h"}, {Nick: "a", RealName: "x\n"},
		{Nick: "a", MaxNickRetries: -1},
		// Lines that cannot be sent: registration used to stall, silently.
		{Nick: long}, {Nick: "a", User: long}, {Nick: "a", RealName: long}, {Nick: "a", Password: long},
		{Nick: "a", User: ":u"},
	} {
		if _, err := NewClient(cfg, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("NewClient(%#v) error = %v, want ErrConfig", cfg, err)
		}
	}
	c, err := NewClient(Config{Nick: "a"}, nil)
	if err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if err := c.Send(Message{Command: "X"}); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Send before connect = %v, want ErrNotConnected", err)
	}
}

// TestClientNickHookUsesClient: the AlterNick hook may call the Client's
// methods (it runs without the Client's lock held).
func TestClientNickHookUsesClient(t *testing.T) {
	var c *Client
	alter := func(n string) string {
		if c.Registered() || c.Nick() != n {
			return ""
		}
		return n + "_"
	}
	c, err := NewClient(Config{Nick: "bot", AlterNick: alter}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs := startFake(t, c)
	fs.expect("NICK bot")
	fs.expect("USER bot 0 * bot")
	fs.send(":s 433 * bot :in use")
	fs.expect("NICK bot_")
}

// msgRecorder records MessageReceived too, as "msg COMMAND".
type msgRecorder struct{ *recorder }

func (r msgRecorder) MessageReceived(_ *Client, m Message) { r.ev <- "msg " + m.Command }

// TestClientMessageReceivedFirst: MessageReceived gets every message that
// parses (an unparsable line is dropped), before the callback the message
// leads to.
func TestClientMessageReceivedFirst(t *testing.T) {
	rec := msgRecorder{newRecorder()}
	_, fs := registeringClient(t, Config{Nick: "bot"}, rec)
	fs.send("12 x", ":s 001 bot :hi", ":a!a@h PRIVMSG #weft :hello", ":s NOTICE * :motd")
	rec.expect(t, "msg 001", "signedon bot", "msg PRIVMSG", "privmsg a #weft hello", "msg NOTICE", "notice s * motd")
}
