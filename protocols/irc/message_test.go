package irc

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		line string
		want Message
	}{
		{"PING :irc.example", Message{Command: "PING", Params: []string{"irc.example"}}},
		{"PING irc.example\n", Message{Command: "PING", Params: []string{"irc.example"}}},
		{":a!b@c PRIVMSG #ch :hello there\r\n", Message{Prefix: "a!b@c", Command: "PRIVMSG", Params: []string{"#ch", "hello there"}}},
		{":srv 001 bot :Welcome", Message{Prefix: "srv", Command: "001", Params: []string{"bot", "Welcome"}}},
		{":srv  433   *  bot :Nickname in use", Message{Prefix: "srv", Command: "433", Params: []string{"*", "bot", "Nickname in use"}}},
		{"privmsg #c ::-)", Message{Command: "PRIVMSG", Params: []string{"#c", ":-)"}}},
		{"JOIN #c :", Message{Command: "JOIN", Params: []string{"#c", ""}}},
		{"QUIT", Message{Command: "QUIT"}},
		{"QUIT   ", Message{Command: "QUIT"}},
		{"C 1 2 3 4 5 6 7 8 9 10 11 12 13 14 rest of it", Message{Command: "C", Params: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "rest of it"}}},
	}
	for _, tt := range tests {
		got, err := Parse([]byte(tt.line))
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tt.line, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		line string
		want error
	}{
		{"", ErrMalformed},
		{"\r\n", ErrMalformed},
		{":prefixonly", ErrMalformed},
		{": PING", ErrMalformed},
		{"12 x", ErrMalformed},
		{"1234 x", ErrMalformed},
		{"A1 x", ErrMalformed},
		{"PRIV-MSG x", ErrMalformed},
		{"PING a\x00b", ErrMalformed},
		{"PING a\rb", ErrMalformed},
		{"PRIVMSG #c :" + strings.Repeat("x", MaxIncomingLineLength-len("PRIVMSG #c :")-1), ErrLineTooLong},
	}
	for _, tt := range tests {
		if _, err := Parse([]byte(tt.line)); !errors.Is(err, tt.want) {
			t.Errorf("Parse(%q) error = %v, want %v", tt.line, err, tt.want)
		}
	}
	// The longest acceptable line: 510 bytes of content plus CRLF.
	ok := "PRIVMSG #c :" + strings.Repeat("x", 498)
	if _, err := Parse([]byte(ok + "\r\n")); err != nil {
		t.Errorf("510-byte line refused: %v", err)
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		m    Message
		want string
		err  error
	}{
		{Message{Command: "NICK", Params: []string{"bot"}}, "NICK bot\r\n", nil},
		{Message{Command: "USER", Params: []string{"bot", "0", "*", "Log Bot"}}, "USER bot 0 * :Log Bot\r\n", nil},
		{Message{Prefix: "s", Command: "PONG", Params: []string{":x"}}, ":s PONG ::x\r\n", nil},
		{Message{Command: "PRIVMSG", Params: []string{"#c", ""}}, "PRIVMSG #c :\r\n", nil},
		{Message{Command: ""}, "", ErrInvalid},
		{Message{Command: "12"}, "", ErrInvalid},
		{Message{Command: "PRIVMSG", Params: []string{"a b", "x"}}, "", ErrInvalid},
		{Message{Command: "PRIVMSG", Params: []string{"", "x"}}, "", ErrInvalid},
		{Message{Command: "PRIVMSG", Params: []string{"#c", "a\r\nQUIT"}}, "", ErrInvalid},
		{Message{Prefix: "a b", Command: "X"}, "", ErrInvalid},
		{Message{Command: "X", Params: make([]string, 16)}, "", ErrInvalid},
		{Message{Command: "PRIVMSG", Params: []string{"#c", strings.Repeat("x", 500)}}, "", ErrLineTooLong},
	}
	for _, tt := range tests {
		got, err := tt.m.Append([]byte("keep"))
		if !errors.Is(err, tt.err) {
			t.Errorf("%#v.Append error = %v, want %v", tt.m, err, tt.err)
		}
		if want := "keep" + tt.want; string(got) != want {
			t.Errorf("%#v.Append = %q, want %q", tt.m, got, want)
		}
	}
}

func TestEqualFold(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"Bot", "bOT", true}, {"a[]\\~", "A{}|^", true}, {"bot", "bot^", false}, {"a", "b", false},
	}
	for _, tt := range tests {
		if got := EqualFold(tt.a, tt.b); got != tt.want {
			t.Errorf("EqualFold(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

// checkRoundTrip is the property the fuzzer checks: whatever parses formats
// back (unless formatting makes it too long) and parses to the same message,
// its tags apart (Append does not write them; checkTags checks them).
func checkRoundTrip(t *testing.T, line []byte) {
	m, err := Parse(line)
	if err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLineTooLong) {
			t.Fatalf("Parse(%q): unnamed error %v", line, err)
		}
		return
	}
	checkPong(t, line, m)
	checkTags(t, m)
	m.Tags = nil
	b, err := m.Append(nil)
	if errors.Is(err, ErrLineTooLong) {
		return
	}
	if err != nil {
		t.Fatalf("Parse(%q) = %#v which does not format: %v", line, m, err)
	}
	if len(b) > MaxLineLength {
		t.Fatalf("formatted %d bytes", len(b))
	}
	m2, err := Parse(b)
	if err != nil || !reflect.DeepEqual(m, m2) {
		t.Fatalf("round trip %q -> %#v -> %q -> %#v, %v", line, m, b, m2, err)
	}
}

// checkPong: whatever a parsed PING holds, it gets a PONG that formats
// within MaxLineLength and ends with the PING's last parameter (the token
// the server checks), unless that token alone is too long for any PONG.
// Other commands are not checked: one shorter than "PONG" may leave no
// room for it.
func checkPong(t *testing.T, line []byte, ping Message) {
	t.Helper()
	if ping.Command != "PING" {
		return
	}
	pong := pongFor(ping)
	b, err := pong.Append(nil)
	if n := len(ping.Params); n > 0 && len(ping.Params[n-1]) > maxContent-len("PONG :") && errors.Is(err, ErrLineTooLong) {
		return // no PONG can hold the token: the PING goes unanswered
	}
	if err != nil {
		t.Fatalf("PING %q: PONG %#v does not format: %v", line, pong, err)
	}
	if len(b) > MaxLineLength {
		t.Fatalf("PING %q: PONG of %d bytes", line, len(b))
	}
	if n := len(ping.Params); n > 0 {
		if got := pong.Params[len(pong.Params)-1]; got != ping.Params[n-1] {
			t.Fatalf("PING %q: PONG's last parameter %q, want %q", line, got, ping.Params[n-1])
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		":nick!user@host PRIVMSG #chan :\x01ACTION waves\x01\r\n",
		"PING :token", ":srv 433 * bot :in use", "QUIT", ":: X", "C 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		"NOTICE  a  :", "\r\n", "001",
		"PING a b c d e f g h i j k l m n " + strings.Repeat("x ", 238) + "y",
		":srv PING a :" + strings.Repeat("y", 490), "PING " + strings.Repeat("z", 505),
		"@time=2026-11-27T01:02:03.456Z;msgid=abc;+draft/reply=x\\sy :n!u@h PRIVMSG #c :hi",
		`@k=a\:b\sc\\d\re\nf\zg\;k2;=v;;k=2 PING x`, "@" + strings.Repeat("k", 8190) + " PING x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkRoundTrip)
}

func TestRoundTripProperty(t *testing.T) {
	// A deterministic sweep over messages built from awkward pieces.
	pieces := []string{"a", ":b", "c d", "", "#ch", "x:y", " ", "é"}
	for _, p1 := range pieces {
		for _, p2 := range pieces {
			for _, prefix := range []string{"", "n!u@h", ":odd"} {
				m := Message{Prefix: prefix, Command: "PRIVMSG", Params: []string{"#c", p1 + p2}}
				b, err := m.Append(nil)
				if err != nil {
					t.Fatalf("%#v: %v", m, err)
				}
				got, err := Parse(b)
				if err != nil || !reflect.DeepEqual(got, m) {
					t.Errorf("%q parsed to %#v, %v; want %#v", b, got, err, m)
				}
				checkRoundTrip(t, b)
			}
		}
	}
}

func ExampleParse() {
	m, err := Parse([]byte(":alice!a@example.org PRIVMSG #weft :hello, world\r\n"))
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Nick(), m.Command, m.Params[0], m.Params[1])
	// Output: alice PRIVMSG #weft hello, world
}

func ExampleMessage_String() {
	m := Message{Command: "USER", Params: []string{"logbot", "0", "*", "Log Bot"}}
	fmt.Println(m.String())
	// Output: USER logbot 0 * :Log Bot
}
