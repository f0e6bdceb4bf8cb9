package irc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// TestBadInputIRC: Config, Client, Message, Logger and LogBot with hostile
// or degenerate values, and calls in the wrong order. Before the fix:
// Join(""), Join with a spaced key or with two keys (the second sent as a
// stray parameter), Part("") and SetNick("") were sent ("ok": "JOIN :",
// "JOIN #x :a b", "PART :", "NICK :", which a server refuses or reads
// otherwise); Log on NewLogger(nil, nil) or the zero Logger panicked
// ("runtime error: invalid memory address or nil pointer dereference"); a
// LogBotConfig.Channel of a prefix alone ("#", "&") was accepted ("ok"),
// and the bot joined a channel no server has.
func TestBadInputIRC(t *testing.T) {
	dir := t.TempDir()
	newClient := func(cfg Config) func() error {
		return func() error { _, err := NewClient(cfg, nil); return err }
	}
	// before runs fn on a Client that is not connected.
	before := func(fn func(c *Client) error) func() error {
		return func() error {
			c, err := NewClient(Config{Nick: "bot"}, nil)
			if err != nil {
				return err
			}
			return fn(c)
		}
	}
	// live runs fn on a registered Client over a fake server.
	live := func(fn func(c *Client) error) func() error {
		return func() error {
			c, fs := registeringClient(t, Config{Nick: "bot"}, nil)
			go io.Copy(io.Discard, fs.r)
			fs.conn.Write([]byte(":srv 001 bot :Welcome\r\n"))
			for !c.Registered() {
				time.Sleep(time.Millisecond)
			}
			return fn(c)
		}
	}
	logBot := func(cfg LogBotConfig) func() error {
		return func() error {
			b, err := NewLogBot(cfg)
			if err != nil {
				return err
			}
			return b.Close()
		}
	}
	var buf bytes.Buffer
	cases := []biCase{
		// Config and NewClient.
		{"empty Config", newClient(Config{}), "err: irc: invalid configuration: Config.Nick \"\" must be non-empty"},
		{"zero Config Validate", func() error { return Config{}.Validate() }, "err: irc: invalid configuration: Config.Nick"},
		{"Nick with space", newClient(Config{Nick: "a b"}), "err: irc: invalid configuration: Config.Nick \"a b\""},
		{"Nick with CRLF", newClient(Config{Nick: "a\r\nQUIT"}), "err: irc: invalid configuration: Config.Nick"},
		{"huge Nick", newClient(Config{Nick: strings.Repeat("n", 1000)}), "err: irc: invalid configuration: NICK cannot be sent"},
		{"User with @", newClient(Config{Nick: "a", User: "u@h"}), "err: irc: invalid configuration: Config.User \"u@h\""},
		{"RealName with LF", newClient(Config{Nick: "a", RealName: "x\ny"}), "err: irc: invalid configuration: Config.RealName or Config.Password"},
		{"neg MaxNickRetries", newClient(Config{Nick: "a", MaxNickRetries: -1}), "err: irc: invalid configuration: Config.MaxNickRetries -1 is negative"},
		{"neg RegisterTimeout", newClient(Config{Nick: "a", RegisterTimeout: -1}), "err: irc: invalid configuration: Config.RegisterTimeout -1ns is negative"},
		{"huge values", newClient(Config{Nick: "a", MaxNickRetries: math.MaxInt, RegisterTimeout: math.MaxInt64}), "ok"},
		{"nil Handler", newClient(Config{Nick: "a"}), "ok"},

		// A Client before ConnectionMade.
		{"Msg before connect", before(func(c *Client) error { return c.Msg("#x", "hi") }), "err: "},
		{"Join before connect", before(func(c *Client) error { return c.Join("#x") }), "err: "},
		{"Quit before connect", before(func(c *Client) error { return c.Quit("bye") }), "err: "},
		{"Send before connect", before(func(c *Client) error { return c.Send(Message{Command: "PING", Params: []string{"x"}}) }), "err: "},
		{"observers before connect", before(func(c *Client) error {
			c.Shutdown()
			c.Nick()
			c.Registered()
			c.MaxText("#x")
			c.MaxText("")
			if c.Transport() != nil {
				return errors.New("Transport not nil")
			}
			c.ConnectionLost(nil)
			c.ConnectionLost(nil)
			return nil
		}), "ok"},
		{"zero Client", func() error {
			var c Client
			c.Nick()
			c.Registered()
			c.MaxText("#x")
			c.EqualFold("a", "A")
			c.Shutdown()
			return c.Msg("#x", "hi")
		}, "err: "},

		// A live Client.
		{"Msg empty target", live(func(c *Client) error { return c.Msg("", "hi") }), "err: irc: invalid message"},
		{"Msg spaced target", live(func(c *Client) error { return c.Msg("a b", "hi") }), "err: irc: invalid message"},
		{"Msg CRLF text", live(func(c *Client) error { return c.Msg("#x", "hi\r\nQUIT") }), "err: irc: invalid message"},
		{"Msg huge text", live(func(c *Client) error { return c.Msg("#x", strings.Repeat("x", 1<<20)) }), "err: irc: line too long"},
		{"Msg empty text", live(func(c *Client) error { return c.Msg("#x", "") }), "ok"},
		{"Me with \\x01", live(func(c *Client) error { return c.Me("#x", "a\x01b") }), "err: irc: invalid message"},
		{"Join empty", live(func(c *Client) error { return c.Join("") }), "err: irc: invalid message: Join channel \"\" is empty"},
		{"Join spaced key", live(func(c *Client) error { return c.Join("#x", "a b") }), "err: irc: invalid message: Join key \"a b\" is empty, starts with ':' or holds a space"},
		{"Join many keys", live(func(c *Client) error { return c.Join("#x", "a", "b") }), "err: irc: invalid message: Join takes one key, not 2"},
		{"Join list", live(func(c *Client) error { return c.Join("#a,#b", "k") }), "ok"},
		{"Part empty", live(func(c *Client) error { return c.Part("", "") }), "err: irc: invalid message: Part channel \"\" is empty"},
		{"Part colon", live(func(c *Client) error { return c.Part(":x", "why not") }), "err: irc: invalid message: Part channel \":x\""},
		{"SetNick empty", live(func(c *Client) error { return c.SetNick("") }), "err: irc: invalid message: SetNick \"\""},
		{"SetNick spaced", live(func(c *Client) error { return c.SetNick("a b") }), "err: irc: invalid message: SetNick \"a b\""},
		{"SetNick huge", live(func(c *Client) error { return c.SetNick(strings.Repeat("n", 1000)) }), "err: irc: line too long: NICK is 1007 bytes"},
		{"Send zero Message", live(func(c *Client) error { return c.Send(Message{}) }), "err: irc: invalid message"},
		{"Quit twice", live(func(c *Client) error { c.Quit(""); return c.Quit("") }), "err: "},
		{"MaxText odd", live(func(c *Client) error {
			if n := c.MaxText(strings.Repeat("#", 1000)); n != 0 {
				return fmt.Errorf("MaxText of a huge target %d", n)
			}
			return nil
		}), "ok"},

		// Message and helpers.
		{"Parse nil", func() error { _, err := Parse(nil); return err }, "err: irc: malformed message: no command"},
		{"Parse spaces", func() error { _, err := Parse([]byte("   \r\n")); return err }, "err: irc: malformed message: no command"},
		{"Parse prefix only", func() error { _, err := Parse([]byte(":x")); return err }, "err: irc: malformed message: prefix without a command"},
		{"Parse huge", func() error { _, err := Parse(bytes.Repeat([]byte("x"), 1<<20)); return err }, "err: irc: line too long"},
		{"Param out of range", func() error {
			m := Message{Params: []string{"a"}}
			if m.Param(-1) != "" || m.Param(math.MaxInt) != "" {
				return errors.New("Param out of range not empty")
			}
			return nil
		}, "ok"},
		{"zero Message", func() error {
			var m Message
			if m.String() != "" || m.Nick() != "" {
				return errors.New("zero Message formats")
			}
			_, err := m.Append(nil)
			return err
		}, "err: irc: invalid message"},
		{"NickOf odd", func() error { NickOf(""); NickOf("!"); NickOf("!@"); return nil }, "ok"},
		{"EqualFold empty", func() error {
			if !EqualFold("", "") {
				return errors.New("empty names differ")
			}
			return nil
		}, "ok"},

		// Logger.
		{"NewLogger nil writer", func() error { return NewLogger(nil, nil).Log("x") }, "err: irc: log: Logger has no io.Writer"},
		{"zero Logger", func() error { var l Logger; l.Now(); return l.Log("x") }, "err: irc: log: Logger has no io.Writer"},
		{"Logger nil clock", func() error { return NewLogger(&buf, nil).Log("x") }, "ok"},

		// LogBot.
		{"empty LogBotConfig", logBot(LogBotConfig{}), "err: irc: invalid configuration: Config.Nick"},
		{"no Channel", logBot(LogBotConfig{Nick: "b", Log: &buf}), "err: irc: invalid configuration: LogBotConfig.Channel \"\""},
		{"Channel comma", logBot(LogBotConfig{Nick: "b", Channel: "#a,#b", Log: &buf}), "err: irc: invalid configuration: LogBotConfig.Channel \"#a,#b\""},
		{"Channel bare prefix", logBot(LogBotConfig{Nick: "b", Channel: "#", Log: &buf}), "err: irc: invalid configuration: LogBotConfig.Channel \"#\" has no name after its prefix"},
		{"Channel bare &", logBot(LogBotConfig{Nick: "b", Channel: "&", Log: &buf}), "err: irc: invalid configuration: LogBotConfig.Channel \"&\" has no name after its prefix"},
		{"Channel huge", logBot(LogBotConfig{Nick: "b", Channel: strings.Repeat("#", 1000), Log: &buf}), "err: irc: invalid configuration: LogBotConfig.Channel cannot be joined"},
		{"no log", logBot(LogBotConfig{Nick: "b", Channel: "#x"}), "err: irc: invalid configuration: LogBotConfig.LogPath is empty and Log is nil"},
		{"LogPath dir", logBot(LogBotConfig{Nick: "b", Channel: "#x", LogPath: dir}), "err: irc: log bot: open " + dir + ": is a directory"},
		{"LogPath missing dir", logBot(LogBotConfig{Nick: "b", Channel: "#x", LogPath: filepath.Join(dir, "no", "log")}), "err: irc: log bot: open " + filepath.Join(dir, "no", "log") + ": no such file or directory"},
		{"neg ReplyInterval", logBot(LogBotConfig{Nick: "b", Channel: "#x", Log: &buf, ReplyInterval: -1}), "err: irc: invalid configuration: LogBotConfig.ReplyInterval -1ns or MaxReplies 0 is negative"},
		{"neg MaxReplies", logBot(LogBotConfig{Nick: "b", Channel: "#x", Log: &buf, MaxReplies: -1}), "err: irc: invalid configuration: LogBotConfig.ReplyInterval 0s or MaxReplies -1 is negative"},
		{"neg RejoinDelay", logBot(LogBotConfig{Nick: "b", Channel: "#x", Log: &buf, RejoinDelay: -1}), "err: irc: invalid configuration: LogBotConfig.RejoinDelay -1ns or MaxRejoinDelay 0s is negative"},
		{"huge delays", logBot(LogBotConfig{Nick: "b", Channel: "#x", Log: &buf, RejoinDelay: math.MaxInt64, ReplyInterval: math.MaxInt64, MaxReplies: math.MaxInt}), "ok"},
		{"LogBot wrong order", func() error {
			p := filepath.Join(dir, "log")
			b, err := NewLogBot(LogBotConfig{Nick: "b", Channel: "#x", LogPath: p})
			if err != nil {
				return err
			}
			if b.Client() != nil {
				return errors.New("Client before a connection")
			}
			b.Quit("bye")
			if err := b.Close(); err != nil {
				return err
			}
			if err := b.Close(); !errors.Is(err, os.ErrClosed) {
				return fmt.Errorf("Close twice: %v", err)
			}
			if err := b.Reopen(); !errors.Is(err, os.ErrClosed) {
				return fmt.Errorf("Reopen after Close: %v", err)
			}
			return nil
		}, "ok"},
		{"zero LogBot", func() error {
			var b LogBot
			b.Client()
			b.Quit("x")
			if p := b.BuildProtocol(nil); p != nil {
				return fmt.Errorf("zero LogBot built %T", p)
			}
			b.Reopen()
			return b.Close()
		}, "ok"},
	}
	testenv.RunBadInput(t, cases)
}
