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
