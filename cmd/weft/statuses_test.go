package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpExitStatuses: "weft get -h", "weft connect -h" and "weft logbot
// -h" say what their exit statuses mean, the interrupted ones included
// (TestGetInterrupted, TestConnectInterrupted, TestLogbotSignals).
func TestHelpExitStatuses(t *testing.T) {
	for cmd, want := range map[string][]string{
		"get":     {"exit status: 0 ", "1 a download failed", "2 a usage error", "130 (SIGINT) or 143 (SIGTERM) interrupted"},
		"connect": {"exit status: 0 ", "2 a usage error", "130 (SIGINT) or 143 (SIGTERM) interrupted"},
		"logbot":  {"exit status: 0 stopped by SIGINT or SIGTERM", "2 a usage error"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{cmd, "-h"}, strings.NewReader(""), &out, &errb)
		for _, w := range want {
			if code != 0 || !strings.Contains(errb.String(), w) {
				t.Errorf("weft %s -h: exit %d, stderr:\n%s\nwant 0 and %q", cmd, code, errb.String(), w)
			}
		}
	}
}
