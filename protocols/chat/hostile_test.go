package chat_test

import (
	"testing"

	"github.com/weftkit/weft/protocols/chat"
)

// named joins r and takes name.
func named(t *testing.T, r *room, name string) *user {
	t.Helper()
	u := r.join(t)
	u.expect(chat.MsgAskName)
	u.say(name + "\n")
	u.expect("Welcome, " + name + "!")
	return u
}

// TestNameCaseInsensitive: a name differing from one in use only by case is
// taken (commands already ignore case); before, "ALICE" could join next to
// "alice" and speak as her. A client may change the case of its own name.
func TestNameCaseInsensitive(t *testing.T) {
	r := newRoom(t, nil)
	a := named(t, r, "alice")
	b := r.join(t)
	b.expect(chat.MsgAskName)
	b.say("ALICE\n")
	b.expect(chat.MsgNameTaken)
	b.say("/name Alice\n")
	b.expect(chat.MsgNameTaken)
	b.say("bob\n")
	b.expect("Welcome, bob!")
	a.expect("bob has joined.")
	b.say("/name aLiCe\n")
	b.expect(chat.MsgNameTaken)
	a.say("/name alice\n") // its own name, unchanged: taken, as before
	a.expect(chat.MsgNameTaken)
	a.say("/name Alice\n")
	a.expect("alice is now known as Alice.")
	b.expect("alice is now known as Alice.")
	b.say("/who\n")
	b.expect("Online: Alice, bob")
}

// TestNameInvalid: a name with control characters (which could rewrite
// the other clients' screens: "\r", "\b", escape sequences), invalid UTF-8,
// or starting with "/" (a command, never a name) is refused with
// chat.MsgNameInvalid and changes nothing; before, each was accepted and
// announced to the room.
func TestNameInvalid(t *testing.T) {
	r := newRoom(t, nil)
	a := named(t, r, "ann")
	bad := []string{"evil\rann", "ann\b\b\bbob", "\x1b[2Jx", "a\x00b", "a\tb", "\xff\xfeok", "bo\xc3b", "x\u0085y"}
	b := r.join(t)
	b.expect(chat.MsgAskName)
	for _, n := range bad {
		b.say(n + "\n")
		b.expect(chat.MsgNameInvalid)
		b.say("/name " + n + "\n")
		b.expect(chat.MsgNameInvalid)
	}
	b.say("/name /quit\n")
	b.expect(chat.MsgNameInvalid)
	b.say("bob\n")
	b.expect("Welcome, bob!")
	a.expect("bob has joined.")
	for _, n := range append(bad, "/who") {
		b.say("/name " + n + "\n")
		b.expect(chat.MsgNameInvalid)
	}
	a.say("/who\n")
	a.expect("Online: ann, bob") // and nothing else reached ann
	// Names need not be ASCII.
	b.say("/name Zoë\n")
	b.expect("bob is now known as Zoë.")
	a.expect("bob is now known as Zoë.")
}

// TestQuitThenKeepsSending: what a client sends after "/quit", in the same
// write or later, reaches no one and cannot bring it back into the room.
func TestQuitThenKeepsSending(t *testing.T) {
	r := newRoom(t, nil)
	a := named(t, r, "ann")
	b := named(t, r, "bob")
	a.expect("bob has joined.")
	b.say("/quit\nghost line\n/name bob2\nbob3\n")
	b.expect(chat.MsgBye)
	_, _ = b.c.Write([]byte("later line\n/name bob4\n"))
	b.expectEOF()
	a.expect("bob has left.")
	a.say("/who\n")
	a.expect("Online: ann") // the next line: nothing of bob's reached ann
	if n := r.srv.Names(); len(n) != 1 || n[0] != "ann" {
		t.Errorf("room holds %q, want [ann]", n)
	}
}

// TestNameInvisibleCharsRefused: a name holding a character that shows as
// nothing or as a blank (a default-ignorable code point, or the braille
// blank) is refused with chat.MsgNameInvalid, as a first name and with
// "/name": "ann" followed by one looks like "ann" and would let a client
// speak as her. Format characters (ZWJ, ZWSP, the bidi controls and marks,
// tags) were refused already, as non-printing; before, the variation
// selectors, the combining grapheme joiner, the Khmer inherent vowels, the
// Hangul fillers and U+2800 were accepted.
func TestNameInvisibleCharsRefused(t *testing.T) {
	r := newRoom(t, nil)
	a := named(t, r, "ann")
	bad := []string{
		"ann\u200d", "ann\u200b", "a\u200cnn", "ann\u2060", "\ufeffann", "an\u00adn", "ann\U000e0041", // format (Cf)
		"ann\u200e", "ann\u200f", "ann\u061c", "\u202eann", "\u2066ann\u2069", // bidi (Cf)
		"ann\u034f",     // combining grapheme joiner
		"ann\ufe0f",     // variation selector 16
		"ann\U000e0100", // variation selector 17
		"ann\u180b",     // Mongolian free variation selector
		"ann\u17b4",     // Khmer vowel inherent AQ
		"ann\u3164",     // Hangul filler
		"\u115fann",     // Hangul choseong filler
		"ann\u1160",     // Hangul jungseong filler
		"ann\uffa0",     // halfwidth Hangul filler
		"\u3164",        // a name that shows as nothing
		"ann\u2800",     // braille pattern blank
	}
	b := named(t, r, "bob")
	a.expect("bob has joined.")
	for _, n := range bad {
		u := r.join(t)
		u.expect(chat.MsgAskName)
		u.say(n + "\n")
		if got, _ := u.rd.ReadString('\n'); got != chat.MsgNameInvalid+"\r\n" {
			t.Errorf("name %+q: got %q, want %q", n, got, chat.MsgNameInvalid+"\r\n")
		}
		u.c.Close()
		b.say("/name " + n + "\n")
		if got, _ := b.rd.ReadString('\n'); got != chat.MsgNameInvalid+"\r\n" {
			t.Fatalf("/name %+q: got %q, want %q", n, got, chat.MsgNameInvalid+"\r\n")
		}
	}
	a.say("/who\n")
	a.expect("Online: ann, bob") // and nothing else reached ann
	// Visible combining marks, and names of any script, pass (in NFC:
	// "Zoe" + U+0301 is refused since "Zoé" exists precomposed,
	// TestNameOneSpelling).
	b.say("/name Zo\u00e9 \ud55c\uad6d \u0939\u093f\u0928\u094d\u0926\u0940\n")
	a.expect("bob is now known as Zo\u00e9 \ud55c\uad6d \u0939\u093f\u0928\u094d\u0926\u0940.")
}

// TestNameLookAlike: a name wholly in Greek or Cyrillic that looks, letter
// for letter, like a name in use in another script ("аре" in Cyrillic for
// "ape") is taken, in either direction, at join and at /name, whatever the
// case of the Latin name; names that only share letters without looking
// the same ("вор" beside "BOP", "Вася") are not. A client may take the
// look-alike of its own name, and a name is free again once its client
// left.
func TestNameLookAlike(t *testing.T) {
	r := newRoom(t, nil)
	a := named(t, r, "ape")
	b := r.join(t)
	b.expect(chat.MsgAskName)
	for _, name := range []string{"аре", "АРЕ", "Аре"} { // Cyrillic
		b.say(name + "\n")
		b.expect(chat.MsgNameTaken)
	}
	b.say("BOP\n")
	b.expect("Welcome, BOP!")
	a.expect("BOP has joined.")
	c := r.join(t)
	c.expect(chat.MsgAskName)
	for _, name := range []string{"ВОР", "ΒΟΡ", "bop"} { // Cyrillic, Greek, Latin in another case
		c.say(name + "\n")
		c.expect(chat.MsgNameTaken)
	}
	c.say("вор\n") // lower-case Cyrillic в does not look like b
	c.expect("Welcome, вор!")
	a.expect("вор has joined.")
	b.expect("вор has joined.")
	c.say("/name АРЕ\n")
	c.expect(chat.MsgNameTaken)
	c.say("/name Вася\n")
	c.expect("вор is now known as Вася.")
	a.expect("вор is now known as Вася.")
	b.expect("вор is now known as Вася.")
	a.say("/name аре\n") // the look-alike of its own name
	a.expect("ape is now known as аре.")
	b.expect("ape is now known as аре.")
	b.say("/name ape\n") // taken still: its client is "аре" now, which looks the same
	b.expect(chat.MsgNameTaken)
	a.say("/quit\n")
	a.expect(chat.MsgBye)
	b.expect("аре has left.")
	b.say("/name ape\n")
	b.expect("BOP is now known as ape.")
}
