package irc

import (
	"strings"
	"testing"
	"time"
)

// TestClientCaseMapping: the client compares nicks under the case mapping
// the server announces (ISUPPORT CASEMAPPING in 005). On a server with
// CASEMAPPING=ascii (ngircd, UnrealIRCd, Ergo) "weft|log" and "weft\log"
// are two users, and the second one's JOIN, KICK and NICK are not the
// client's own. Before the fix the client always folded under rfc1459,
// where '|' is the lower case of '\': a user named "weft\log" could make
// the client take his NICK as its own (Nick() then returned his new nick),
// his KICK as its own, and his JOIN as its own. strict-rfc1459 folds "[]\"
// but not '~'; without CASEMAPPING (or after "-CASEMAPPING") rfc1459 holds.
func TestClientCaseMapping(t *testing.T) {
	rec := newRecorder()
	c, fs := registeringClient(t, Config{Nick: "weft|log"}, rec)
	fs.send(":s 001 weft|log :hi",
		":s 005 weft|log RFC2812 IRCD=ngIRCd CHARSET=UTF-8 CASEMAPPING=ascii PREFIX=(qaohv)~&@%+ :are supported on this server")
	rec.expect(t, "signedon weft|log")
	fs.send(`:weft\log!u@h JOIN #c`, `:op!o@h KICK #c weft\log :bye`, `:weft\log!u@h NICK :x`,
		":WEFT|LOG!u@h JOIN #c") // letters still fold
	rec.expect(t, `userjoined weft\log #c`, `userkicked weft\log #c by op bye`, `nick weft\log x me=weft|log`, "joined #c")
	if got := c.Nick(); got != "weft|log" {
		t.Fatalf("Nick() = %q after another user's NICK, want weft|log", got)
	}

	fs.send(":s 005 weft|log CASEMAPPING=strict-rfc1459 :are supported", `:WEFT\LOG!u@h PART #c`)
	rec.expect(t, "left #c")
	fs.send(":s 005 weft|log -CASEMAPPING :are supported", `:weft\log!u@h PART #c`)
	rec.expect(t, "left #c")
}

// TestClientCaseMappingStrict: under strict-rfc1459 '^' and '~' are two
// characters; under rfc1459 (the default) they are one.
func TestClientCaseMappingStrict(t *testing.T) {
	rec := newRecorder()
	_, fs := registeringClient(t, Config{Nick: "bot^"}, rec)
	fs.send(":s 001 bot^ :hi", ":s 005 bot^ CASEMAPPING=strict-rfc1459 :are supported")
	rec.expect(t, "signedon bot^")
	fs.send(":bot~!u@h JOIN #c", ":BOT^!u@h JOIN #c")
	rec.expect(t, "userjoined bot~ #c", "joined #c")
}

// TestLogBotCaseMappingImpostor: on a CASEMAPPING=ascii server, a user whose
// nick equals the bot's only under rfc1459 ("log\bot" for "log|bot") cannot
// pass for the bot: his JOIN and KICK are logged as his, and his NICK does
// not change the bot's idea of its own nick, so the bot, kicked for real,
// still rejoins. Before the fix the log showed "[I have joined #weft]" and
// "[I was kicked ...]" for the impostor, and after his NICK the bot took the
// real kick for someone else's and stayed out of its channel.
func TestLogBotCaseMappingImpostor(t *testing.T) {
	log := &syncBuffer{}
	bot, err := NewLogBot(LogBotConfig{Nick: "log|bot", Channel: "#weft", Log: log, Now: fixedClock(),
		RejoinDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fs := startFake(t, bot.BuildProtocol(nil))
	fs.expect("NICK log|bot")
	fs.expect("USER log|bot 0 * log|bot")
	fs.send(":s 001 log|bot :hi", ":s 005 log|bot CASEMAPPING=ascii :are supported on this server")
	fs.expect("JOIN #weft")
	fs.send(":log|bot!u@h JOIN #weft",
		`:log\bot!u@h JOIN #weft`,
		`:op!o@h KICK #weft log\bot :impostor`,
		`:log\bot!u@h NICK :x`,
		":op!o@h KICK #weft log|bot :for real")
	fs.expect("JOIN #weft")
	if err := fs.hangUp(); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"[12:34:56] [connected at Wed Nov 25 12:34:56 2026]",
		"[12:34:56] [I have joined #weft]",
		`[12:34:56] [log\\bot was kicked from #weft by op (impostor)]`,
		`[12:34:56] log\\bot is now known as x`,
		"[12:34:56] [I was kicked from #weft by op (for real); rejoining in 1ms]",
		"[12:34:56] [disconnected at Wed Nov 25 12:34:56 2026]",
	}, "\n") + "\n"
	if got := log.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}
