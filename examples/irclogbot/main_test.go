package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun runs the example against a loopback server that speaks just
// enough IRC, drops the bot once, and checks the reconnect and the log.
func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	logPath := filepath.Join(t.TempDir(), "test.log")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-server", "tcp:" + ln.Addr().String(), "-retry", "1ms", "test", logPath}, &stderr)
	}()
	for session := 1; session <= 2; session++ {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		expect := func(want string) {
			t.Helper()
			line, err := r.ReadString('\n')
			if err != nil || strings.TrimSpace(line) != want {
				t.Fatalf("session %d: got %q, %v; want %q", session, line, err, want)
			}
		}
		expect("NICK logbot")
		expect("USER logbot 0 * logbot")
		c.Write([]byte(":s 001 logbot :hi\r\n"))
		expect("JOIN #test")
		// A new sender each session: the bot answers a sender at most once
		// per LogBotConfig.ReplyInterval, across reconnects.
		nick := []string{"al", "bo"}[session-1]
		c.Write([]byte(":logbot!u@h JOIN #test\r\n:" + nick + "!a@h PRIVMSG #test :logbot: hi\r\n"))
		expect("NOTICE #test :" + nick + ": I am a log bot") // an automatic reply: a NOTICE
		if session == 2 {
			cancel()
			expect("QUIT")
		}
		c.Close()
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, _ := os.ReadFile(logPath)
	for _, nick := range []string{"al", "bo"} {
		if n := strings.Count(string(data), "] <logbot> "+nick+": I am a log bot\n"); n != 1 {
			t.Errorf("log holds %d answers to %s, want 1:\n%s", n, nick, data)
		}
	}
	if !strings.Contains(stderr.String(), "reconnecting in") {
		t.Errorf("stderr does not report the reconnect: %q", stderr.String())
	}
}

func TestRunUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{
		{nil, 2}, {[]string{"onlychannel"}, 2}, {[]string{"-server", "bogus:x", "c", "f"}, 2},
		{[]string{"-nosuchflag"}, 2}, {[]string{"", "f"}, 1}, {[]string{"c", t.TempDir() + "/no/dir/f"}, 1},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), tt.args, &stderr); code != tt.code {
			t.Errorf("run(%q) = %d, want %d (%s)", tt.args, code, tt.code, stderr.String())
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the bot's goroutines and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunReportsLogErrors: a log that cannot be written (a full disk:
// /dev/full fails every write with ENOSPC) is reported on stderr. Before
// the fix the example set no LogBotConfig.OnError, and every line was lost
// without a word.
func TestRunReportsLogErrors(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-server", "tcp:" + ln.Addr().String(), "test", "/dev/full"}, &stderr)
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for range 2 { // NICK, USER: "[connected at ...]" was written before
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := stderr.String(); !strings.Contains(got, "no space left on device") {
		t.Errorf("stderr does not report the failed log write: %q", got)
	}
}

// TestRunBacksOffHangUps: a server that accepts the bot and hangs up at
// once (a K-line, a reconnection throttle, a proxy without its backend) is
// retried with growing waits, not every -retry forever. Before the fix every
// connection counted as successful and reset the backoff: the bot
// reconnected every second (here every 10ms) for ever.
func TestRunBacksOffHangUps(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-server", "tcp:" + ln.Addr().String(), "-retry", "10ms", "test", filepath.Join(t.TempDir(), "test.log")}, &stderr)
	}()
	const hangUps = 4
	for range hangUps {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("ERROR :Closing link (throttled)\r\n"))
		c.Close()
	}
	wait := regexp.MustCompile(`reconnecting in ([0-9.]+m?s)`)
	var waits []time.Duration
	for deadline := time.Now().Add(10 * time.Second); len(waits) < hangUps && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		waits = waits[:0]
		for _, m := range wait.FindAllStringSubmatch(stderr.String(), -1) {
			d, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatal(err)
			}
			waits = append(waits, d)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if len(waits) < hangUps {
		t.Fatalf("%d waits reported, want %d: %q", len(waits), hangUps, stderr.String())
	}
	if waits[hangUps-1] < 4*waits[0] {
		t.Errorf("waits after %d hang-ups in a row: %v; want them growing (the last over 4x the first)", hangUps, waits)
	}
}

// TestRunQuitsQuietly: stopping the bot (SIGINT, SIGTERM: ctx ends) says
// QUIT and exits 0 without telling of a reconnection that will not happen.
// Before the fix the QUIT's hang-up was often reported as "connection lost
// (<nil>); reconnecting in 1s".
func TestRunQuitsQuietly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		var stderr lockedBuffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"-server", "tcp:" + ln.Addr().String(), "test", filepath.Join(t.TempDir(), "test.log")}, &stderr)
		}()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		for range 2 { // NICK, USER
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		if line, err := r.ReadString('\n'); err != nil || line != "QUIT\r\n" {
			t.Errorf("run %d: after cancel the bot sent %q, %v; want QUIT", i, line, err)
		}
		c.Close()
		if code := <-done; code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, stderr.String())
		}
		if got := stderr.String(); got != "" {
			t.Errorf("run %d: stopping wrote %q on stderr, want nothing", i, got)
		}
	}
}
