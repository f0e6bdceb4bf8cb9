package irc

import (
	"strconv"
	"strings"
	"testing"
)

// longestPings returns PINGs of exactly 510 bytes (MaxLineLength with
// CRLF), the longest a server may send, in the shapes the parser accepts.
func longestPings() map[string]string {
	pad := func(head string, fill byte) string {
		return head + strings.Repeat(string(fill), maxContent-len(head))
	}
	var middles strings.Builder // 14 middle parameters
	for i := 1; i <= MaxParams-1; i++ {
		middles.WriteString(" p" + strconv.Itoa(i))
	}
	return map[string]string{
		"one trailing":             pad("PING :", 't'),
		"one middle":               pad("PING ", 'm'),
		"colon token":              pad("PING ::", 'c'),
		"prefix":                   pad(":irc.example PING :", 't'),
		"15th with colon":          pad("PING"+middles.String()+" :a b ", 'x'),
		"15th without colon":       pad("PING"+middles.String()+" a b ", 'x'),
		"15th one word":            pad("PING"+middles.String()+" ", 'w'),
		"15th spaced, runs":        pad("PING"+strings.ReplaceAll(middles.String(), " ", "  ")+" a  b ", 'x'),
		"two params":               pad("PING irc.example :", 'z'),
		"15th without colon, bare": "PING" + middles.String() + " " + strings.Repeat("x ", (maxContent-len("PING"+middles.String()+" "))/2),
	}
}

// TestClientPongLongestPing: every PING of the longest legal length gets a
// PONG, and the PONG fits in MaxLineLength. Before the fix a PING of 15
// parameters whose last one holds a space but was written without ':' (legal
// after 14 middle parameters, RFC 2812) got a PONG one byte too long (the
// ':' added to the trailing parameter), which Send refused: no PONG at all,
// and the server drops a client that does not answer its PINGs.
func TestClientPongLongestPing(t *testing.T) {
	for name, ping := range longestPings() {
		t.Run(name, func(t *testing.T) {
			if len(ping) > maxContent {
				t.Fatalf("test PING is %d bytes, over %d", len(ping), maxContent)
			}
			in, err := Parse([]byte(ping))
			if err != nil {
				t.Fatalf("Parse(PING): %v", err)
			}
			c, err := NewClient(Config{Nick: "bot"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			fs := startFake(t, c)
			fs.expect("NICK bot")
			fs.expect("USER bot 0 * bot")
			fs.send(ping, "PING :sync")
			line, err := fs.r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if len(line) > MaxLineLength {
				t.Fatalf("PONG is %d bytes, over %d", len(line), MaxLineLength)
			}
			out, err := Parse([]byte(line))
			if err != nil || out.Command != "PONG" {
				t.Fatalf("answer to the %d-byte PING: %q (%v), want a PONG", len(ping), line, err)
			}
			// The PONG carries the token: the last parameter of the PING.
			if got, want := out.Param(len(out.Params)-1), in.Param(len(in.Params)-1); got != want {
				t.Fatalf("PONG's last parameter %q, want the PING's %q", got, want)
			}
			fs.expect("PONG sync")
		})
	}
}

// TestPongFor: pongFor always gives a sendable PONG carrying the PING's
// last parameter, for PINGs of every length up to the limit.
func TestPongFor(t *testing.T) {
	var middles strings.Builder
	for i := 1; i <= MaxParams-1; i++ {
		middles.WriteString(" p" + strconv.Itoa(i))
	}
	for _, head := range []string{"PING", "PING :", "PING" + middles.String(), "PING" + middles.String() + " a ", "PING s1 "} {
		for n := len(head); n <= maxContent; n++ {
			ping := head + strings.Repeat("y", n-len(head))
			in, err := Parse([]byte(ping))
			if err != nil {
				t.Fatalf("Parse(%q): %v", ping, err)
			}
			out := pongFor(in)
			b, err := out.Append(nil)
			if err != nil {
				t.Fatalf("PONG for a %d-byte PING: %v", len(ping), err)
			}
			if len(b) > MaxLineLength {
				t.Fatalf("PONG for a %d-byte PING is %d bytes", len(ping), len(b))
			}
			if len(in.Params) > 0 && out.Param(len(out.Params)-1) != in.Param(len(in.Params)-1) {
				t.Fatalf("PONG %q lost the token of %q", b, ping)
			}
		}
	}
}
