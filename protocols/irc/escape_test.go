package irc

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// unescapeLog decodes a log line's text: the Logger's escapes are a Go
// string literal's (\\, \xHH, \u00HH), so strconv.Unquote reads them once
// the '"' it would take as the end is escaped.
func unescapeLog(s string) (string, error) {
	return strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
}

// checkLogSafe fails if the log output holds a byte that drives a terminal:
// a C0 control other than the IRC formatting codes and the '\n' ending each
// line, DEL, a C1 control (U+0080..U+009F), a bidi embedding, override or
// isolate, or invalid UTF-8.
func checkLogSafe(t *testing.T, log string) {
	t.Helper()
	if !utf8.ValidString(log) {
		t.Fatalf("log holds invalid UTF-8: %q", log)
	}
	for i, r := range log {
		if r == '\n' || isFormatCode(r) {
			continue
		}
		if r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f {
			t.Fatalf("log holds raw control %U at byte %d: %q", r, i, log)
		}
		if 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069 {
			t.Fatalf("log holds raw bidi control %U at byte %d: %q", r, i, log)
		}
	}
}

func isFormatCode(r rune) bool {
	return strings.ContainsRune("\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f", r)
}

// TestLoggerEscapesControls: text from the network can hold terminal
// escape sequences; the Logger writes every control byte except IRC's
// formatting codes, DEL, C1 controls and invalid UTF-8 escaped, and a
// backslash doubled, so that `cat` or `tail -f` of the log shows them and
// the line can be decoded back exactly. Before the fix the bytes went to
// the file raw (and CR/LF were lost: "\r" dropped, "\n" made a space).
func TestLoggerEscapesControls(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, ünïcödé ✓", "plain text, ünïcödé ✓"},
		{"\x1b]0;pwned\a\x1b[2J", `\x1b]0;pwned\x07\x1b[2J`},
		{"nul\x00 tab\t bs\b del\x7f so\x0e si\x0f", `nul\x00 tab\x09 bs\x08 del\x7f so\x0e si` + "\x0f"},
		{"a\r\nb\rc\nd", `a\x0d\x0ab\x0dc\x0ad`},
		{"csi\u009b31m nel\u0085 pad\u0080 apc\u009f", `csi\u009b31m nel\u0085 pad\u0080 apc\u009f`},
		{"bad\xff\xfe utf8\xc2 \xe2\x82", `bad\xff\xfe utf8\xc2 \xe2\x82`},
		{"c1 alone \x9b[2J", `c1 alone \x9b[2J`},
		{`back\slash \x1b`, `back\\slash \\x1b`},
		{"replacement \ufffd stays", "replacement \ufffd stays"},
		{"rlo\u202elive lri\u2066x\u2069 lrm\u200e zwj\u200d", `rlo\u202elive lri\u2066x\u2069 lrm` + "\u200e zwj\u200d"},
		{"\x02bold\x02 \x0304,05colour\x03 \x04ff0000hex \x0f\x16rev\x1ditalic\x1estrike\x1funder\x11mono", "\x02bold\x02 \x0304,05colour\x03 \x04ff0000hex \x0f\x16rev\x1ditalic\x1estrike\x1funder\x11mono"},
	} {
		var b strings.Builder
		if err := NewLogger(&b, fixedClock()).Log(tc.in); err != nil {
			t.Fatal(err)
		}
		want := "[12:34:56] " + tc.want + "\n"
		if got := b.String(); got != want {
			t.Errorf("Log(%q) wrote %q, want %q", tc.in, got, want)
			continue
		}
		checkLogSafe(t, b.String())
		if back, err := unescapeLog(tc.want); err != nil || back != tc.in {
			t.Errorf("%q decodes to %q, %v; want %q", tc.want, back, err, tc.in)
		}
	}
}

// TestLogBotEscapesNetworkText: a hostile user's nick, text and action and
// a server's channel name reach the log file escaped.
func TestLogBotEscapesNetworkText(t *testing.T) {
	log, fs := joiningLogBot(t, "#weft")
	fs.send(":logbot!u@h JOIN #we\x1b[5mft",
		":ev\x1b[8mil!e@h PRIVMSG #weft :\x1b]0;owned\x07\x1b[2J\u009b31mred\xff",
		":evil!e@h PRIVMSG #weft :\x01ACTION \x1b[1Aups\x01",
		":evil!e@h NICK :ev\u0090il",
		"PING :sync")
	fs.expect("PONG sync")
	if err := fs.hangUp(); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"[12:34:56] [connected at Wed Nov 25 12:34:56 2026]",
		`[12:34:56] [I have joined #we\x1b[5mft]`,
		`[12:34:56] <ev\x1b[8mil> \x1b]0;owned\x07\x1b[2J\u009b31mred\xff`,
		`[12:34:56] * evil \x1b[1Aups`,
		`[12:34:56] evil is now known as ev\u0090il`,
		"[12:34:56] [disconnected at Wed Nov 25 12:34:56 2026]",
	}, "\n") + "\n"
	got := log.String()
	if got != want {
		t.Errorf("log:\n%q\nwant:\n%q", got, want)
	}
	checkLogSafe(t, got)
}

// FuzzLogEscape: whatever the text, the Logger writes one line that holds
// no terminal control (checkLogSafe) and decodes back to the text.
func FuzzLogEscape(f *testing.F) {
	for _, s := range []string{"", "hi", "\x1b[2J", "\u009b\xff\\x", "\x02b\x03", "a\r\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b strings.Builder
		if err := NewLogger(&b, fixedClock()).Log(s); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		checkLogSafe(t, out)
		text, ok := strings.CutPrefix(out, "[12:34:56] ")
		if !ok || strings.Count(text, "\n") != 1 || !strings.HasSuffix(text, "\n") {
			t.Fatalf("Log(%q) wrote %q: not one stamped line", s, out)
		}
		if back, err := unescapeLog(strings.TrimSuffix(text, "\n")); err != nil || back != s {
			t.Fatalf("Log(%q) wrote %q, which decodes to %q, %v", s, out, back, err)
		}
	})
}
