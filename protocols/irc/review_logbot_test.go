package irc

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// refusedBot runs a log bot (nick logbot, channel #weft, the fixed clock,
// log and OnError from cfg) over a net.Pipe up to its first JOIN, which it
// leaves unanswered.
func refusedBot(t *testing.T, cfg LogBotConfig) (r *bufio.Reader, send func(lines ...string), hangUp func()) {
	t.Helper()
	cfg.Nick, cfg.Channel, cfg.Now = "logbot", "#weft", fixedClock()
	bot, err := NewLogBot(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, send, hangUp = pipeServe(t, bot.BuildProtocol(nil))
	expectLine(t, r, "NICK logbot")
	expectLine(t, r, "USER logbot 0 * logbot")
	send(":s 001 logbot :hi")
	expectLine(t, r, "JOIN #weft")
	return r, send, hangUp
}

// TestLogBotJoinRefusedForGood: a JOIN refused with a numeric that no wait
// changes (no such channel 403, bad channel mask 476, illegal channel name
// 479: the name is one the server lets no one join) is logged, "[cannot
// join #weft (403 No such channel); not retrying]", reported to OnError
// (ErrBadChannel, the server's text escaped), and not tried again on this
// connection: retrying it every 5 min forever would only fill the server's
// logs. A refusal repeated is logged and reported once, until the bot has
// been in the channel again. Before the fix the bot logged nothing and told no one: it sat
// connected outside its channel, logging nothing, with no sign why.
func TestLogBotJoinRefusedForGood(t *testing.T) {
	for _, tc := range []struct{ numeric, text, logged string }{
		{"403", "No such channel", "No such channel"},
		{"476", "Bad Channel Mask", "Bad Channel Mask"},
		{"479", "Illegal channel name\x1b[2J", `Illegal channel name\x1b[2J`},
	} {
		t.Run(tc.numeric, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var log syncBuffer
				var errs []error
				r, send, hangUpOnce := refusedBot(t, LogBotConfig{Log: &log, OnError: func(err error) { errs = append(errs, err) }})
				hangUp := sync.OnceFunc(hangUpOnce)
				defer hangUp()
				// Said twice (a server that repeats itself): logged and
				// reported once.
				send(":s "+tc.numeric+" logbot #WEFT :"+tc.text, ":s "+tc.numeric+" logbot #weft :"+tc.text)
				send("PING :now")
				expectLine(t, r, "PONG now")
				time.Sleep(2 * DefaultMaxRejoinDelay)
				send("PING :later")
				expectLine(t, r, "PONG later") // no JOIN before it
				// Put in the channel by an operator (SAJOIN), kicked
				// and refused again: a new refusal, said again.
				send(":logbot!u@h JOIN #weft", ":op!o@h KICK #weft logbot")
				time.Sleep(DefaultRejoinDelay)
				synctest.Wait() // the rejoin, due now, is written before the PONG
				send("PING :rejoin")
				expectLine(t, r, "JOIN #weft")
				expectLine(t, r, "PONG rejoin")
				send(":s "+tc.numeric+" logbot #weft :"+tc.text, "PING :end")
				expectLine(t, r, "PONG end")
				hangUp()
				want := strings.Join([]string{
					"[12:34:56] [connected at Wed Nov 25 12:34:56 2026]",
					"[12:34:56] [cannot join #WEFT (" + tc.numeric + " " + tc.logged + "); not retrying]",
					"[12:34:56] [I have joined #weft]",
					"[12:34:56] [I was kicked from #weft by op; rejoining in 5s]",
					"[12:34:56] [cannot join #weft (" + tc.numeric + " " + tc.logged + "); not retrying]",
					"[12:34:56] [disconnected at Wed Nov 25 12:34:56 2026]",
				}, "\n") + "\n"
				if got := log.String(); got != want {
					t.Errorf("log:\n%s\nwant:\n%s", got, want)
				}
				wantErr := "irc: channel cannot be joined: #WEFT refused (" + tc.numeric + " " + printable(tc.text) + ")"
				if len(errs) != 2 || !errors.Is(errs[0], ErrBadChannel) || errs[0].Error() != wantErr || !errors.Is(errs[1], ErrBadChannel) {
					t.Errorf("OnError got %v, want %s, then again for #weft", errs, wantErr)
				}
			})
		})
	}
}

// TestLogBotJoinRefusedSecureOnly: a JOIN refused because the channel
// admits TLS users only (489, ERR_SECUREONLYCHAN, mode +S or +z) is logged
// and tried again after the wait, as a ban is: a channel operator may lift
// the mode, as they may a ban or +i. It is not reported to OnError (the log
// says it). Before the fix it was neither logged nor retried.
func TestLogBotJoinRefusedSecureOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log syncBuffer
		var errs []error
		r, send, hangUp := refusedBot(t, LogBotConfig{Log: &log, OnError: func(err error) { errs = append(errs, err) }})
		defer hangUp()
		send(":s 489 logbot #weft :Cannot join channel; SSL users only (+S)", "PING :now")
		expectLine(t, r, "PONG now")
		time.Sleep(DefaultRejoinDelay - time.Millisecond)
		send("PING :early")
		expectLine(t, r, "PONG early")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		send("PING :due")
		expectLine(t, r, "JOIN #weft")
		expectLine(t, r, "PONG due")
		if want := "[12:34:56] [cannot join #weft (489 Cannot join channel; SSL users only (+S)); retrying in 5s]\n"; !strings.HasSuffix(log.String(), want) {
			t.Errorf("log:\n%s\nwant it to end with:\n%s", log.String(), want)
		}
		if len(errs) != 0 {
			t.Errorf("OnError(%v)", errs)
		}
	})
}

// TestLogBotLogFileMode: the log file holds the private messages sent to
// the bot, so NewLogBot creates it readable by its owner only (0600, less
// with a stricter umask); a file that exists keeps its mode (the operator
// chose it) and is appended to. Before the fix it was created 0644, readable
// by every user of the machine.
func TestLogBotLogFileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new.log")
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", LogPath: path})
	if err != nil {
		t.Fatal(err)
	}
	bot.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 || perm&0o600 != 0o600 {
		t.Errorf("new log file created with mode %v, want -rw------- (no access for group and others)", perm)
	}

	old := filepath.Join(dir, "old.log")
	if err := os.WriteFile(old, []byte("kept\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o640); err != nil {
		t.Fatal(err)
	}
	bot, err = NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", LogPath: old, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bot.log.Log("more"); err != nil {
		t.Fatal(err)
	}
	bot.Close()
	if fi, err := os.Stat(old); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("existing log file: %v, %v; want its mode -rw-r----- kept", fi.Mode(), err)
	}
	if data, err := os.ReadFile(old); err != nil || string(data) != "kept\n[12:34:56] more\n" {
		t.Errorf("existing log file holds %q, %v; want it appended to", data, err)
	}
}

// TestClientCTCPWithText: a PRIVMSG or NOTICE that starts with a CTCP
// message may hold text outside the \x01 delimiters too; as Twisted's
// IRCClient (irc_PRIVMSG with ctcpExtract), that text is a Privmsg (or
// Noticed) of its own, its parts joined with a space and kept as they are
// (leading space included), after the ACTION, of which only a message's
// first is dispatched (Twisted's ctcpQuery ignores a tag repeated in one
// message). The expectations are the output of Debian's python3-twisted
// 22.4 for the same lines. Before the fix the text was dropped: the log bot
// logged nothing for "\x01VERSION\x01 hello".
func TestClientCTCPWithText(t *testing.T) {
	rec := newRecorder()
	_, fs := registeringClient(t, Config{Nick: "me"}, rec)
	fs.send(":s 001 me :hi")
	rec.expect(t, "signedon me")
	fs.send(":a!u@h PRIVMSG #c :\x01X\x01 text",
		":a!u@h PRIVMSG #c :\x01ACTION waves\x01 and says hi",
		":a!u@h PRIVMSG #c :hi \x01ACTION x\x01",
		":a!u@h PRIVMSG #c :\x01ACTION a\x01 b \x01ACTION c\x01 d",
		":a!u@h PRIVMSG #c :\x01ACTION waves\x01",
		":a!u@h PRIVMSG #c :\x01\x01",
		":a!u@h PRIVMSG #c :\x01\x01 x",
		":a!u@h PRIVMSG #c :\x01ACTION waves",
		":a!u@h PRIVMSG #c :\x01X\x01\x01Y\x01",
		":a!u@h PRIVMSG #c :\x01X\x01 \x01Y\x01 ",
		":a!u@h NOTICE #c :\x01VERSION x\x01 text",
		":a!u@h NOTICE #c :\x01VERSION x\x01",
		":a!u@h PRIVMSG #c :end")
	rec.expect(t,
		"privmsg a #c  text",
		"action a #c waves", "privmsg a #c  and says hi",
		"privmsg a #c hi \x01ACTION x\x01",
		"action a #c a", "privmsg a #c  b   d",
		"action a #c waves",
		"privmsg a #c  x",
		"action a #c waves",
		"privmsg a #c    ",
		"notice a #c  text",
		"privmsg a #c end")
}

// TestLogBotLogsTextAfterCTCP: the log bot logs the text of a message that
// starts with a CTCP, as Twisted's ircLogBot does ("<alice>  hello", the
// space before the text kept), and the ACTION of one that holds both,
// before its text.
func TestLogBotLogsTextAfterCTCP(t *testing.T) {
	log, fs := joiningLogBot(t, "#weft")
	fs.send(":logbot!u@h JOIN #weft",
		":alice!a@h PRIVMSG #weft :\x01VERSION\x01 hello",
		":alice!a@h PRIVMSG #weft :\x01ACTION waves\x01 at \x1b[2Jyou",
		"PING :sync")
	fs.expect("PONG sync")
	if err := fs.hangUp(); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"[12:34:56] [connected at Wed Nov 25 12:34:56 2026]",
		"[12:34:56] [I have joined #weft]",
		"[12:34:56] <alice>  hello",
		"[12:34:56] * alice waves",
		`[12:34:56] <alice>  at \x1b[2Jyou`,
		"[12:34:56] [disconnected at Wed Nov 25 12:34:56 2026]",
	}, "\n") + "\n"
	if got := log.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

// TestLogBotBadChannelNgircd: a real ngircd refuses a channel name over its
// length limit with 403 (ERR_NOSUCHCHANNEL): the bot logs it, reports it to
// OnError (before the fix it logged nothing and reported nothing). That it
// does not retry is TestLogBotJoinRefusedForGood's.
func TestLogBotBadChannelNgircd(t *testing.T) {
	srv := newNgircd(t)
	srv.start()
	path := filepath.Join(t.TempDir(), "weft.log")
	errs := make(chan error, 10)
	channel := "#" + strings.Repeat("x", 60)
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: channel, LogPath: path,
		RejoinDelay: 100 * time.Millisecond, MaxRejoinDelay: 200 * time.Millisecond,
		OnError: func(err error) { errs <- err }})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()
	stop := runBot(t, bot, srv.addr, 100*time.Millisecond)
	select {
	case err := <-errs:
		if !errors.Is(err, ErrBadChannel) {
			t.Errorf("OnError(%v), want ErrBadChannel", err)
		}
		t.Logf("OnError: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatalf("no error reported; log: %q", readLog(t, path))
	}
	if err := stop(); err != context.Canceled {
		t.Errorf("Reconnecting.Run = %v", err)
	}
	want := []string{
		"[connected at <date>]",
		"[cannot join " + channel + " (403 No such channel); not retrying]",
		"[disconnected at <date>]",
	}
	got := waitLog(t, path, len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	select {
	case err := <-errs:
		t.Errorf("OnError(%v) again", err)
	default:
	}
}
