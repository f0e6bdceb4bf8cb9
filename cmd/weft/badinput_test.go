package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// biRun runs the command line args with a context that ends after d (a
// command that got past its checks then ends: serve after listening, exit
// 0) and reports how it ended: "exit N: STDERR", "panic: MSG" or "hang"
// (not returned within 5 s).
func biRun(args []string, d time.Duration) string {
	done := make(chan string, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Sprint("panic: ", v)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		var out, errb bytes.Buffer
		code := run(ctx, args, strings.NewReader(""), &out, &errb)
		done <- fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(errb.String()))
	}()
	select {
	case s := <-done:
		return s
	case <-time.After(5 * time.Second):
		return "hang"
	}
}

// TestBadInputCommand: every command's flags and arguments with odd values
// (negative, huge, empty, malformed endpoints): each is a usage error, exit
// status 2, whose message names the flag or argument, never a panic, a
// hang or a start that ignores it. Before the fix these started (exit 0
// once the context ended, or 1 after a failed dial) instead: serve and
// connect with --codec "" (taken as raw), --max-frame beyond what an
// int8/int16 prefix can express (silently capped), serve poetry --file ""
// (the built-in poem), serve qotd --quote "" (an empty quote), logbot
// --retry over --max-retry (silently lowered) and --channel "#" (a channel
// no server has).
func TestBadInputCommand(t *testing.T) {
	const lo = "tcp:0:interface=127.0.0.1"
	const huge = "99999999999999999999" // beyond int64
	log := filepath.Join(t.TempDir(), "bot.log")
	echo := func(a ...string) []string { return append([]string{"serve", "echo", "--listen", lo}, a...) }
	poetry := func(a ...string) []string { return append([]string{"serve", "poetry", "--listen", lo}, a...) }
	// bot fills in the required flags not given in a.
	bot := func(a ...string) []string {
		args := []string{"logbot"}
		for _, req := range [][2]string{{"--server", "tcp:127.0.0.1:1"}, {"--log", log}, {"--channel", "#weft"}} {
			if !slices.Contains(a, req[0]) {
				args = append(args, req[0], req[1])
			}
		}
		return append(args, a...)
	}
	conn := func(a ...string) []string { return append([]string{"connect", "tcp:127.0.0.1:1"}, a...) }
	tests := []struct {
		args []string
		name string // what stderr must name
		code int    // the exit status, -1 for 0; 0 means 2 (a usage error)
	}{
		// serve
		{[]string{"serve", ""}, `""`, 0},
		{[]string{"serve", "echo", "--listen", ""}, `--listen ""`, 0},
		{[]string{"serve", "echo", "--listen", ":"}, `--listen ":"`, 0},
		{[]string{"serve", "echo", "--listen", "tcp:-1"}, `--listen "tcp:-1"`, 0},
		{[]string{"serve", "echo", "--listen", "tcp:" + huge}, `--listen "tcp:` + huge, 0},
		{[]string{"serve", "echo", "--listen", "unix:"}, `--listen "unix:"`, 0},
		{[]string{"serve", "echo", "--listen", "tcp:0:interface=127.0.0.1:backlog=-1"}, `--listen`, 0},
		{[]string{"serve", "echo", "--listen", "tcp:0:bogus=1"}, `--listen`, 0},
		{echo("--codec", ""), "--codec", 0},
		{echo("--codec", "line", "--max-frame", huge), "-max-frame", 0},
		{echo("--codec", "line", "--max-frame", "-9223372036854775808"), "--max-frame", 0},
		// A frame limit as large as the operator asks is taken.
		{echo("--codec", "netstring", "--max-frame", "9223372036854775807"), "", -1},
		{echo("--codec", "int8", "--max-frame", "9223372036854775807"), "--max-frame 9223372036854775807: int8 frames hold at most 255 bytes", 0},
		{echo("--codec", "int16", "--max-frame", "65536"), "--max-frame 65536: int16 frames hold at most 65535 bytes", 0},
		{echo("--codec", "int16", "--max-frame", "65535"), "", -1},
		{echo("--max-conns", huge), "-max-conns", 0},
		{echo("--max-conns", "1", "--max-queue", "-1", "--overflow", "fifo"), "--max-queue", 0},
		{echo("--max-conns", "1", "--queue-timeout", "-1s", "--overflow", "fifo"), "--queue-timeout", 0},
		{echo("--max-conns", "1", "--queue-timeout", "1x", "--overflow", "fifo"), "-queue-timeout", 0},
		{echo("--max-conns", "1", "--overflow", ""), "--overflow", 0},
		{echo("--max-conns-per-peer", "-1"), "--max-conns-per-peer", 0},
		{echo("--idle-timeout", "-1s"), "--idle-timeout", 0},
		{echo("--idle-timeout", huge+"h"), "-idle-timeout", 0},
		{echo("--close-timeout", "-9223372036854775808ns"), "--close-timeout", 0},
		{echo("--keepalive", "-1s"), "--keepalive", 0},
		{echo("--shutdown-timeout", "0"), "--shutdown-timeout", 0},
		{echo("--shutdown-timeout", "-1s"), "--shutdown-timeout", 0},
		{echo("--stats", "-1ns"), "--stats", 0},
		{echo("--log-level", ""), "--log-level", 0},
		{echo("--engine", ""), "--engine", 0},
		{echo("--engine", "kqueue"), "--engine", 0},
		{echo("--reject-message", "x"), "--reject-message", 0},
		{echo("--max-conns", "1", "--reject-message", "a\r\nb"), "", -1}, // a message of two lines
		{poetry("--chunk", "-1", "--delay", "1s"), "--chunk", 0},
		{poetry("--chunk", "1", "--delay", "-1s"), "--delay", 0},
		{poetry("--chunk", huge, "--delay", "1s"), "-chunk", 0},
		{poetry("--file", ""), "--file", 0},
		{poetry("--file", t.TempDir()), "--file", 0},
		{[]string{"serve", "qotd", "--listen", lo, "--quote", ""}, "--quote", 0},
		// get
		{[]string{"get", "poetry", ""}, `endpoint ""`, 0},
		{[]string{"get", "poetry", "tcp:127.0.0.1:" + huge}, `"tcp:127.0.0.1:` + huge, 0},
		{[]string{"get", "poetry", "--max-poem", "-1", "tcp:127.0.0.1:1"}, "--max-poem", 0},
		{[]string{"get", "poetry", "--max-poem", huge, "tcp:127.0.0.1:1"}, "-max-poem", 0},
		{[]string{"get", "", "tcp:127.0.0.1:1"}, "poetry", 0},
		// connect
		{[]string{"connect", ""}, `""`, 0},
		{[]string{"connect", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2"}, "ENDPOINT", 0},
		{conn("--codec", ""), "--codec", 0},
		{conn("--max-frame", "-1", "--codec", "line"), "--max-frame", 0},
		{conn("--max-frame", huge), "-max-frame", 0},
		{conn("--max-frame", "9223372036854775807", "--codec", "netstring"), "connection refused", 1},
		{conn("--wait", "-1s"), "--wait", 0},
		{conn("--wait", "0"), "--wait", 0},
		// logbot
		{bot("--server", ""), "--server", 0},
		{bot("--server", "tcp:"), "--server", 0},
		{bot("--log", ""), "--log", 0},
		{bot("--log", t.TempDir()), "--log", 1}, // 1: the log cannot be opened
		{bot("--nick", ""), "--nick", 0},
		{bot("--channel", ""), "--channel", 0},
		{bot("--channel", "#"), "--channel", 0},
		{bot("--retry", "-1s"), "--retry", 0},
		{bot("--max-retry", "-1s"), "--max-retry", 0},
		{bot("--max-retry", "0"), "--max-retry", 0},
		{bot("--retry", "10s", "--max-retry", "1s"), "--max-retry", 0},
		{bot("--idle-timeout", huge+"h"), "-idle-timeout", 0},
		{bot("--idle-timeout", "-1ns"), "--idle-timeout", 0},
		{bot("--user", "a@b"), "--user", 0},
		{bot("--password", "a\nb"), "--password", 0},
		{bot("extra"), "extra", 0},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got := biRun(tc.args, time.Second)
			t.Logf("weft %q => %.300s", tc.args, got)
			want := fmt.Sprintf("exit %d: ", tc.code)
			switch tc.code {
			case 0:
				want = "exit 2: "
			case -1:
				want = "exit 0: "
			}
			if !strings.HasPrefix(got, want) || !strings.Contains(got, tc.name) {
				t.Errorf("weft %q: got %.300q; want %snaming %s", tc.args, got, want, tc.name)
			}
		})
	}
}
