package irc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestParseTagsKept: Parse keeps an IRCv3 message-tags section in
// Message.Tags, each value unescaped (message-tags: "\:" is ';', "\s" a
// space, "\\" a backslash, "\r" CR, "\n" LF, a lone backslash at the end
// dropped, a backslash before any other character dropped), a tag without
// a value (or with an empty one) mapped to "", the last of a key repeated
// kept, empty tags skipped; an untagged line has nil Tags. Before, the
// section was skipped and the tags lost (servers send account, time,
// msgid, batch, ...).
func TestParseTagsKept(t *testing.T) {
	for _, tc := range []struct {
		line string
		want map[string]string
	}{
		{"@time=2026-11-27T01:02:03.456Z;msgid=abc :n!u@h PRIVMSG #c :hi", map[string]string{"time": "2026-11-27T01:02:03.456Z", "msgid": "abc"}},
		{"@+draft/reply=x\\sy;account=n :n!u@h PRIVMSG #c :hi", map[string]string{"+draft/reply": "x y", "account": "n"}},
		{"@a :n!u@h PRIVMSG #c :hi", map[string]string{"a": ""}},
		{"@a=;b :n!u@h PRIVMSG #c :hi", map[string]string{"a": "", "b": ""}},
		{`@k=a\:b\sc\\d\re\nf\zg\ PING x`, map[string]string{"k": "a;b c\\d\re\nfzg"}},
		{`@k=\\\ PING x`, map[string]string{"k": `\`}},
		{`@k=\\\\;j=\;i=\s\: PING x`, map[string]string{"k": `\\`, "j": "", "i": " ;"}},
		{"@k=1;k=2 PING x", map[string]string{"k": "2"}},
		{"@;k=1;;=x; PING x", map[string]string{"k": "1"}},
		{"@k=a=b PING x", map[string]string{"k": "a=b"}},
		{"@; PING x", nil},
		{":n!u@h PRIVMSG #c :@k=v", nil},
		{"PING x", nil},
	} {
		m, err := Parse([]byte(tc.line))
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.line, err)
			continue
		}
		if !reflect.DeepEqual(m.Tags, tc.want) {
			t.Errorf("Parse(%q).Tags = %#v, want %#v", tc.line, m.Tags, tc.want)
		}
	}
}

// TestParseTagsBound: the tags section is at most 8191 bytes, the leading
// '@' and the space after it included (IRCv3 message-tags); a longer one
// is ErrLineTooLong, even when the line is within MaxIncomingLineLength.
func TestParseTagsBound(t *testing.T) {
	at := func(n int) string { return "@k=" + strings.Repeat("v", n-len("@k= ")) + " PING x" }
	m, err := Parse([]byte(at(8191)))
	if err != nil || len(m.Tags["k"]) != 8191-4 {
		t.Errorf("8191-byte tags section: %v, value of %d bytes", err, len(m.Tags["k"]))
	}
	if _, err := Parse([]byte(at(8192))); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("8192-byte tags section: %v, want ErrLineTooLong", err)
	}
}

// escapeTagValue escapes v as a message-tags value (the reverse of what
// Parse undoes).
func escapeTagValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\:`, " ", `\s`, "\r", `\r`, "\n", `\n`).Replace(v)
}

// checkTags is the tags property FuzzParse checks: every tag Parse keeps,
// escaped again, parses back to the same key and value.
func checkTags(t *testing.T, m Message) {
	t.Helper()
	for k, v := range m.Tags {
		if k == "" || strings.ContainsAny(k, "; =") {
			t.Fatalf("tag key %q", k)
		}
		section := "@" + k + "=" + escapeTagValue(v)
		if len(section)+1 > MaxTagsLength {
			continue // escaped longer than the original
		}
		line := section + " PING x"
		m2, err := Parse([]byte(line))
		if err != nil || len(m2.Tags) != 1 || m2.Tags[k] != v {
			t.Fatalf("tag %q=%q escaped as %q parsed to %#v, %v", k, v, line, m2.Tags, err)
		}
	}
	// The client's encoder: tags it accepts parse back the same.
	tagged := Message{Command: "PING", Params: []string{"x"}, Tags: m.Tags}
	if b, err := tagged.AppendTagged(nil); err == nil {
		if m2, err := Parse(b); err != nil || !reflect.DeepEqual(m2, tagged) {
			t.Fatalf("AppendTagged wrote %q, parsed to %#v, %v; want %#v", b, m2, err, tagged)
		}
	}
}
