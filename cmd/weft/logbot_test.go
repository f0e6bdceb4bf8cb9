package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLogbotUsageErrors: a flag value the bot could never use is a usage
// error (exit 2) naming the flag (not the IRC package's field), before any
// connection. Before, a nick, user or
// channel too long to be sent was accepted and the bot sat connected
// without ever registering or joining.
func TestLogbotUsageErrors(t *testing.T) {
	log := filepath.Join(t.TempDir(), "bot.log")
	base := []string{"logbot", "--server", "tcp:127.0.0.1:1", "--log", log}
	long := strings.Repeat("n", 600)
	tests := []struct {
		args []string
		name string // what stderr must name
	}{
		{[]string{"--channel", "#weft", "--nick", long}, "--nick"},
		{[]string{"--channel", "#" + long}, "--channel"},
		{[]string{"--channel", "#weft", "--password", long}, "--password"},
		{[]string{"--channel", "#a b"}, "--channel"},
		{[]string{"--channel", "#"}, "--channel"},
		{[]string{"--channel", "#weft", "--nick", "a b"}, "--nick"},
		{[]string{"--channel", "#weft", "--user", "a b"}, "--user"},
		{[]string{"--channel", "#weft", "--retry", "0s"}, "--retry"},
		{[]string{"--channel", "#weft", "--idle-timeout", "-1s"}, "--idle-timeout"},
		{[]string{"--channel", "#weft", "extra"}, "extra"},
		{[]string{"--nick", "bot"}, "--channel"},
	}
	// A cancelled context: a command that got past its checks returns at
	// once (exit 0) instead of connecting.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range tests {
		var out, errb bytes.Buffer
		args := append(append([]string(nil), base...), tc.args...)
		code := run(ctx, args, strings.NewReader(""), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.name) {
			t.Errorf("weft logbot %.80q: exit %d, stderr %.200q; want 2 naming %s", tc.args, code, errb.String(), tc.name)
		}
	}
}

// ircFake is a loopback IRC server for one connection at a time.
type ircFake struct {
	t  *testing.T
	ln net.Listener
	c  net.Conn
	r  *bufio.Reader
}

func newIRCFake(t *testing.T) *ircFake {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &ircFake{t: t, ln: ln}
	t.Cleanup(func() {
		ln.Close()
		if f.c != nil {
			f.c.Close()
		}
	})
	return f
}

func (f *ircFake) accept() {
	f.t.Helper()
	_ = f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	c, err := f.ln.Accept()
	if err != nil {
		f.t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	f.c, f.r = c, bufio.NewReader(c)
}

func (f *ircFake) expect(want string) {
	f.t.Helper()
	line, err := f.r.ReadString('\n')
	if got := strings.TrimSuffix(line, "\r\n"); err != nil || got != want {
		f.t.Fatalf("bot sent %q (%v), want %q", got, err, want)
	}
}

func (f *ircFake) send(lines ...string) {
	f.t.Helper()
	for _, l := range lines {
		if _, err := f.c.Write([]byte(l + "\r\n")); err != nil {
			f.t.Fatal(err)
		}
	}
}

// runLogbot runs "weft logbot" in this process; the returned function
// stops it (as SIGINT does) and returns its exit status and stderr.
func runLogbot(t *testing.T, args ...string) (stop func() (int, string)) {
	stop, _ = runLogbotOut(t, args...)
	return stop
}

// runLogbotOut is runLogbot that also returns the bot's stdout.
func runLogbotOut(t *testing.T, args ...string) (stop func() (int, string), stdout *syncBuffer) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"logbot"}, args...), strings.NewReader(""), &out, &errb) }()
	stopped := false
	stop = func() (int, string) {
		if !stopped {
			stopped = true
			cancel()
			select {
			case code := <-done:
				done <- code
			case <-time.After(20 * time.Second):
				t.Fatal("weft logbot did not stop")
			}
		}
		code := <-done
		done <- code
		return code, errb.String()
	}
	t.Cleanup(func() { stop() })
	return stop, &out
}

// TestLogbotStops: on SIGINT the bot says QUIT and exits 0, without
// announcing a reconnection it will not make (it printed "connection lost
// (<nil>); reconnecting in 1s" as it exited).
func TestLogbotStops(t *testing.T) {
	f := newIRCFake(t)
	stop := runLogbot(t, "--server", "tcp:"+f.ln.Addr().String(), "--channel", "#weft", "--log", filepath.Join(t.TempDir(), "bot.log"))
	f.accept()
	f.expect("NICK logbot")
	f.expect("USER logbot 0 * logbot")
	f.send(":s 001 logbot :hi")
	f.expect("JOIN #weft")
	f.send(":logbot!u@h JOIN #weft", "PING sync")
	f.expect("PONG sync")
	code, stderr := stop()
	f.expect("QUIT :weft logbot stopping")
	if code != 0 || strings.Contains(stderr, "reconnecting") {
		t.Errorf("exit %d, stderr %q; want 0 and no reconnection", code, stderr)
	}
}

// TestLogbotNickUnavailable: when the server refuses every nick the bot
// tries, stderr says so (it said only "connection aborted") and the bot
// reconnects to try again.
func TestLogbotNickUnavailable(t *testing.T) {
	f := newIRCFake(t)
	stop := runLogbot(t, "--server", "tcp:"+f.ln.Addr().String(), "--channel", "#weft", "--log", filepath.Join(t.TempDir(), "bot.log"),
		"--nick", "n", "--retry", "1ms")
	f.accept()
	f.expect("NICK n")
	f.expect("USER n 0 * n")
	nick := "n"
	for i := 0; i <= 10; i++ { // irc.DefaultMaxNickRetries
		f.send(":s 437 * " + nick + " :Nick/channel is temporarily unavailable")
		if i < 10 {
			nick += "^"
			f.expect("NICK " + nick)
		}
	}
	f.accept() // the bot comes back
	f.expect("NICK n")
	code, stderr := stop()
	want := `weft: logbot: irc: no usable nickname: "n^^^^^^^^^^" refused (437 Nick/channel is temporarily unavailable) after 11 tries`
	if code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant a line %s", code, stderr, want)
	}
}

// TestLogbotIdleServer: a server that accepts and then says nothing (no
// welcome, no PING) is left after --idle-timeout and the bot reconnects;
// before, it waited forever.
func TestLogbotIdleServer(t *testing.T) {
	f := newIRCFake(t)
	stop := runLogbot(t, "--server", "tcp:"+f.ln.Addr().String(), "--channel", "#weft", "--log", filepath.Join(t.TempDir(), "bot.log"),
		"--idle-timeout", "200ms", "--retry", "1ms")
	f.accept()
	f.expect("NICK logbot")
	f.expect("USER logbot 0 * logbot")
	f.accept() // the silent server is left: the bot comes back
	f.expect("NICK logbot")
	code, stderr := stop()
	if code != 0 || !strings.Contains(stderr, "idle timeout") {
		t.Errorf("exit %d, stderr:\n%s\nwant the idle timeout named", code, stderr)
	}
}

// TestLogbotBacksOffFromHangingUpServer: a server that accepts the bot and
// hangs up at once (one that refuses it, or is over its connection limit)
// gets growing waits, not a reconnection every --retry: such short
// connections are failed attempts (client.Reconnecting.StableAfter).
func TestLogbotBacksOffFromHangingUpServer(t *testing.T) {
	f := newIRCFake(t)
	stop := runLogbot(t, "--server", "tcp:"+f.ln.Addr().String(), "--channel", "#weft", "--log", filepath.Join(t.TempDir(), "bot.log"),
		"--retry", "1ms", "--max-retry", "1h")
	for range 4 {
		f.accept()
		f.c.Close()
	}
	code, stderr := stop()
	var waits []time.Duration
	for _, l := range strings.Split(stderr, "\n") {
		if _, after, ok := strings.Cut(l, "reconnecting in "); ok {
			d, err := time.ParseDuration(after)
			if err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			waits = append(waits, d)
		}
	}
	if code != 0 || len(waits) < 3 {
		t.Fatalf("exit %d, stderr:\n%s\nwant 3 reconnections or more", code, stderr)
	}
	// ×e per retry, ±12 % jitter, printed to the millisecond: each wait
	// is well over 1.5 times the one before.
	for i := 1; i < 3; i++ {
		if 2*waits[i] < 3*waits[i-1] {
			t.Errorf("waits %v: want each over 1.5 times the one before", waits)
			break
		}
	}
}

// TestLogbotUser: --user is the user name sent with USER (the nick
// otherwise), for a nick a server refuses as a user name.
func TestLogbotUser(t *testing.T) {
	f := newIRCFake(t)
	stop := runLogbot(t, "--server", "tcp:"+f.ln.Addr().String(), "--channel", "#weft", "--nick", "log|bot",
		"--user", "logbot", "--log", filepath.Join(t.TempDir(), "bot.log"))
	f.accept()
	f.expect("NICK log|bot")
	f.expect("USER logbot 0 * log|bot")
	if code, stderr := stop(); code != 0 {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestLogbotLogFileMode: a new log is created 0600 (it holds the private
// messages sent to the bot); it was 0644.
func TestLogbotLogFileMode(t *testing.T) {
	f := newIRCFake(t)
	log := filepath.Join(t.TempDir(), "bot.log")
	stop := runLogbot(t, "--server", "tcp:"+f.ln.Addr().String(), "--channel", "#weft", "--log", log)
	f.accept() // the log is open before the bot dials
	f.expect("NICK logbot")
	fi, err := os.Stat(log)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode&^0o600 != 0 {
		t.Errorf("new log file created with mode %v, want at most -rw-------", fi.Mode())
	}
	stop()
}
