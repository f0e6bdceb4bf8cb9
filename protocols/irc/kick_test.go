package irc

import (
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestClientKick: a KICK of the client is Handler.Kicked, of another user
// Handler.UserKicked (Twisted's kickedFrom and userKicked); nicks compare
// under the rfc1459 case mapping; a KICK without its channel or nick is
// ignored. Before, KICK reached only MessageReceived.
func TestClientKick(t *testing.T) {
	rec := newRecorder()
	_, fs := registeringClient(t, Config{Nick: "me[1]"}, rec)
	fs.send(":s 001 me[1] :hi")
	rec.expect(t, "signedon me[1]")
	fs.send(":op!o@h KICK #c ME{1} :go away",
		":op!o@h KICK #c bob",
		":x!u@h KICK", ":x!u@h KICK #c",
		":op!o@h KICK #d me[1] :again")
	rec.expect(t, "kicked #c by op go away", "userkicked bob #c by op ", "kicked #d by op again")
}

// TestLogBotRejoinsAfterKick: a log bot kicked from its channel logs the
// kick and rejoins after DefaultRejoinDelay, not at once (a kick-ban loop
// must not become a JOIN flood); kicked again at once, or refused the JOIN
// (banned), it waits twice as long each time, up to DefaultMaxRejoinDelay,
// and keeps trying at that pace; once it has stayed in the channel for
// DefaultMaxRejoinDelay the wait starts again from DefaultRejoinDelay. A
// kick of another user (logged), or from another channel, changes nothing
// else. Before
// the fix a kicked bot stayed connected outside its channel and logged
// nothing until it reconnected.
func TestLogBotRejoinsAfterKick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log syncBuffer
		r, send, hangUpOnce := botPipe(t, LogBotConfig{Log: &log})
		hangUp := sync.OnceFunc(hangUpOnce)
		defer hangUp()
		ping := func(token string) { // nothing sent before the PONG
			t.Helper()
			send("PING :" + token)
			expectLine(t, r, "PONG "+token)
		}
		// rejoinAfter checks that the bot sends JOIN after d, not before.
		rejoinAfter := func(d time.Duration) {
			t.Helper()
			ping("now")
			time.Sleep(d - time.Millisecond)
			ping("early")
			time.Sleep(time.Millisecond)
			synctest.Wait() // a due rejoin is written before the PONG
			send("PING :due")
			expectLine(t, r, "JOIN #weft")
			expectLine(t, r, "PONG due")
		}

		time.Sleep(time.Minute)
		send(":op!o@h KICK #weft logbot :go away")
		rejoinAfter(DefaultRejoinDelay)
		send(":logbot!u@h JOIN #weft", ":op!o@h KICK #WEFT LOGBOT")
		rejoinAfter(2 * DefaultRejoinDelay)
		// Banned: the JOIN is refused, and tried again later and later.
		d := 4 * DefaultRejoinDelay
		for range 8 {
			send(":s 474 logbot #weft :Cannot join channel (+b)")
			rejoinAfter(min(d, DefaultMaxRejoinDelay))
			d *= 2
		}
		// Unbanned, the bot stays: after DefaultMaxRejoinDelay in the
		// channel a kick waits DefaultRejoinDelay again.
		send(":logbot!u@h JOIN #weft")
		time.Sleep(DefaultMaxRejoinDelay)
		send(":op!o@h KICK #weft logbot :once more")
		rejoinAfter(DefaultRejoinDelay)
		send(":logbot!u@h JOIN #weft", ":op!o@h KICK #weft alice :bye", ":op!o@h KICK #other logbot :bye")
		time.Sleep(2 * DefaultMaxRejoinDelay)
		ping("end")
		// Kicked, then disconnected before the rejoin: the pending rejoin
		// is dropped with the connection.
		send(":op!o@h KICK #weft logbot")
		ping("last")
		hangUp()
		time.Sleep(DefaultMaxRejoinDelay)

		want := []string{
			"[12:34:56] [connected at Wed Nov 25 12:34:56 2026]",
			"[12:34:56] [I have joined #weft]",
			"[12:34:56] [I was kicked from #weft by op (go away); rejoining in 5s]",
			"[12:34:56] [I have joined #weft]",
			"[12:34:56] [I was kicked from #WEFT by op; rejoining in 10s]",
			"[12:34:56] [cannot join #weft (474 Cannot join channel (+b)); retrying in 20s]",
			"[12:34:56] [cannot join #weft (474 Cannot join channel (+b)); retrying in 40s]",
			"[12:34:56] [cannot join #weft (474 Cannot join channel (+b)); retrying in 1m20s]",
			"[12:34:56] [cannot join #weft (474 Cannot join channel (+b)); retrying in 2m40s]",
			"[12:34:56] [cannot join #weft (474 Cannot join channel (+b)); retrying in 5m0s]",
			"[12:34:56] [I have joined #weft]",
			"[12:34:56] [I was kicked from #weft by op (once more); rejoining in 5s]",
			"[12:34:56] [I have joined #weft]",
			"[12:34:56] [alice was kicked from #weft by op (bye)]", // logged, no rejoin
			"[12:34:56] [I was kicked from #weft by op; rejoining in 5s]",
			"[12:34:56] [disconnected at Wed Nov 25 12:34:56 2026]",
		}
		if got := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestLogBotRejoinHugeDelays: waits near the largest Duration do not
// overflow into a negative (immediate) wait.
func TestLogBotRejoinHugeDelays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log syncBuffer
		longest := time.Duration(1<<63 - 1)
		r, send, hangUp := botPipe(t, LogBotConfig{Log: &log, RejoinDelay: longest/2 + time.Second, MaxRejoinDelay: longest})
		defer hangUp()
		send(":op!o@h KICK #weft logbot", ":s 474 logbot #weft :banned", ":s 474 logbot #weft :banned", "PING :x")
		expectLine(t, r, "PONG x") // no JOIN at once
		lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
		if got := lines[len(lines)-1]; !strings.HasSuffix(got, "; retrying in "+longest.String()+"]") {
			t.Errorf("last log line %q, want a wait of %v", got, longest)
		}
	})
}

// TestLogBotLogsUserKick: a kick of another user from the bot's channel is
// logged, "[ann was kicked from #weft by bob (reason)]" (no parentheses
// without a reason), in the form of the bot's own kick line and escaped
// like every line of the log (C0 and C1 controls, invalid UTF-8, bidi
// controls); a kick from another channel is not the channel's log. Before
// the fix the bot logged its own kicks (Handler.Kicked) but not the kicks
// of others (Handler.UserKicked).
func TestLogBotLogsUserKick(t *testing.T) {
	log, fs := joiningLogBot(t, "#weft")
	fs.send(":logbot!u@h JOIN #weft",
		":bob!b@h KICK #weft ann :spamming",
		":bob!b@h KICK #WEFT carl",
		":bob!b@h KICK #weft dan :",
		":bob!b@h KICK #other eve :elsewhere",
		":b\x1b[8mob!b@h KICK #weft ev\u0085il :\x1b]0;x\x07 \u202egnp.exe \xff(x)",
		"PING :sync")
	fs.expect("PONG sync") // no JOIN: another user's kick is not the bot's
	if err := fs.hangUp(); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"[12:34:56] [connected at Wed Nov 25 12:34:56 2026]",
		"[12:34:56] [I have joined #weft]",
		"[12:34:56] [ann was kicked from #weft by bob (spamming)]",
		"[12:34:56] [carl was kicked from #WEFT by bob]",
		"[12:34:56] [dan was kicked from #weft by bob]",
		`[12:34:56] [ev\u0085il was kicked from #weft by b\x1b[8mob (\x1b]0;x\x07 \u202egnp.exe \xff(x))]`,
		"[12:34:56] [disconnected at Wed Nov 25 12:34:56 2026]",
	}, "\n") + "\n"
	got := log.String()
	if got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	checkLogSafe(t, got)
}

// TestLogBotLogsOwnPart: a PART of the bot from its channel that the bot
// did not ask for (a channel operator's REMOVE on solanum or ircd-seven, an
// oper's SAPART, both of which the server sends as the bot's own PART) is
// logged, "[I have left #weft]", like its joins: the log shows where it
// stops covering the channel. Before the fix the bot left without a line,
// and the log could not tell a quiet channel from a bot outside it.
func TestLogBotLogsOwnPart(t *testing.T) {
	log, fs := joiningLogBot(t, "#weft")
	fs.send(":logbot!u@h JOIN #weft",
		":logbot!u@h PART #weft :requested by op (go away)",
		":ann!a@h PART #weft :bye", // another user's part: not logged, as in Twisted's bot
		"PING :sync")
	fs.expect("PONG sync")
	if err := fs.hangUp(); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"[12:34:56] [connected at Wed Nov 25 12:34:56 2026]",
		"[12:34:56] [I have joined #weft]",
		"[12:34:56] [I have left #weft]",
		"[12:34:56] [disconnected at Wed Nov 25 12:34:56 2026]",
	}, "\n") + "\n"
	if got := log.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}
