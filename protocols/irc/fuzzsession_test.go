package irc

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/weftkit/weft/internal/testenv"
)

// recTransport is a LateTransport that keeps what is written.
type recTransport struct {
	testenv.LateTransport
	mu  sync.Mutex
	out bytes.Buffer
}

func (r *recTransport) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.out.Write(p)
	r.mu.Unlock()
	return r.LateTransport.Write(p)
}

func (r *recTransport) WriteBuffers(bufs ...[]byte) error {
	for _, b := range bufs {
		if _, err := r.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// FuzzBotSession feeds arbitrary server bytes to a log bot connection: it
// must not panic; every line it sends must be a valid IRC line of at most
// MaxLineLength bytes (no injected CR/LF); the log holds one "[HH:MM:SS] "
// line per event, holding no terminal control (no ESC or other C0 control
// but IRC's formatting codes, no DEL, no C1 control, no invalid UTF-8:
// checkLogSafe); and it sends at most one line per line received, plus the
// registration, but for its automatic answers (NOTICEs: whispers, CTCP
// answers, several to one message with several CTCP queries), which are at
// most DefaultMaxReplies in all (no amplification).
func FuzzBotSession(f *testing.F) {
	for _, s := range []string{
		":s 001 logbot :hi\r\n:logbot!u@h JOIN #weft\r\n:a!u@h PRIVMSG #weft :logbot: hi\r\n",
		":s 433 * logbot :x\r\n:s 433 * logbot^ :x\r\nPING :t\r\n",
		":s 001\r\n:logbot!u@h NICK\r\n:x PRIVMSG logbot :\x01VERSION\x01\r\n",
		":a!u@h PRIVMSG logbot :psst\nPING a b c\r\n:a!u@h PRIVMSG #weft :\x01ACTION x\x01\r\n",
		":e\x1b[8m!u@h PRIVMSG #weft :\x1b]0;x\x07\u009b2J\xff\x02b\r\n:e!u@h NICK :\x85\r\n",
		"PING " + strings.Repeat("a ", 20) + "\r\n",
		":a!u@h PRIVMSG logbot :\x01PING 1\x01\x01TIME\x01\x01CLIENTINFO x\x01\r\n:b!u@h PRIVMSG #weft :\x01PING \\a\x01\x01ERRMSG\x01\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var log bytes.Buffer
		bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", Log: &log, Now: fixedClock(), OnError: func(error) {}})
		if err != nil {
			t.Fatal(err)
		}
		p := bot.BuildProtocol(nil)
		tr := &recTransport{}
		p.ConnectionMade(tr)
		tr.RunPosted()
		p.DataReceived(data)
		tr.RunPosted()
		p.ConnectionLost(nil)
		tr.RunPosted()

		out := tr.out.String()
		if out != "" && !strings.HasSuffix(out, "\r\n") {
			t.Fatalf("output does not end in CRLF: %q", out)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
		notices := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "NOTICE ") {
				notices++
			}
			if len(l)+2 > MaxLineLength {
				t.Fatalf("sent a %d-byte line: %q", len(l)+2, l)
			}
			if _, err := Parse([]byte(l)); err != nil {
				t.Fatalf("sent %q: %v", l, err)
			}
		}
		if in := bytes.Count(data, []byte("\n")) + 1; len(lines)-notices > in+2 {
			t.Fatalf("sent %d lines, NOTICEs apart, for at most %d received", len(lines)-notices, in)
		}
		if notices > DefaultMaxReplies {
			t.Fatalf("sent %d NOTICEs, more than DefaultMaxReplies (%d)", notices, DefaultMaxReplies)
		}
		checkLogSafe(t, log.String())
		for _, l := range strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n") {
			if !strings.HasPrefix(l, "[12:34:56] ") || strings.Contains(l, "\r") {
				t.Fatalf("log line %q", l)
			}
		}
	})
}
