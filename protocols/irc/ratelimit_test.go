package irc

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// botPipe runs a log bot connection over a net.Pipe in the caller's synctest
// bubble, registers it and returns the server side's reader and writer.
func botPipe(t *testing.T, cfg LogBotConfig) (r *bufio.Reader, send func(lines ...string), hangUp func()) {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = &syncBuffer{}
	}
	r, send, hangUp = refusedBot(t, cfg)
	send(":logbot!u@h JOIN #weft")
	return r, send, hangUp
}

func expectLine(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading (want %q): %v", want, err)
	}
	if got := strings.TrimSuffix(line, "\r\n"); got != want {
		t.Fatalf("bot sent %q, want %q", got, want)
	}
}

// countNotices reads the bot's lines up to "PONG sync" (the server sends
// "PING :sync" after its flood) and counts the NOTICEs.
func countNotices(t *testing.T, r *bufio.Reader) (n int) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		switch line = strings.TrimSuffix(line, "\r\n"); {
		case line == "PONG sync":
			return n
		case strings.HasPrefix(line, "NOTICE "):
			n++
		default:
			t.Fatalf("bot sent %q", line)
		}
	}
}

// TestLogBotReplyRateLimit: the log bot's automatic replies (the whisper
// answer, the "I am a log bot" answer) are rate limited: one per sender per
// ReplyInterval, and at most MaxReplies in all per ReplyInterval; the excess
// is dropped. Before the fix every whisper got its NOTICE: a flood of 100
// whispers made the bot send 100 NOTICEs, enough for a server to kill it for
// flooding.
func TestLogBotReplyRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, send, hangUp := botPipe(t, LogBotConfig{})
		defer hangUp()
		flood := func(lines ...string) int {
			t.Helper()
			go func() { send(append(lines, "PING :sync")...) }()
			return countNotices(t, r)
		}
		var one []string
		for range 100 {
			one = append(one, ":alice!a@h PRIVMSG logbot :psst")
		}
		if n := flood(one...); n != 1 {
			t.Fatalf("100 whispers from one sender got %d replies, want 1", n)
		}
		// The same sender as "ALICE" (rfc1459 case mapping) is the same.
		if n := flood(":ALICE!a@h PRIVMSG logbot :psst"); n != 0 {
			t.Fatalf("a whisper from ALICE right after alice's got %d replies, want 0", n)
		}
		// Answering in the channel is limited apart from whispers.
		if n := flood(":alice!a@h PRIVMSG #weft :logbot: hi", ":alice!a@h PRIVMSG #weft :logbot: hi"); n != 1 {
			t.Fatalf("two channel questions from alice got %d replies, want 1", n)
		}
		// Many senders: the global cap (alice's two replies count).
		var many []string
		for i := range 100 {
			many = append(many, fmt.Sprintf(":u%d!u@h PRIVMSG logbot :psst", i))
		}
		if n := flood(many...); n != DefaultMaxReplies-2 {
			t.Fatalf("100 whispers from 100 senders got %d replies, want %d (DefaultMaxReplies less alice's 2)", n, DefaultMaxReplies-2)
		}
		// After ReplyInterval, replies are allowed again.
		time.Sleep(DefaultReplyInterval)
		if n := flood(":alice!a@h PRIVMSG logbot :psst", ":alice!a@h PRIVMSG logbot :psst"); n != 1 {
			t.Fatalf("after %v, two whispers from alice got %d replies, want 1", DefaultReplyInterval, n)
		}
		if n := flood(many...); n != DefaultMaxReplies-1 {
			t.Fatalf("after %v, 100 senders got %d replies, want %d", DefaultReplyInterval, n, DefaultMaxReplies-1)
		}
	})
}

// TestLogBotReplyRateLimitSet: ReplyInterval and MaxReplies set.
func TestLogBotReplyRateLimitSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, send, hangUp := botPipe(t, LogBotConfig{ReplyInterval: 5 * time.Second, MaxReplies: 2})
		defer hangUp()
		for round := range 3 {
			go send(":a!a@h PRIVMSG logbot :x", ":a!a@h PRIVMSG logbot :x", ":b!b@h PRIVMSG logbot :x", ":c!c@h PRIVMSG logbot :x", "PING :sync")
			if n := countNotices(t, r); n != 2 {
				t.Fatalf("round %d: %d replies, want 2", round, n)
			}
			time.Sleep(5 * time.Second)
		}
	})
}
