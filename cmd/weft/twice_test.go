package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestFlagGivenTwice: a flag that takes one value, given twice, is a usage
// error naming it (exit 2), not a setting of which one copy is silently
// dropped (--codec line --codec int32 served int32). Repeatable flags
// (--listen, --quote) stay repeatable.
func TestFlagGivenTwice(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "echo", "--listen", "tcp:0", "--codec", "line", "--codec", "int32"},
		{"serve", "echo", "--listen", "tcp:0", "--max-conns", "1", "--max-conns=2"},
		{"serve", "echo", "--max-conns", "1", "--listen", "tcp:0", "--max-conns", "1"},
		{"connect", "tcp:127.0.0.1:1", "--wait", "1s", "--wait", "2s"},
		{"connect", "tcp:127.0.0.1:1", "--reconnect", "--reconnect=false"},
		{"get", "poetry", "tcp:127.0.0.1:1", "--max-poem", "1", "--max-poem", "2"},
		{"logbot", "--server", "tcp:127.0.0.1:1", "--server", "tcp:127.0.0.1:2", "--channel", "x", "--log", "/dev/null"},
	} {
		var out, errb bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // without the check, the command would start and end at once
		code := run(ctx, args, strings.NewReader(""), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "given twice") {
			t.Errorf("weft %q: exit %d, stderr %.300q; want 2 and \"given twice\"", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve starts, then ends at once
	args := []string{"serve", "qotd", "--listen", "tcp:0:interface=127.0.0.1", "--listen", "tcp:0:interface=127.0.0.1", "--quote", "a", "--quote", "b"}
	if code := run(ctx, args, strings.NewReader(""), &out, &errb); code != 0 || strings.Count(out.String(), "listening on") != 2 {
		t.Errorf("weft %q: exit %d, stdout %q, stderr %q; want 0 and two listeners", args, code, out.String(), errb.String())
	}
}
