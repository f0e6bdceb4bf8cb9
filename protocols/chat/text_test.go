package chat_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/protocols/chat"
)

// badTexts are chat lines that would reach the other clients' terminals
// with control characters or invalid UTF-8: erase the screen, set the
// window title, return to the start of the line or back over "<NAME> " to
// forge a sender, or a C1 control (CSI, NEL) that some terminals obey.
var badTexts = []string{
	"\x1b[2Jhi",                         // ESC: erase the screen
	"\x1b]0;pwned\x07",                  // OSC: window title, BEL
	"innocent\r<bob> evil",              // CR: overwrite the line, forge bob
	"ab\x08\x08\x08\x08\x08\x08<bob> x", // backspaces
	"x\u009b2Jy",                        // C1 CSI, as UTF-8
	"x\u0085y",                          // C1 NEL, as UTF-8
	"bad\xff",                           // invalid UTF-8
	"x\x9b2Jy",                          // a bare C1 byte: invalid UTF-8, CSI in 8-bit terminals
	"\xc0\xaf",                          // overlong "/"
	"\xed\xa0\x80",                      // a surrogate
	"nul\x00byte",                       // NUL
	"del\x7f",                           // DEL
	"bell\x07",                          // BEL
	"vt\x0bff\x0cend",                   // VT, FF
}

// TestTextControlCharsNotRelayed: a chat line holding a control character
// (other than TAB) or invalid UTF-8 is refused: the sender gets
// chat.MsgTextInvalid and no other client gets anything. Before, every such
// line was relayed as sent, so any client could drive the other clients'
// terminals (terminal injection). TAB, and UTF-8 text of any script, still
// pass.
func TestTextControlCharsNotRelayed(t *testing.T) {
	r := newRoom(t, nil)
	a := named(t, r, "ann")
	b := named(t, r, "bob")
	a.expect("bob has joined.")
	for _, text := range badTexts {
		a.say(text + "\r\n")
	}
	a.say("tab\tis fine, Zoë ✓ 日本語 \ufffd\n")
	b.expect("<ann> tab\tis fine, Zoë ✓ 日本語 \ufffd") // the next line: nothing before it reached bob
	for range badTexts {
		a.expect(chat.MsgTextInvalid)
	}
	// A name change, a command, still work after a refusal.
	a.say("\x1b[31mred\n/who\n")
	a.expect(chat.MsgTextInvalid, "Online: ann, bob")
}

// TestTextCheckNoAlloc: checking a line allocates nothing: a clean line to
// the room costs the 3 allocations it cost before the check (the line as a
// string, "<NAME> text", the line with "\r\n", whatever the number of
// listeners: BenchmarkRelay), and a refused line no more.
func TestTextCheckNoAlloc(t *testing.T) {
	for _, text := range badTexts {
		if utf8.ValidString(text) && !strings.ContainsFunc(text, func(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }) {
			t.Errorf("badTexts holds %q, which is neither invalid UTF-8 nor a control", text)
		}
	}
	var srv chat.Server
	ps := make([]weft.Protocol, 3)
	for i := range ps {
		ps[i] = srv.BuildProtocol(nil)
		ps[i].ConnectionMade(&testenv.LateTransport{})
		ps[i].DataReceived(fmt.Appendf(nil, "user%d\r\n", i))
	}
	for _, line := range [][]byte{[]byte("hello, Zoë ✓\tand a tab\r\n"), []byte("x\x1b[2Jy\r\n"), []byte("bad\xff\r\n"), []byte("\u202eevil\r\n")} {
		if n := testing.AllocsPerRun(100, func() { ps[0].DataReceived(line) }); n > 3 {
			t.Errorf("%q: %.0f allocations, want at most 3", line, n)
		}
	}
}

// badFormatTexts are chat lines holding a format character that changes how
// the text after it is displayed ("Trojan Source", CVE-2021-42574): the
// bidirectional embeddings, overrides and isolates (U+202A..U+202E,
// U+2066..U+2069), which reorder the rest of the line, the deprecated
// shaping and swapping controls U+206A..U+206F, and the interlinear
// annotation characters U+FFF9..U+FFFB, which may hide the text they
// enclose.
var badFormatTexts = []string{
	"\u202aLRE", "\u202bRLE", "x\u202cPDF", "\u202dLRO", "\u202eevil", // "live" to the reader
	"\u2066LRI", "\u2067RLI", "\u2068FSI", "x\u2069PDI",
	"price \u202e0001\u202c$", // an amount shown reversed
	"\u206aISS", "\u206bASS", "\u206cIAFS", "\u206dAAFS", "\u206eNADS", "\u206fNODS",
	"\ufff9hidden\ufffashown\ufffb",
}

// goodFormatTexts hold format characters that act only on their
// neighbours and that right-to-left and emoji text need: they are relayed.
var goodFormatTexts = []string{
	"\u05e9\u05dc\u05d5\u05dd 123\u200f!", // Hebrew, RLM
	"abc\u200e (LRM) \u061c (ALM)",
	"👩\u200d💻 ZWJ, می\u200cخواهم ZWNJ, zero\u200bwidth, \ufeffBOM",
}

// TestTextBidiControlsNotRelayed: a chat line holding a bidirectional
// embedding, override or isolate, a deprecated format control or an
// interlinear annotation character is refused like one holding a control
// character: the sender gets chat.MsgTextInvalid and no one else anything.
// Before, each was relayed, and a client could make its line display as
// something else in the others' terminals. The bidi marks (LRM, RLM, ALM),
// ZWJ, ZWNJ and the other format characters that act only on their
// neighbours still pass.
func TestTextBidiControlsNotRelayed(t *testing.T) {
	r := newRoom(t, nil)
	a := named(t, r, "ann")
	b := named(t, r, "bob")
	a.expect("bob has joined.")
	for _, text := range badFormatTexts {
		a.say(text + "\n")
	}
	for _, text := range goodFormatTexts {
		a.say(text + "\n")
	}
	for _, text := range goodFormatTexts {
		b.expect("<ann> " + text) // the first is the first line bob gets
	}
	for range badFormatTexts {
		a.expect(chat.MsgTextInvalid)
	}
}

// TestTextLineSeparatorsNotRelayed: a chat line holding U+2028 LINE
// SEPARATOR or U+2029 PARAGRAPH SEPARATOR is refused like one holding "\r"
// or "\n": a client that breaks the line there (they are line breaks) would
// show the rest as a line of its own, "<bob> ..." forged under another
// name. Before, both were relayed.
func TestTextLineSeparatorsNotRelayed(t *testing.T) {
	r := newRoom(t, nil)
	a := named(t, r, "ann")
	b := named(t, r, "bob")
	a.expect("bob has joined.")
	a.say("hello\u2028<bob> I agree\n")
	a.say("x\u2029<bob> y\n")
	a.say("fine\n")
	b.expect("<ann> fine") // the first line bob gets
	a.expect(chat.MsgTextInvalid, chat.MsgTextInvalid)
}
