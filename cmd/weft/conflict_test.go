package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestServeQueueFlagsNeedTheirSetting: the queue flags have no effect
// without --max-conns (nothing overflows) or, for --max-queue and
// --queue-timeout, with --overflow reject (nothing waits): given there,
// they are usage errors naming the flag and what it needs, as a flag for
// another protocol is, not settings silently ignored.
func TestServeQueueFlagsNeedTheirSetting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--overflow", "fifo"}, "--overflow"},
		{[]string{"--queue-timeout", "5s"}, "--queue-timeout"},
		{[]string{"--max-queue", "3"}, "--max-queue"},
		{[]string{"--max-conns", "2", "--queue-timeout", "5s"}, "--queue-timeout"},
		{[]string{"--max-conns", "2", "--overflow", "reject", "--max-queue", "3"}, "--max-queue"},
		{[]string{"--reject-message", "busy"}, "--reject-message"},
	} {
		args := append([]string{"serve", "echo", "--listen", "tcp:0:interface=127.0.0.1"}, tc.args...)
		var out, errb bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // without the check, serve would start and end at once
		code := run(ctx, args, strings.NewReader(""), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("weft %q: exit %d, stderr %q; want 2 naming %s", args, code, errb.String(), tc.want)
		}
	}
	for _, extra := range [][]string{
		{"--max-conns", "2", "--overflow", "lifo", "--max-queue", "3", "--queue-timeout", "5s", "--reject-message", "busy"},
		{"--max-conns", "2", "--reject-message", "busy"},
		{"--max-conns-per-peer", "2", "--reject-message", "busy"},
	} {
		args := append([]string{"serve", "echo", "--listen", "tcp:0:interface=127.0.0.1"}, extra...)
		var out, errb bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if code := run(ctx, args, strings.NewReader(""), &out, &errb); code != 0 {
			t.Errorf("weft %q: exit %d, stderr %q; want 0", args, code, errb.String())
		}
	}
}

// TestServePoetryChunkNeedsDelay: poetry sends the poem at once when
// --chunk or --delay is 0, so one given without the other does nothing: a
// usage error naming both, not a slow poem silently served fast.
func TestServePoetryChunkNeedsDelay(t *testing.T) {
	for _, extra := range [][]string{
		{"--delay", "1s"},
		{"--chunk", "10"},
		{"--chunk", "10", "--delay", "0s"},
		{"--chunk", "0", "--delay", "1s"},
	} {
		args := append([]string{"serve", "poetry", "--listen", "tcp:0:interface=127.0.0.1"}, extra...)
		var out, errb bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		code := run(ctx, args, strings.NewReader(""), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "--chunk") || !strings.Contains(errb.String(), "--delay") {
			t.Errorf("weft %q: exit %d, stderr %q; want 2 naming --chunk and --delay", args, code, errb.String())
		}
	}
	args := []string{"serve", "poetry", "--listen", "tcp:0:interface=127.0.0.1", "--chunk", "10", "--delay", "1ms"}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code := run(ctx, args, strings.NewReader(""), &out, &errb); code != 0 {
		t.Errorf("weft %q: exit %d, stderr %q; want 0", args, code, errb.String())
	}
}
