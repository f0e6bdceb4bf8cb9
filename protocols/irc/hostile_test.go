package irc

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestClientHostileMissingParams: commands and numerics a broken server
// sends without their parameters (001, 433, 437, NICK, JOIN, PART, QUIT,
// PRIVMSG, NOTICE, KICK, 005, a bare CTCP marker) neither panic nor
// change the client's state, and the client keeps answering PING. (ERROR,
// with or without its text, ends the connection: TestClientServerError.)
func TestClientHostileMissingParams(t *testing.T) {
	rec := newRecorder()
	c, fs := registeringClient(t, Config{Nick: "me"}, rec)
	fs.send(":s 001")
	rec.expect(t, "signedon me")
	fs.send(":s 001", ":s 001 :", ":s 433", ":s 432", ":s 436", ":s 437",
		":me!u@h PRIVMSG", ":x!u@h PRIVMSG me", ":x!u@h PRIVMSG me :\x01",
		":x!u@h PRIVMSG #c :\x01\x01", ":x!u@h NOTICE", ":x!u@h KICK",
		":x!u@h KICK #c me", ":s 005",
		"PING :sync")
	fs.expect("PONG sync")
	if got := c.Nick(); got != "me" {
		t.Fatalf("nick %q after hostile numerics, want %q", got, "me")
	}
}

// TestClientNickWithoutParam: a NICK message about the client that carries
// no new nick (":me!u@h NICK") is malformed and must leave the client's
// nick alone. Before the fix the client took "" as its nick: Nick()
// returned "", every prefix-less message was then "from the client"
// (isMe("")), and the log bot answered any channel text starting with ':'.
func TestClientNickWithoutParam(t *testing.T) {
	rec := newRecorder()
	c, fs := registeringClient(t, Config{Nick: "me"}, rec)
	fs.send(":s 001 me :hi")
	rec.expect(t, "signedon me")
	fs.send(":me!u@h NICK", ":me!u@h NICK :", "PING :sync")
	fs.expect("PONG sync")
	if got := c.Nick(); got != "me" {
		t.Fatalf("nick %q after a NICK without a nick, want %q", got, "me")
	}
	// A prefix-less JOIN is not the client's own.
	fs.send("JOIN #c")
	rec.expect(t, "userjoined  #c")
}

// TestLogBotUnsentReplyNotLogged: the log records the bot's "I am a log
// bot" answer only when it was sent. A sender whose nick makes the answer
// longer than MaxText gets no answer (Notice refuses it), and before the fix
// the log still showed "<logbot> <nick>: I am a log bot", a line the
// channel never saw.
func TestLogBotUnsentReplyNotLogged(t *testing.T) {
	log, fs := joiningLogBot(t, "#weft")
	long := strings.Repeat("n", 420)
	fs.send(":logbot!u@h JOIN #weft", ":"+long+"!u@h PRIVMSG #weft :logbot: hello", "PING :sync")
	fs.expect("PONG sync") // no NOTICE before it: the answer was too long
	if err := fs.hangUp(); err != nil {
		t.Fatal(err)
	}
	if got := log.String(); strings.Contains(got, "I am a log bot") {
		t.Fatalf("the log shows an answer that was never sent:\n%s", got)
	}
}

// TestClientPingFloodSlowServer: a server that floods PINGs and never reads
// the PONGs cannot grow the client's output without bound: the runtime's
// MaxWriteBuffer closes the connection with ErrSlowConsumer.
func TestClientPingFloodSlowServer(t *testing.T) {
	c, err := NewClient(Config{Nick: "me"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cli, srv := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- weft.Serve(cli, c, &weft.Options{HighWater: 4096, MaxWriteBuffer: 4096}) }()
	// Read NICK and USER, then never read again.
	r := bufio.NewReader(srv)
	for range 2 {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	flood := make(chan struct{})
	go func() {
		defer close(flood)
		line := []byte("PING :" + strings.Repeat("p", 400) + "\r\n")
		for range 10000 {
			if _, err := srv.Write(line); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, weft.ErrSlowConsumer) {
			t.Errorf("Serve: %v, want ErrSlowConsumer", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client kept taking PINGs from a server that reads nothing")
	}
	srv.Close()
	<-flood
}

// TestLoggerNoLineInjection: whatever the text, one Log call is one line.
func TestLoggerNoLineInjection(t *testing.T) {
	var b strings.Builder
	l := NewLogger(&b, fixedClock())
	for _, msg := range []string{"a\n[00:00:00] fake", "b\r\n[00:00:00] fake", "c\r[00:00:00] fake"} {
		if err := l.Log(msg); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("3 Log calls wrote %d lines: %q", len(lines), b.String())
	}
	for i, ln := range lines {
		if !strings.HasPrefix(ln, "[12:34:56] ") || strings.Count(ln, "[00:00:00]") != 1 || strings.Contains(ln, "\r") {
			t.Errorf("line %d: %q", i, ln)
		}
	}
}

// TestClientNickUnavailableNoControlBytes: the ErrNickUnavailable error
// quotes the server's reply text, which `weft logbot` prints on stderr: a
// hostile server must not reach the operator's terminal with escape
// sequences. Before the fix the error held the server's raw bytes
// ("\x1b]0;pwned\a\x1b[2J").
func TestClientNickUnavailableNoControlBytes(t *testing.T) {
	rec := newRecorder()
	_, fs := registeringClient(t, Config{Nick: "b", MaxNickRetries: 1}, rec)
	fs.send(":s 433 * b :in use")
	fs.expect("NICK b^")
	fs.send(":s 433 * b^ :in use\x1b]0;pwned\a\x1b[2J\x7f")
	ev := <-rec.ev
	if strings.ContainsFunc(ev, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		t.Fatalf("error holds control bytes: %q", ev)
	}
	if !strings.Contains(ev, `(433 in use\x1b]0;pwned\a\x1b[2J\x7f)`) {
		t.Fatalf("error %q does not show the server's text escaped", ev)
	}
}

// TestClientServerError: a server's ERROR (RFC 2812 3.7.4: sent before it
// closes a client's link, "Closing Link: ... (K-lined)", "Invalid user
// name", a reconnection throttle) ends the connection with a reason
// matching ErrServerError and holding the server's text, escaped, so that
// the operator of a bot that keeps reconnecting can learn why (weft logbot
// and examples/irclogbot print the reason). Before the fix the ERROR was
// dropped: the client waited for the server to hang up, and the connection
// ended with a nil reason.
func TestClientServerError(t *testing.T) {
	rec := newRecorder()
	_, fs := registeringClient(t, Config{Nick: "me"}, rec)
	fs.send("ERROR :Closing Link: 127.0.0.1 (K-lined\x1b[2J)")
	var err error
	select {
	case err = <-fs.done:
		fs.done <- err // for Cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("the client still waits after the server's ERROR")
	}
	if want := `irc: server error: Closing Link: 127.0.0.1 (K-lined\x1b[2J)`; !errors.Is(err, ErrServerError) || err.Error() != want {
		t.Errorf("Serve = %v, want %s", err, want)
	}
	rec.expect(t, `lost irc: server error: Closing Link: 127.0.0.1 (K-lined\x1b[2J)`)

	// Without its text.
	rec = newRecorder()
	_, fs = registeringClient(t, Config{Nick: "me"}, rec)
	fs.send("ERROR")
	rec.expect(t, "lost irc: server error")
}
