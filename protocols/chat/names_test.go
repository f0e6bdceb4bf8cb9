package chat_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft/protocols/chat"
)

// oneSpellingBad are names that display as another name spelled otherwise:
// not in Unicode NFC (a letter and a combining accent where a precomposed
// letter exists, a character NFC replaces: the Ohm, Kelvin and Angstrom
// signs, a CJK compatibility ideograph, a Greek letter with oxia, a
// Devanagari letter with nukta...), or in NFC but styled or ligated
// duplicates of letters (NFKC would fold them: mathematical alphanumerics,
// ligatures), or starting with a combining mark (which attaches to what
// comes before the name in "<NAME> ...").
var oneSpellingBad = []string{
	"Zoe\u0301",                      // Zoé, decomposed
	"Nguye\u0302\u0303n",             // Nguyễn, decomposed
	"\u00ea\u0323",                   // ệ, half composed, marks out of order
	"\u2126hm",                       // OHM SIGN: NFC is Ω
	"\u212bngstrom",                  // ANGSTROM SIGN: NFC is Å
	"\u212aate",                      // KELVIN SIGN: NFC is K
	"\u304b\u3099",                   // が, decomposed
	"\u1112\u1161\u11ab",             // 한 in conjoining jamo
	"\u0627\u0654",                   // Arabic alef with hamza above, decomposed
	"\u0928\u093c",                   // Devanagari NNNA, decomposed
	"\u0bc6\u0bbe",                   // Tamil vowel sign O, decomposed
	"\uf900",                         // CJK compatibility ideograph: NFC is U+8C48
	"\u1f71lpha",                     // GREEK SMALL LETTER ALPHA WITH OXIA: NFC is ά
	"\u0958x",                        // DEVANAGARI LETTER QA: NFC is क + nukta
	"a=\u0338b",                      // a≠b, decomposed
	"\U0001d5ba\U0001d5c7\U0001d5c7", // "ann" in mathematical sans-serif
	"\ufb01ona",                      // "fi" ligature
	"\u0132sbrand",                   // "IJ" ligature
	"\u0301ann",                      // starts with a combining mark
	"ann \u0301",                     // a combining mark on the space
	"\uff41nn",                       // fullwidth "a": NFKC is "a"
	"ann\uff01",                      // fullwidth "!"
	"\uff76\uff85",                   // halfwidth katakana: NFKC is カナ
	"p\u0430ypal",                    // Cyrillic "а" among Latin letters
	"\u0430dmin",                     // Cyrillic "а" first, Latin after
	"\u03bfmega",                     // Greek omicron among Latin letters
	"\u0412\u03b1\u0441\u044f",       // Cyrillic and Greek letters mixed
}

// TestNameOneSpelling: a name that displays as another spelled otherwise
// (oneSpellingBad) is refused with chat.MsgNameInvalid, as a first name and
// with "/name", so that "Zoé" typed precomposed (as keyboards type it)
// cannot be joined by "Zoe" + U+0301, which looks the same; before, each
// was accepted, next to the name it looks like. Names in NFC of any script,
// combining marks included where no precomposed letter exists, pass.
func TestNameOneSpelling(t *testing.T) {
	r := newRoom(t, nil)
	a := named(t, r, "Zoé")
	b := named(t, r, "bob")
	a.expect("bob has joined.")
	for _, n := range oneSpellingBad {
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
	a.expect("Online: Zoé, bob") // and nothing else reached Zoé
	for _, n := range []string{"한국", "हिन्दी", "Ελένη", "がく", "أحمد", "שָׁלוֹם", "Nguyễn", "Ñandú", "Đặng", "ஸ்ரீ", "Zoë ✓ 日本語",
		"Вася", "Вася 2", "Ann 日本", "ann-7 ✓"} { // one of Latin, Greek, Cyrillic per name; symbols and other scripts beside
		b.say("/name " + n + "\n")
		b.expect("bob is now known as " + n + ".")
		a.expect("bob is now known as " + n + ".")
		b.say("/name bob\n")
		b.expect(n + " is now known as bob.")
		a.expect(n + " is now known as bob.")
	}
}

// TestCommandSpacing: a command's argument may follow it after spaces or
// TABs, and spaces or TABs around the line are ignored; before, a TAB after
// the command was taken as part of its name ("Unknown command /name\tbob.").
func TestCommandSpacing(t *testing.T) {
	r := newRoom(t, nil)
	a := r.join(t)
	a.expect(chat.MsgAskName)
	a.say("\t/name\tann \r\n")
	a.expect("Welcome, ann!")
	for _, l := range []string{"/who\tall\n", "/WHO \t\n", "/who \t x\n"} {
		a.say(l)
		a.expect("Online: ann")
	}
	a.say("/name \t bob\t\n")
	a.expect("ann is now known as bob.")
	a.say("/name\t\tcat\n")
	a.expect("bob is now known as cat.")
	a.say("/quit\tnow\n")
	a.expect(chat.MsgBye)
	a.expectEOF()
}

// TestNameRace: clients claiming one name at once (in different cases,
// first names and "/name" changes mixed) are served one at a time: exactly
// one gets it, every other gets chat.MsgNameTaken, and the room holds it
// once.
func TestNameRace(t *testing.T) {
	r := newRoom(t, nil)
	const n = 16
	us := make([]*user, n)
	for i := range us {
		us[i] = r.join(t)
		us[i].expect(chat.MsgAskName)
		if i%2 == 1 { // half of them change their name rather than choose it
			us[i].say(fmt.Sprintf("u%d\n", i))
			us[i].expect(fmt.Sprintf("Welcome, u%d!", i))
		}
	}
	for i := 1; i < n; i += 2 { // drain the joins each heard
		for j := i + 2; j < n; j += 2 {
			us[i].expect(fmt.Sprintf("u%d has joined.", j))
		}
	}
	claims := []string{"ann\n", "/name Ann\n", "ANN\n", "/NAME aNN\n"} // odd: named already
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, u := range us {
		wg.Go(func() {
			<-start
			_, _ = u.c.Write([]byte(claims[i%len(claims)]))
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, u := range us {
		_ = u.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			l, err := u.rd.ReadString('\n')
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			if l == chat.MsgNameTaken+"\r\n" {
				break
			}
			if strings.HasPrefix(l, "Welcome, ") || strings.HasPrefix(l, fmt.Sprintf("u%d is now known as ", i)) {
				won++
				break
			}
			// another's join or rename, heard before its own answer
		}
	}
	names := r.srv.Names()
	annCount := 0
	for _, nm := range names {
		if strings.EqualFold(nm, "ann") {
			annCount++
		}
	}
	if won != 1 || annCount != 1 {
		t.Errorf("%d clients got the name, the room holds it %d times (%q); want 1 and 1", won, annCount, names)
	}
}

// TestNameTooLong: a name over chat.MaxNameLength bytes (of UTF-8) is
// refused with chat.MsgNameTooLong, as a first name and with "/name", and
// changes nothing; a name of exactly the limit is taken. Before, any name
// up to the 16 KiB line limit was taken, and every line its client sent,
// however short, reached each listener 16 KiB long (and "/who" grew by
// 16 KiB per such client).
func TestNameTooLong(t *testing.T) {
	if !strings.Contains(chat.MsgNameTooLong, fmt.Sprint(" ", chat.MaxNameLength, " ")) {
		t.Fatalf("MsgNameTooLong %q does not name the limit %d", chat.MsgNameTooLong, chat.MaxNameLength)
	}
	r := newRoom(t, nil)
	a := named(t, r, "ann")
	b := r.join(t)
	b.expect(chat.MsgAskName)
	tooLong := []string{
		strings.Repeat("n", chat.MaxNameLength+1),
		strings.Repeat("é", chat.MaxNameLength/2) + "x", // 2 bytes each
		strings.Repeat("n", 16<<10-len("/name ")),       // as long as a line allows
	}
	for _, n := range tooLong {
		b.say(n + "\n")
		b.expect(chat.MsgNameTooLong)
	}
	longest := strings.Repeat("é", chat.MaxNameLength/2)
	b.say("/name " + longest + "\n")
	b.expect("Welcome, " + longest + "!")
	a.expect(longest + " has joined.")
	for _, n := range tooLong {
		b.say("/name " + n + "\n")
		b.expect(chat.MsgNameTooLong)
	}
	b.say("/name " + strings.Repeat("m", chat.MaxNameLength) + "\n")
	a.expect(longest + " is now known as " + strings.Repeat("m", chat.MaxNameLength) + ".")
	a.say("/who\n")
	a.expect("Online: ann, " + strings.Repeat("m", chat.MaxNameLength))
}

// TestNameNoBrackets: a name holding "<" or ">" is refused with
// chat.MsgNameInvalid, as a first name and with "/name": every chat line is
// relayed as "<NAME> text", and a client named "ann> I quit." would have
// each of its lines shown as "<ann> I quit.> ...", as if ann had said it.
// Before, such names were taken.
func TestNameNoBrackets(t *testing.T) {
	r := newRoom(t, nil)
	a := named(t, r, "ann")
	b := named(t, r, "bob")
	a.expect("bob has joined.")
	for _, n := range []string{"ann> I quit.", "ann>", "<ann", "a<b>c", ">"} {
		u := r.join(t)
		u.expect(chat.MsgAskName)
		u.say(n + "\n")
		if got, _ := u.rd.ReadString('\n'); got != chat.MsgNameInvalid+"\r\n" {
			t.Errorf("name %q: got %q, want %q", n, got, chat.MsgNameInvalid+"\r\n")
		}
		u.c.Close()
		b.say("/name " + n + "\n")
		b.expect(chat.MsgNameInvalid)
	}
	a.say("/who\n")
	a.expect("Online: ann, bob")
}

// TestNameNoDoubleSpace: a name holding two spaces in a row is refused with
// chat.MsgNameInvalid: "ann  lee" shows almost as "ann lee", which it would
// be a different name from. Before, it was taken next to "ann lee".
func TestNameNoDoubleSpace(t *testing.T) {
	r := newRoom(t, nil)
	a := named(t, r, "ann lee")
	u := r.join(t)
	u.expect(chat.MsgAskName)
	u.say("ann  lee\n")
	u.expect(chat.MsgNameInvalid)
	u.say("/name ann \u00a0lee\n") // NO-BREAK SPACE: not printable in a name already
	u.expect(chat.MsgNameInvalid)
	u.say("ann lee 2\n")
	u.expect("Welcome, ann lee 2!")
	a.expect("ann lee 2 has joined.")
}
