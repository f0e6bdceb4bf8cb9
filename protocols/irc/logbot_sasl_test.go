package irc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// botSASLPass is the password of the log bot SASL tests: it must appear in
// no log line and no reported error.
const botSASLPass = "hunter2-bot-secret"

// errList collects the errors the bot reports to OnError.
type errList struct {
	mu   sync.Mutex
	errs []error
}

func (l *errList) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *errList) get() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// saslLogBot runs a log bot with sasl against a fake server up to its USER
// line; it returns the bot's log and its OnError errors.
func saslLogBot(t *testing.T, sasl *SASLConfig) (*syncBuffer, *errList, *fakeServer) {
	t.Helper()
	log, errs := &syncBuffer{}, &errList{}
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", Log: log, Now: fixedClock(),
		SASL: sasl, OnError: errs.add})
	if err != nil {
		t.Fatal(err)
	}
	fs := startFake(t, bot.BuildProtocol(nil))
	fs.expect("CAP LS 302")
	fs.expect("NICK logbot")
	fs.expect("USER logbot 0 * logbot")
	return log, errs, fs
}

// TestLogBotSASLSuccess: with LogBotConfig.SASL the bot authenticates
// before CAP END (AUTHENTICATE PLAIN, then the credentials on "+", CAP END
// only after 903), then registers and joins; the log says which account it
// logged in as, without the password, and OnError hears nothing.
func TestLogBotSASLSuccess(t *testing.T) {
	log, errs, fs := saslLogBot(t, &SASLConfig{User: "acct", Password: botSASLPass, Required: true})
	fs.send(":s CAP * LS :multi-prefix sasl=PLAIN")
	fs.expect("CAP REQ sasl")
	fs.send(":s CAP * ACK sasl")
	fs.expect("AUTHENTICATE PLAIN")
	fs.pingPong() // no CAP END before the authentication
	fs.send("AUTHENTICATE +")
	fs.expect("AUTHENTICATE " + plain("", "acct", botSASLPass))
	fs.pingPong()
	fs.send(":s 900 logbot logbot!u@h botacct :You are now logged in as botacct", ":s 903 logbot :SASL authentication successful")
	fs.expect("CAP END")
	fs.send(":s 001 logbot :hi")
	fs.expect("JOIN #weft")
	if err := fs.hangUp(); err != nil {
		t.Fatal(err)
	}
	want := "[12:34:56] [connected at Wed Nov 25 12:34:56 2026]\n" +
		"[12:34:56] [SASL: logged in as botacct]\n" +
		"[12:34:56] [disconnected at Wed Nov 25 12:34:56 2026]\n"
	if got := log.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	if e := errs.get(); len(e) != 0 {
		t.Errorf("OnError told %v, want nothing", e)
	}
}

// TestLogBotSASLFailure: a refused authentication (904) with Required ends
// the bot's connection with ErrSASLFailed, no CAP END sent; without
// Required the bot sends CAP END and registers unauthenticated. Either way
// the log says so with the server's numeric and text, OnError is told
// ErrSASLFailed, and the password is in neither.
func TestLogBotSASLFailure(t *testing.T) {
	for _, required := range []bool{true, false} {
		log, errs, fs := saslLogBot(t, &SASLConfig{User: "acct", Password: botSASLPass, Required: required})
		fs.send(":s CAP * LS :sasl")
		fs.expect("CAP REQ sasl")
		fs.send(":s CAP * ACK sasl")
		fs.expect("AUTHENTICATE PLAIN")
		fs.send("AUTHENTICATE +")
		fs.expect("AUTHENTICATE " + plain("", "acct", botSASLPass))
		fs.send(":s 904 logbot :SASL authentication failed")
		then := "disconnecting"
		if required {
			err := fs.closedWith(ErrSASLFailed)
			if strings.Contains(err.Error(), botSASLPass) {
				t.Errorf("connection error %q holds the password", err)
			}
		} else {
			then = "continuing unauthenticated"
			fs.expect("CAP END")
			fs.send(":s 001 logbot :hi")
			fs.expect("JOIN #weft")
			if err := fs.hangUp(); err != nil {
				t.Fatal(err)
			}
		}
		want := "[12:34:56] [connected at Wed Nov 25 12:34:56 2026]\n" +
			"[12:34:56] [SASL failed (irc: SASL authentication failed: 904 SASL authentication failed); " + then + "]\n" +
			"[12:34:56] [disconnected at Wed Nov 25 12:34:56 2026]\n"
		if got := log.String(); got != want {
			t.Errorf("required=%v: log:\n%s\nwant:\n%s", required, got, want)
		}
		e := errs.get()
		if len(e) != 1 || !errors.Is(e[0], ErrSASLFailed) || !strings.Contains(e[0].Error(), "904") {
			t.Errorf("required=%v: OnError told %v, want one ErrSASLFailed with the 904", required, e)
		}
		for _, err := range e {
			if strings.Contains(err.Error(), botSASLPass) {
				t.Errorf("required=%v: OnError(%q) holds the password", required, err)
			}
		}
	}
}

// TestLogBotSASLConfig: LogBotConfig.SASL is validated as Config.SASL (an
// empty user or password, a NUL byte: ErrConfig, the password not echoed),
// and the bot keeps its own copy: a change the caller makes after NewLogBot
// does not reach its connections.
func TestLogBotSASLConfig(t *testing.T) {
	for _, s := range []SASLConfig{
		{User: "acct"},
		{Password: botSASLPass},
		{User: "acct", Password: botSASLPass + "\x00"},
	} {
		_, err := NewLogBot(LogBotConfig{Nick: "b", Channel: "#c", Log: &syncBuffer{}, SASL: &s})
		if !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), botSASLPass) {
			t.Errorf("SASL user %q: NewLogBot = %v, want ErrConfig without the password", s.User, err)
		}
	}
	s := &SASLConfig{User: "acct", Password: botSASLPass}
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#c", Log: &syncBuffer{}, SASL: s})
	if err != nil {
		t.Fatal(err)
	}
	s.Password = "changed"
	fs := startFake(t, bot.BuildProtocol(nil))
	fs.expect("CAP LS 302")
	fs.expect("NICK logbot")
	fs.expect("USER logbot 0 * logbot")
	fs.send(":s CAP * LS :sasl", ":s CAP * ACK sasl")
	fs.expect("CAP REQ sasl")
	fs.expect("AUTHENTICATE PLAIN")
	fs.send("AUTHENTICATE +")
	fs.expect("AUTHENTICATE " + plain("", "acct", botSASLPass))
}

// TestLogBotSASLNotOfferedNgircd: ngircd offers CAP with multi-prefix only,
// no sasl: a bot with SASL not Required logs that SASL was unavailable and
// registers and joins unauthenticated on a real server.
func TestLogBotSASLNotOfferedNgircd(t *testing.T) {
	srv := newNgircd(t)
	srv.start()
	path := filepath.Join(t.TempDir(), "weft.log")
	errs := &errList{}
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", LogPath: path,
		SASL: &SASLConfig{User: "acct", Password: botSASLPass}, OnError: errs.add})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()
	stop := runBot(t, bot, srv.addr, 100*time.Millisecond)
	got := waitLog(t, path, 3) // connected, SASL, joined
	if err := stop(); err != context.Canceled {
		t.Errorf("Reconnecting.Run = %v", err)
	}
	if len(got) < 3 || !strings.HasPrefix(got[1], "[SASL failed (irc: SASL PLAIN not available") ||
		!strings.HasSuffix(got[1], "; continuing unauthenticated]") || got[2] != "[I have joined #weft]" {
		t.Errorf("log %q: want connected, SASL unavailable and continuing, joined", got)
	}
	if e := errs.get(); len(e) != 1 || !errors.Is(e[0], ErrSASLUnavailable) {
		t.Errorf("OnError told %v, want one ErrSASLUnavailable", e)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), botSASLPass) {
		t.Errorf("log holds the password:\n%s", raw)
	}
}
