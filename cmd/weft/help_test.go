package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpTexts: "weft COMMAND -h" exits 0 and starts with the command's
// usage line (what its arguments are), as "weft serve -h" does, then lists
// the flags.
func TestHelpTexts(t *testing.T) {
	for cmd, want := range map[string]string{
		"serve":   "usage: weft serve PROTOCOL --listen ENDPOINT",
		"get":     "usage: weft get poetry ENDPOINT...",
		"connect": "usage: weft connect ENDPOINT",
		"logbot":  "usage: weft logbot --server ENDPOINT --channel '#chan' --log FILE",
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{cmd, "-h"}, strings.NewReader(""), &out, &errb)
		if code != 0 || !strings.HasPrefix(errb.String(), want) || !strings.Contains(errb.String(), "  -") {
			t.Errorf("weft %s -h: exit %d, stderr %.120q; want 0 and a text starting %q", cmd, code, errb.String(), want)
		}
	}
}

// TestUnknownCommand: an unknown command is a usage error (exit 2) that
// lists the commands and points to -h, as weft with no command does.
func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"bogus"}, strings.NewReader(""), &out, &errb)
	for _, want := range []string{`"bogus"`, "serve", "get", "connect", "logbot", "weft -h"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr %q does not name %s", errb.String(), want)
		}
	}
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
}
