package chat_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/protocols/chat"
)

// TestChatProperty is a randomized model-based test of the chat room. Each
// seed draws a population of clients (see propDraw) that connect at random
// times over loopback TCP or net.Pipe, choose names (valid, empty, invalid,
// over-long, case and Cyrillic look-alikes of other names, exact duplicates
// of a name in use), chat (valid, empty, invalid and over-long lines, every
// command), read at their own pace (some stop reading) and leave (/quit,
// /exit, an over-long line, a close, a reset, a half-close), while a few
// "stayers" stay to the end and then quit one at a time.
//
// The oracle (propCheck) follows the package doc. Each client's stream is
// walked against what it sent (propWalk): the greeting, and the exact
// answer to each line (the prompt again, MsgNameInvalid, MsgNameTooLong,
// "Welcome, NAME!" or MsgNameTaken, MsgTextInvalid, the usage, "Unknown
// command /x.", "Online: ...", "Bye." or "Line too long..." as the last
// line), in order, CRLF-ended, with the room's lines between them; no line
// of its own comes back, no room line comes twice or before its name. All
// room events (a join, a rename, a chat line, a leave, a "Name taken" to a
// named client) happen in one global order, and propMerge searches for it:
// a client is present from its "Welcome" to its "NAME has left." and must
// get every room event in between that the doc sends it, in that order,
// unaltered, except that its stream may end early when its connection was
// closing (its own close, reset or half-close, /quit, an over-long line, a
// drop as a slow consumer, a stall in reading): what it got is then a
// prefix (with a partial last line only if it closed itself or was
// dropped). The stayers must get every event until they quit; stayers and
// half-closers every answer. Its own chat lines come after what it got
// before the answer to an earlier line and before what it got after the
// answer to a later one. Each join, rename and "Name taken" is checked
// against the names in the room at its place in the order (case folded,
// Cyrillic look-alikes folded), each "Online:" list against the room
// between its client's last own event and the next event it got, and each
// chat line against what its sender sent, in the order sent. Where no one
// could have seen a join, rename or leave (an empty room, a client that
// read nothing), the merge supplies it ("implied").
//
// WEFT_CHAT_PROP_SEED=n runs one seed; WEFT_CHAT_PROP_RUNS=n runs n seeds
// from WEFT_CHAT_PROP_BASE (a number, or "time" for a clock-based base).
func TestChatProperty(t *testing.T) {
	for _, seed := range testenv.Seeds(t, "WEFT_CHAT_PROP", 30, 30) {
		if !t.Run(fmt.Sprint(seed), func(t *testing.T) { propRun(t, seed) }) {
			t.Logf("rerun: WEFT_CHAT_PROP_SEED=%d go test -race -count=1 -run 'TestChatProperty' ./protocols/chat/", seed)
		}
	}
}

// The letters that have Cyrillic look-alikes in the server's table, both
// cases: names made of them have look-alike spellings.
const propLatin = "aceopxy"

var propCyrLower = []rune("асеорху")
var propCyrUpper = []rune("АСЕОРХУ")

// propBase is client i's own name: unique, made of propLatin letters.
func propBase(i int) string {
	b := []byte("yapex")
	for {
		b = append(b, propLatin[i%7])
		i /= 7
		if i == 0 {
			break
		}
	}
	return string(b)
}

// propCaseVariant is name (propLatin letters) with the letters in the
// positions of pattern's bits upper-cased.
func propCaseVariant(name string, pattern int) string {
	b := []byte(name)
	for i := range b {
		if pattern>>i&1 == 1 {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

// propCyrVariant is name (propLatin letters) spelled in Cyrillic, upper
// case in pattern's bits.
func propCyrVariant(name string, pattern int) string {
	var b strings.Builder
	for i := range len(name) {
		k := strings.IndexByte(propLatin, name[i])
		if pattern>>i&1 == 1 {
			b.WriteRune(propCyrUpper[k])
		} else {
			b.WriteRune(propCyrLower[k])
		}
	}
	return b.String()
}

// propLookKey is the model's key of a name: names with the same key may not
// be in the room at once (case folded; the Cyrillic letters the generator
// uses read as their Latin look-alikes).
func propLookKey(name string) string {
	var b strings.Builder
	for _, r := range name {
		if k := slices.Index(propCyrLower, r); k >= 0 {
			r = rune(propLatin[k])
		} else if k := slices.Index(propCyrUpper, r); k >= 0 {
			r = rune(propLatin[k])
		}
		b.WriteRune(r)
	}
	return strings.ToLower(strings.ToUpper(b.String()))
}

// Refused names and texts, non-ASCII or not: the model knows their answers
// by construction.
var (
	propBadNames = []string{"a<b", "x>y", "ann  lee", "Zoe\u0301", "a\u200db", "p\u0430ypal", "tab\there", "\u212aate", "ｂob", "bell\x07"}
	propBadTexts = []string{"\x1b[2Jhi", "innocent\r<bob> evil", "bad\xff", "x\u009b2Jy", "\u202eevil", "del\x7f", "a\u2028b"}
	propOKTexts  = []string{"zwj \U0001F469\u200d\U0001F4BB ok", "rlm \u200f ok", "tab\tok", "trailing  \t", "é ü 日本"}
)

type leaveMode int

const (
	leaveStay  leaveMode = iota // stays to the end, then /quit
	leaveQuit                   // "/quit" or "/exit"
	leaveLong                   // an over-long line
	leaveClose                  // Close
	leaveReset                  // SetLinger(0), Close (TCP)
	leaveHalf                   // CloseWrite, read to the end (TCP)
	leaveModes
)

var leaveNames = [...]string{"stay", "quit", "long", "close", "reset", "half"}

// propClient is one drawn client and what became of it.
type propClient struct {
	id        int
	base      string
	pipe      bool
	start     time.Duration
	leave     leaveMode
	stopRead  int           // > 0: stop reading this many lines after "Welcome"
	readPause time.Duration // after each read
	steps     []propStep

	// Filled by the run.
	mu       sync.Mutex
	sent     []string // the lines sent, without their "\n"
	got      []byte
	welcomed bool
	serveErr error
}

// propStep is one line to send, after a pause.
type propStep struct {
	pause time.Duration
	line  string // without "\n"; "\x00dup" means a stayer's name if it has one
	crlf  bool
}

const propDupStayer = "\x00dup"

func propDraw(rng *rand.Rand) (cs []*propClient, mwb int) {
	n := 3 + rng.IntN(10)
	stayers := 1 + rng.IntN(2)
	mwb = []int{1 << 10, 4 << 10, 64 << 10, 1 << 20}[rng.IntN(4)]
	for i := range n {
		c := &propClient{id: i, base: propBase(i)}
		c.pipe = rng.IntN(3) == 0
		c.start = time.Duration(rng.IntN(40)) * time.Millisecond
		if i < stayers {
			c.leave, c.start = leaveStay, 0
		} else {
			c.leave = leaveMode(1 + rng.IntN(int(leaveModes)-1))
			if c.pipe && (c.leave == leaveReset || c.leave == leaveHalf) {
				c.leave = leaveClose
			}
			if rng.IntN(3) == 0 {
				c.readPause = time.Duration(rng.IntN(2000)) * time.Microsecond
			}
			if rng.IntN(4) == 0 {
				c.stopRead = rng.IntN(6)
				if !c.pipe {
					c.stopRead++ // TCP: only the kernel's buffer fills; a cut view
				}
			}
		}
		var cyrUsed, caseUsed bool
		other := func() string { return propBase(rng.IntN(n)) }
		step := func(line string) {
			c.steps = append(c.steps, propStep{pause: time.Duration(rng.IntN(3000)) * time.Microsecond, line: line, crlf: rng.IntN(2) == 0})
		}
		variant := func() (string, bool) {
			switch {
			case !caseUsed && rng.IntN(2) == 0:
				caseUsed = true
				return propCaseVariant(other(), 1+i), true // one spelling per client
			case !cyrUsed:
				cyrUsed = true
				return propCyrVariant(other(), i), true
			}
			return "", false
		}
		// Choosing a name; a line the room may get is sent once (if the
		// name is taken before, it is a chat line).
		used := map[string]bool{}
		junk := func(list []string) {
			if l := list[rng.IntN(len(list))]; !used[l] {
				used[l] = true
				step(l)
			}
		}
		for range rng.IntN(4) {
			switch rng.IntN(9) {
			case 0:
				step("")
			case 1:
				step("   ")
			case 2:
				junk(propBadNames)
			case 3:
				junk([]string{strings.Repeat("n", chat.MaxNameLength+1+rng.IntN(3))})
			case 4:
				if v, ok := variant(); ok {
					step(v)
				}
			case 5:
				if i >= stayers && !used[propDupStayer] {
					used[propDupStayer] = true
					step(propDupStayer)
				}
			case 6:
				step([]string{"/who", "/frob", "/name", "/NAME   "}[rng.IntN(4)])
			case 7:
				step(propBadTexts[rng.IntN(len(propBadTexts))])
			case 8:
				step(fmt.Sprintf("m%d.%d early", i, len(c.steps)))
			}
		}
		if rng.IntN(3) == 0 {
			step("/name " + c.base)
		} else {
			step(c.base)
		}
		// Talking.
		renames := 0
		for k := range rng.IntN(16) {
			switch r := rng.IntN(20); {
			case r < 10:
				step(fmt.Sprintf("m%d.%d hello %s", i, k, strings.Repeat("z", rng.IntN(40))))
			case r == 10:
				step("")
			case r == 11:
				step(propBadTexts[rng.IntN(len(propBadTexts))])
			case r == 12:
				step(fmt.Sprintf("m%d.%d %s", i, k, propOKTexts[rng.IntN(len(propOKTexts))]))
			case r == 13:
				step("/who")
			case r == 14 && i >= stayers:
				renames++
				step(fmt.Sprintf("/name %s%d", c.base, renames))
			case r == 15 && i >= stayers:
				if v, ok := variant(); ok {
					step("/Name " + v)
				}
			case r == 16:
				step([]string{"/name", "/frob x", "/NAME \t"}[rng.IntN(3)])
			case r == 17:
				step(fmt.Sprintf("m%d.%d %s", i, k, propBadNames[rng.IntN(len(propBadNames))])) // as text: relayed or refused
			case r == 18 && i >= stayers:
				step("/name " + c.base + strconv.Itoa(renames)) // the same name, or the first
			default:
				step(fmt.Sprintf("m%d.%d x", i, k))
			}
		}
		switch c.leave {
		case leaveQuit:
			step([]string{"/quit", "/exit", "/QUIT", "/Exit \t"}[rng.IntN(4)])
			if rng.IntN(2) == 0 {
				step(fmt.Sprintf("m%d.after quit", i)) // never processed
			}
		case leaveLong:
			step(strings.Repeat("L", codec.DefaultMaxLineLength+1+rng.IntN(200)))
		}
		cs = append(cs, c)
	}
	return cs, mwb
}

// propServer serves one chat.Server and records each connection's end.
type propServer struct {
	srv  chat.Server
	opts *weft.Options
	wg   sync.WaitGroup
	mu   sync.Mutex
	ends map[string]error // by the client's address
}

// serve serves conn, recording its end under key.
func (ps *propServer) serve(conn net.Conn, key string) {
	ps.wg.Add(1)
	go func() {
		defer ps.wg.Done()
		err := weft.Serve(conn, ps.srv.BuildProtocol(conn.RemoteAddr()), ps.opts)
		ps.mu.Lock()
		ps.ends[key] = err
		ps.mu.Unlock()
	}()
}

// ended reports whether the connection of key was served to its end.
func (ps *propServer) ended(key string) (error, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	err, ok := ps.ends[key]
	return err, ok
}

func propRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	cs, mwb := propDraw(rng)
	deadline := time.Now().Add(30 * time.Second)
	ps := &propServer{opts: &weft.Options{HighWater: mwb / 2, MaxWriteBuffer: mwb}, ends: map[string]error{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var acceptWG sync.WaitGroup
	acceptWG.Add(1)
	go func() {
		defer acceptWG.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ps.serve(c, c.RemoteAddr().String())
		}
	}()
	keys := make([]string, len(cs))
	var keysMu sync.Mutex
	keyOf := func(i int) string {
		keysMu.Lock()
		defer keysMu.Unlock()
		return keys[i]
	}
	waitEnd := func(i int) {
		for time.Now().Before(deadline) {
			if k := keyOf(i); k != "" {
				if _, ok := ps.ended(k); ok {
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
		t.Errorf("seed %d: client %d's connection (%q) not over after 30 s", seed, i, keyOf(i))
		if os.Getenv("WEFT_CHAT_PROP_STACKS") != "" {
			buf := make([]byte, 1<<20)
			t.Logf("%s", buf[:runtime.Stack(buf, true)])
		}
	}
	stayerName := func() (string, bool) {
		for _, c := range cs {
			if c.leave == leaveStay {
				c.mu.Lock()
				ok := c.welcomed
				c.mu.Unlock()
				if ok {
					return c.base, true
				}
			}
		}
		return "", false
	}

	var clientsWG sync.WaitGroup
	readDone := make([]chan struct{}, len(cs))
	stayerGo := make([]chan struct{}, len(cs))
	for i, c := range cs {
		readDone[i] = make(chan struct{})
		stayerGo[i] = make(chan struct{})
		clientsWG.Add(1)
		go func() {
			defer clientsWG.Done()
			time.Sleep(c.start)
			var conn net.Conn
			if c.pipe {
				a, b := net.Pipe()
				key := fmt.Sprintf("pipe %d", i)
				keysMu.Lock()
				keys[i] = key
				keysMu.Unlock()
				ps.serve(b, key)
				conn = a
			} else {
				var err error
				if conn, err = net.Dial("tcp", ln.Addr().String()); err != nil {
					t.Errorf("client %d: %v", c.id, err)
					close(readDone[i])
					return
				}
				keysMu.Lock()
				keys[i] = conn.LocalAddr().String()
				keysMu.Unlock()
			}
			_ = conn.SetDeadline(deadline)
			stopRead := make(chan struct{})
			go func() {
				defer close(readDone[i])
				buf := make([]byte, 1+rng2(c.id, 300))
				after, stalled := -1, false
				for {
					n, err := conn.Read(buf)
					c.mu.Lock()
					c.got = append(c.got, buf[:n]...)
					if !c.welcomed && bytes.Contains(c.got, []byte("\nWelcome, "+c.base+"!\r\n")) {
						c.welcomed = true
					}
					if c.welcomed && after < 0 {
						after = bytes.Count(c.got, []byte("\n"))
					}
					lines := bytes.Count(c.got, []byte("\n"))
					c.mu.Unlock()
					if err != nil {
						return
					}
					if c.stopRead > 0 && after >= 0 && lines-after >= c.stopRead && !stalled {
						// Stops reading until the client leaves, or for a
						// while (a net.Pipe writer would wait for ever).
						stalled = true
						select {
						case <-stopRead:
						case <-time.After(time.Duration(100+rng2(c.id, 200)) * time.Millisecond):
						}
					}
					if c.readPause > 0 {
						time.Sleep(c.readPause)
					}
				}
			}()
			for _, st := range c.steps {
				time.Sleep(st.pause)
				line := st.line
				if line == propDupStayer {
					var ok bool
					if line, ok = stayerName(); !ok {
						continue
					}
				}
				c.mu.Lock()
				c.sent = append(c.sent, line)
				c.mu.Unlock()
				end := "\n"
				if st.crlf {
					end = "\r\n"
				}
				if _, err := conn.Write([]byte(line + end)); err != nil {
					break // closed by the server: /quit, over-long line, slow consumer
				}
			}
			switch c.leave {
			case leaveStay:
				<-stayerGo[i]
				c.mu.Lock()
				c.sent = append(c.sent, "/quit")
				c.mu.Unlock()
				_, _ = conn.Write([]byte("/quit\n"))
			case leaveQuit, leaveLong:
				if c.stopRead > 0 {
					time.Sleep(5 * time.Millisecond)
					conn.Close()
				}
			case leaveClose:
				time.Sleep(time.Duration(rng2(c.id, 5)) * time.Millisecond)
				conn.Close()
			case leaveReset:
				_ = conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			case leaveHalf:
				_ = conn.(*net.TCPConn).CloseWrite()
				if c.stopRead > 0 {
					time.Sleep(5 * time.Millisecond)
					conn.Close()
				}
			}
			close(stopRead)
			<-readDone[i]
			conn.Close()
		}()
	}
	// The stayers leave once every other connection is over, one at a time.
	for i, c := range cs {
		if c.leave != leaveStay {
			waitEnd(i)
		}
	}
	for i, c := range cs {
		if c.leave == leaveStay {
			close(stayerGo[i])
			<-readDone[i]
			waitEnd(i)
		}
	}
	clientsWG.Wait()
	ln.Close()
	acceptWG.Wait()
	ps.wg.Wait()
	if time.Now().After(deadline) {
		t.Errorf("seed %d: not over within 30 s", seed)
	}
	for i, c := range cs {
		c.serveErr, _ = ps.ended(keys[i])
	}
	if n := ps.srv.Names(); len(n) != 0 {
		t.Errorf("seed %d: the room still holds %q", seed, n)
	}
	if err := propCheck(cs); err != nil {
		var b strings.Builder
		for _, c := range cs {
			fmt.Fprintf(&b, "client %d %s pipe=%v leave=%s stopRead=%d serve=%v\n  sent %q\n  got  %q\n",
				c.id, c.base, c.pipe, leaveNames[c.leave], c.stopRead, c.serveErr, c.sent, c.got)
		}
		t.Errorf("seed %d (MaxWriteBuffer %d): %v\n%s", seed, mwb, err, b.String())
	}
}

// rng2 is a small deterministic draw for a client's goroutines, which must
// not share the seed's generator.
func rng2(id, n int) int { return (id*7919 + 13) % n }

// propValidName is the doc's name rule over the alphabet the generator
// uses: printable text, no "<" or ">", not "/" first, no two spaces in a
// row, no format, control or invisible character, in NFC without styled,
// fullwidth or combining spellings, letters of one of Latin, Greek and
// Cyrillic. It panics on a character the model does not know.
func propValidName(name string) bool {
	if !utf8.ValidString(name) || strings.HasPrefix(name, "/") || strings.ContainsAny(name, "<>") || strings.Contains(name, "  ") {
		return false
	}
	latin, cyr := false, false
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			return false
		case r < 0x80:
			if 'a' <= r|0x20 && r|0x20 <= 'z' {
				latin = true
			}
		case r == 'é' || r == 'ü':
			latin = true
		case slices.Contains(propCyrLower, r) || slices.Contains(propCyrUpper, r):
			cyr = true
		case r == '日' || r == '本' || r == '\U0001F469' || r == '\U0001F4BB':
		case r == 0x200d, r == 0x200f, r == 0x202e, r == 0x2028, r == 0x0301, r == 0x212a, r == 0xff42:
			return false // ZWJ, RLM, RLO, LS: format or invisible; a combining mark after a Latin letter; Kelvin; fullwidth
		default:
			panic(fmt.Sprintf("the model does not know %U in name %q", r, name))
		}
	}
	return !(latin && cyr)
}

// propValidText is the doc's chat-line rule: UTF-8 without control
// characters other than TAB (C0, DEL, C1), line or paragraph separators,
// and the format characters that span the text after them.
func propValidText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' || r >= 0x7f && r < 0xa0 || r == 0x2028 || r == 0x2029 ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x206f || r >= 0xfff9 && r <= 0xfffb {
			return false
		}
	}
	return true
}

// Expectation kinds: the answer to the next line a client sent.
const (
	exExact    = iota // exactly s
	exEnd             // exactly s, and nothing after it
	exName            // "Welcome, NAME!" or MsgNameTaken
	exRename          // "OLD is now known as NEW." or MsgNameTaken
	exWho             // "Online: ..."
	exNoAnswer        // (internal: the line has no answer)
)

type propExpect struct {
	kind      int
	s         string
	name, old string
	input     int // index in sent
}

// propWalker follows one client's input through the doc's rules.
type propWalker struct {
	c     *propClient
	k     int // next input
	named bool
	name  string
	greet bool
	ended bool
	last  string // key of its last own room event (chat line included)
	ownM  []propOwn
}

// propOwn is a chat line of the client's own, and the input it was.
type propOwn struct {
	key   string
	input int
}

// next returns what the server must answer to the next input that has an
// answer, recording the chat lines before it.
func (w *propWalker) next() (propExpect, bool) {
	if !w.greet {
		w.greet = true
		return propExpect{kind: exExact, s: chat.MsgAskName, input: -1}, true
	}
	for !w.ended && w.k < len(w.c.sent) {
		raw := w.c.sent[w.k]
		k := w.k
		w.k++
		if len(raw) > codec.DefaultMaxLineLength {
			w.ended = true
			return propExpect{kind: exEnd, s: fmt.Sprintf("Line too long: the limit is %d bytes. Bye.", codec.DefaultMaxLineLength), input: k}, true
		}
		line := strings.TrimRight(raw, " \t\r")
		if !w.named && !strings.HasPrefix(strings.TrimSpace(line), "/") {
			return w.choose(strings.TrimSpace(line), k), true
		}
		if strings.HasPrefix(line, "/") || !w.named {
			cmd, arg := strings.TrimSpace(line)[1:], ""
			if i := strings.IndexAny(cmd, " \t"); i >= 0 {
				cmd, arg = cmd[:i], cmd[i+1:]
			}
			arg = strings.TrimSpace(arg)
			switch strings.ToLower(cmd) {
			case "name":
				switch {
				case arg == "":
					return propExpect{kind: exExact, s: chat.MsgNameUsage, input: k}, true
				case !w.named:
					return w.choose(arg, k), true
				case len(arg) > chat.MaxNameLength:
					return propExpect{kind: exExact, s: chat.MsgNameTooLong, input: k}, true
				case !propValidName(arg):
					return propExpect{kind: exExact, s: chat.MsgNameInvalid, input: k}, true
				case arg == w.name:
					return propExpect{kind: exExact, s: chat.MsgNameTaken, input: k}, true
				}
				return propExpect{kind: exRename, old: w.name, name: arg, input: k}, true
			case "who":
				return propExpect{kind: exWho, input: k}, true
			case "quit", "exit":
				w.ended = true
				return propExpect{kind: exEnd, s: chat.MsgBye, input: k}, true
			}
			return propExpect{kind: exExact, s: "Unknown command /" + strings.ToLower(cmd) + ".", input: k}, true
		}
		if line == "" {
			continue
		}
		if !propValidText(line) {
			return propExpect{kind: exExact, s: chat.MsgTextInvalid, input: k}, true
		}
		w.last = "M:" + w.name + "\x00" + line
		w.ownM = append(w.ownM, propOwn{w.last, k})
	}
	return propExpect{}, false
}

func (w *propWalker) choose(name string, k int) propExpect {
	switch {
	case name == "":
		return propExpect{kind: exExact, s: chat.MsgAskName, input: k}
	case len(name) > chat.MaxNameLength:
		return propExpect{kind: exExact, s: chat.MsgNameTooLong, input: k}
	case !propValidName(name):
		return propExpect{kind: exExact, s: chat.MsgNameInvalid, input: k}
	}
	return propExpect{kind: exName, name: name, input: k}
}

// propBroadcast returns the room event key of a line that is another
// client's event ("" if it is an answer to the client's own input).
func propBroadcast(line string, w *propWalker) string {
	switch {
	case strings.HasPrefix(line, "<"):
		if i := strings.Index(line, "> "); i > 0 {
			return "M:" + line[1:i] + "\x00" + line[i+2:]
		}
		return "?" + line
	case strings.HasSuffix(line, " has joined."):
		return "J:" + strings.TrimSuffix(line, " has joined.")
	case strings.HasSuffix(line, " has left."):
		return "L:" + strings.TrimSuffix(line, " has left.")
	case strings.Contains(line, " is now known as ") && strings.HasSuffix(line, "."):
		if w.named && strings.HasPrefix(line, w.name+" is now known as ") {
			return ""
		}
		old, nw, _ := strings.Cut(strings.TrimSuffix(line, "."), " is now known as ")
		return "R:" + old + "\x00" + nw
	}
	return ""
}

// propView is what the walk of one client found.
type propView struct {
	obs      []string // room event keys, in the order received
	whos     []propWho
	taken    []string // names refused as taken before it had a name
	tNames   map[string]string
	strict   bool // must get every room event while present
	joinedAs string
	before   [][2]string // {a, b}: a must come before b

}

type propWho struct {
	list    string
	lastOwn string // key of its last own room event before the /who
	obsIdx  int    // obs index of the first event after the answer
}

func propCheck(cs []*propClient) error {
	views := make([]*propView, len(cs))
	for i, c := range cs {
		v, err := propWalk(c)
		if err != nil {
			return fmt.Errorf("client %d: %w", c.id, err)
		}
		views[i] = v
	}
	return propMerge(cs, views)
}

func propSlow(c *propClient) bool { return errors.Is(c.serveErr, weft.ErrSlowConsumer) }

func propWalk(c *propClient) (*propView, error) {
	v := &propView{tNames: map[string]string{}}
	slow := propSlow(c)
	v.strict = c.leave == leaveStay && c.stopRead == 0 && !slow
	complete := (c.leave == leaveStay || c.leave == leaveHalf || c.leave == leaveQuit || c.leave == leaveLong) && c.stopRead == 0 && !slow
	// Partial last line: only when the stream was cut.
	data := c.got
	cutOK := slow || c.stopRead > 0 || c.leave == leaveClose || c.leave == leaveReset
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		if !cutOK {
			return nil, fmt.Errorf("partial last line %q", data[i+1:])
		}
		data = data[:i+1]
	}
	var lines []string
	for l := range strings.SplitAfterSeq(string(data), "\n") {
		if l == "" {
			continue
		}
		if !strings.HasSuffix(l, "\r\n") {
			return nil, fmt.Errorf("line %q not ended by CRLF", l)
		}
		lines = append(lines, strings.TrimSuffix(l, "\r\n"))
	}
	w := &propWalker{c: c}
	seen := map[string]bool{}
	var replies [][2]int // input, len(obs) when its answer came
	for li, line := range lines {
		if key := propBroadcast(line, w); key != "" {
			if !w.named {
				return nil, fmt.Errorf("line %d %q before it had a name", li, line)
			}
			if strings.HasPrefix(key, "M:") {
				_, text, _ := strings.Cut(key, "\x00")
				if strings.HasPrefix(text, fmt.Sprintf("m%d.", c.id)) {
					return nil, fmt.Errorf("line %d %q: its own chat line echoed", li, line)
				}
			}
			if seen[key] {
				return nil, fmt.Errorf("line %d %q: received twice", li, line)
			}
			seen[key] = true
			v.obs = append(v.obs, key)
			continue
		}
		e, ok := w.next()
		if !ok {
			return nil, fmt.Errorf("line %d %q answers nothing it sent", li, line)
		}
		replies = append(replies, [2]int{e.input, len(v.obs)})
		switch e.kind {
		case exExact:
			if line != e.s {
				return nil, fmt.Errorf("line %d %q, want %q (answer to input %d)", li, line, e.s, e.input)
			}
		case exEnd:
			if line != e.s {
				return nil, fmt.Errorf("line %d %q, want %q (answer to input %d)", li, line, e.s, e.input)
			}
			if li != len(lines)-1 {
				return nil, fmt.Errorf("line %d %q followed by %q", li, line, lines[li+1:])
			}
		case exName:
			switch line {
			case "Welcome, " + e.name + "!":
				w.named, w.name = true, e.name
				key := "J:" + e.name
				v.obs = append(v.obs, key)
				w.last, v.joinedAs = key, e.name
			case chat.MsgNameTaken:
				v.taken = append(v.taken, e.name)
			default:
				return nil, fmt.Errorf("line %d %q, want the welcome of %q or %q", li, line, e.name, chat.MsgNameTaken)
			}
		case exRename:
			switch line {
			case e.old + " is now known as " + e.name + ".":
				key := "R:" + e.old + "\x00" + e.name
				v.obs = append(v.obs, key)
				w.last, w.name = key, e.name
			case chat.MsgNameTaken:
				key := fmt.Sprintf("T:%d:%d", c.id, e.input)
				v.obs = append(v.obs, key)
				v.tNames[key] = e.name
				w.last = key
			default:
				return nil, fmt.Errorf("line %d %q, want %q renamed %q or %q", li, line, e.old, e.name, chat.MsgNameTaken)
			}
		case exWho:
			if !strings.HasPrefix(line, "Online: ") {
				return nil, fmt.Errorf("line %d %q, want the /who answer", li, line)
			}
			v.whos = append(v.whos, propWho{list: strings.TrimPrefix(line, "Online: "), lastOwn: w.last, obsIdx: len(v.obs)})
		}
	}
	// Its own chat lines come after the events it got before the answer
	// to an earlier line, and before those it got after the answer to a
	// later one: the server handles its lines one at a time.
	for _, m := range w.ownM {
		var prev, next *[2]int
		for k := range replies {
			if r := &replies[k]; r[0] < m.input {
				prev = r
			} else if r[0] > m.input && next == nil {
				next = r
			}
		}
		if prev != nil && prev[1] > 0 {
			v.before = append(v.before, [2]string{v.obs[prev[1]-1], m.key})
		}
		if next != nil && next[1] < len(v.obs) {
			v.before = append(v.before, [2]string{m.key, v.obs[next[1]]})
		}
	}
	if complete {
		if e, ok := w.next(); ok {
			return nil, fmt.Errorf("no answer to input %d %q (want kind %d %q)", e.input, c.sent[max(e.input, 0)], e.kind, e.s+e.name)
		}
	}
	return v, nil
}

// propMerge searches for the one global order of room events that every
// client's view is a part of, replaying it through the model of the room:
// an event is fired when every present client that must see it (all but
// its sender for a chat line, all but the joiner's "has joined." that it
// gets as "Welcome", all but the one leaving) has it next, and no client
// not yet in the room has it at all; chat lines, renames and "Name taken"
// go first, then leaves, then joins (a join before a chat line would make
// the joiner miss it). A client whose view may be cut stops constraining
// when its view ends; a stayer must see every event. The answers to the
// name choices and /who are then checked against the room of that order.
func propMerge(cs []*propClient, views []*propView) error {
	n := len(cs)
	pos := make([]int, n)
	idx := make([]map[string]int, n)
	attempts := make([]map[string]bool, n)
	for i, c := range cs {
		idx[i] = map[string]int{}
		for k, key := range views[i].obs {
			idx[i][key] = k
		}
		attempts[i] = map[string]bool{}
		for _, l := range c.sent {
			l = strings.TrimSpace(strings.TrimRight(l, " \t\r"))
			attempts[i][l] = true
			if len(l) > 5 && strings.EqualFold(l[:5], "/name") {
				attempts[i][strings.TrimSpace(l[5:])] = true
			}
		}
	}
	before := map[string][]string{}
	for _, v := range views {
		for _, ab := range v.before {
			before[ab[1]] = append(before[ab[1]], ab[0])
		}
	}
	present := make([]bool, n)
	left := make([]bool, n)
	cur := make([]string, n)
	holder := map[string]int{} // lookKey → present client
	lastM := make([]int, n)    // index in sent of the last chat line placed
	for i := range lastM {
		lastM[i] = -1
	}
	order := map[string]int{}       // key → global index
	snaps := []string{""}           // snaps[g]: "/who" list after g events
	heldSince := map[string][]int{} // lookKey → indexes where it became held / free (alternating)
	implied := 0
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	inRemaining := func(y int, key string) bool { k, ok := idx[y][key]; return ok && k >= pos[y] }
	anywhere := func(key string) bool {
		for y := range n {
			if inRemaining(y, key) {
				return true
			}
		}
		return false
	}
	required := func(y int) bool { return present[y] && (pos[y] < len(views[y].obs) || views[y].strict) }
	snap := func() {
		var names []string
		for y := range n {
			if present[y] {
				names = append(names, cur[y])
			}
		}
		slices.Sort(names)
		snaps = append(snaps, strings.Join(names, ", "))
	}
	hold := func(a int, name string) {
		k := propLookKey(name)
		holder[k] = a
		heldSince[k] = append(heldSince[k], len(snaps)-1)
	}
	free := func(a int) {
		k := propLookKey(cur[a])
		if holder[k] == a {
			delete(holder, k)
			heldSince[k] = append(heldSince[k], len(snaps)-1)
		}
	}
	takenBy := func(name string, a int) (int, bool) {
		h, ok := holder[propLookKey(name)]
		return h, ok && h != a
	}
	join := func(a int, name string) {
		if present[a] || left[a] {
			fail("join of client %d as %q: already joined", a, name)
			return
		}
		if h, ok := takenBy(name, a); ok {
			fail("client %d welcomed as %q while client %d is %q", a, name, h, cur[h])
		}
		present[a], cur[a] = true, name
		hold(a, name)
	}
	leave := func(a int) {
		free(a)
		present[a], left[a] = false, true
	}
	// actorOf returns the client an event key belongs to.
	actorOf := func(key string) (int, bool) {
		kind, rest := key[:2], key[2:]
		switch kind {
		case "J:":
			for y := range n {
				if views[y].joinedAs == rest {
					return y, true
				}
			}
			a := -1
			for y := range n {
				if attempts[y][rest] && !present[y] && !left[y] {
					if a >= 0 {
						return 0, false
					}
					a = y
				}
			}
			return a, a >= 0
		case "L:", "R:":
			old, nw, _ := strings.Cut(rest, "\x00")
			for y := range n {
				if present[y] && cur[y] == old {
					return y, true
				}
			}
			// One whose join or rename no one saw.
			a := -1
			for y := range n {
				if attempts[y][old] && (kind == "L:" || attempts[y][nw]) && !left[y] {
					if a >= 0 {
						return 0, false
					}
					a = y
				}
			}
			return a, a >= 0
		case "M:":
			name, text, _ := strings.Cut(rest, "\x00")
			for y := range n {
				if present[y] && cur[y] == name {
					return y, true
				}
			}
			var id int
			if _, err := fmt.Sscanf(text, "m%d.", &id); err == nil && id >= 0 && id < n {
				return id, true
			}
		case "T:":
			var id, k int
			if _, err := fmt.Sscanf(rest, "%d:%d", &id, &k); err == nil {
				return id, true
			}
		}
		return 0, false
	}
	// imply brings a to the room as name (a join, or a rename, no one saw).
	imply := func(a int, name string) {
		switch {
		case !present[a] && !left[a] && attempts[a][name] && !anywhere("J:"+name):
			implied++
			join(a, name)
			snap()
		case present[a] && cur[a] != name && attempts[a][name] && !anywhere("R:"+cur[a]+"\x00"+name):
			implied++
			if h, ok := takenBy(name, a); ok {
				fail("client %d renamed (unseen) %q while client %d is %q", a, name, h, cur[h])
			}
			free(a)
			cur[a] = name
			hold(a, name)
			snap()
		}
	}
	prio := func(key string) int {
		switch key[:2] {
		case "L:":
			return 1
		case "J:":
			return 2
		}
		return 0
	}
	// readyFor reports whether the event key of a can come next: who has
	// it next, who must see it, and no one out of the room has it still to
	// come; what must come before it came.
	readyFor := func(key string, a int) bool {
		kind := key[:2]
		ready := true
		for _, p := range before[key] {
			if anywhere(p) {
				ready = false
			}
		}
		for y := range n {
			next := pos[y] < len(views[y].obs) && views[y].obs[pos[y]] == key
			var must bool
			switch {
			case y == a && kind == "J:":
				_, must = idx[y][key]
			case y == a && (kind == "M:" || kind == "L:"):
				must = false
			case y == a && (kind == "R:" || kind == "T:"):
				must = required(y) || next
			case kind == "T:":
				must = false
			default:
				must = required(y)
			}
			if must != next {
				if !must && next {
					ready = false // seen by a client not (yet) in the room
				} else if must && !next {
					ready = false
				}
			}
			if !present[y] && !(y == a && kind == "J:") && inRemaining(y, key) && !next {
				ready = false
			}
		}
		return ready
	}
	// mayBeBy reports whether the event key may be b's (by the names and
	// lines b sent).
	mayBeBy := func(key string, b int) bool {
		name, text, _ := strings.Cut(key[2:], "\x00")
		return attempts[b][name] || key[:2] == "M:" && strings.HasPrefix(text, fmt.Sprintf("m%d.", b))
	}
	// joinFirst reports whether another join must come before the join
	// key of a: one a does not see, when a would have to see it (a is still
	// to see an event of the other's, or one the other sees too).
	joinFirst := func(key string, a int, cands []string) bool {
		k, ok := idx[a][key]
		if !(ok && k+1 < len(views[a].obs) || views[a].strict) {
			return false // a will see nothing after its welcome
		}
		for _, k2 := range cands {
			if k2 == key || k2[:2] != "J:" || inRemaining(a, k2) {
				continue
			}
			b, ok := actorOf(k2)
			if !ok || b == a || !readyFor(k2, b) {
				continue
			}
			if views[a].strict {
				return true
			}
			for _, e := range views[a].obs[k+1:] {
				if _, seen := idx[b][e]; seen || mayBeBy(e, b) {
					return true
				}
			}
		}
		return false
	}
	for step := 0; ; step++ {
		// Leaves no one saw: a client with nothing left to see, whose
		// events no one else has left to see either, with no one to tell.
		for a := range n {
			if !present[a] || pos[a] < len(views[a].obs) || anywhere("L:"+cur[a]) {
				continue
			}
			others := false
			for y := range n {
				if y != a && required(y) {
					others = true
				}
			}
			mine := false
			for y := range n {
				for _, key := range views[y].obs[pos[y]:] {
					if b, ok := actorOf(key); ok && b == a {
						mine = true
					}
				}
			}
			if !others && !mine {
				implied++
				leave(a)
				snap()
			}
		}
		var cands []string
		for y := range n {
			if pos[y] < len(views[y].obs) {
				if key := views[y].obs[pos[y]]; !slices.Contains(cands, key) {
					cands = append(cands, key)
				}
			}
		}
		if len(cands) == 0 {
			break
		}
		slices.SortStableFunc(cands, func(a, b string) int { return prio(a) - prio(b) })
		fired := false
		for _, key := range cands {
			a, ok := actorOf(key)
			if !ok {
				continue
			}
			kind := key[:2]
			if kind == "M:" || kind == "L:" || kind == "R:" {
				name, _, _ := strings.Cut(key[2:], "\x00")
				if cur[a] != name || !present[a] {
					imply(a, name)
					if cur[a] != name || !present[a] {
						continue
					}
				}
			}
			if kind == "L:" && pos[a] < len(views[a].obs) {
				continue
			}
			if !readyFor(key, a) {
				continue
			}
			if kind == "J:" && joinFirst(key, a, cands) {
				continue
			}
			// Fire it.
			switch kind {
			case "J:":
				join(a, key[2:])
			case "L:":
				leave(a)
			case "R:":
				_, nw, _ := strings.Cut(key[2:], "\x00")
				if h, ok := takenBy(nw, a); ok {
					fail("%q renamed %q while client %d is %q", cur[a], nw, h, cur[h])
				}
				free(a)
				cur[a] = nw
				hold(a, nw)
			case "T:":
				name := views[a].tNames[key]
				if _, ok := takenBy(name, a); !ok && name != cur[a] {
					fail("client %d (%q) told %q is taken when no one had it (event %d)", a, cur[a], name, len(snaps)-1)
				}
			case "M:":
				_, text, _ := strings.Cut(key[2:], "\x00")
				k := slices.IndexFunc(cs[a].sent, func(s string) bool { return strings.TrimRight(s, " \t\r") == text })
				if k < 0 {
					fail("%q: client %d never sent %q", key, a, text)
				} else if k <= lastM[a] {
					fail("%q: client %d's lines out of order", key, a)
				} else {
					lastM[a] = k
				}
			}
			order[key] = len(snaps) - 1
			for y := range n {
				if pos[y] < len(views[y].obs) && views[y].obs[pos[y]] == key {
					pos[y]++
				}
			}
			snap()
			fired = true
			break
		}
		if !fired {
			var b strings.Builder
			for y := range n {
				next := "(end)"
				if pos[y] < len(views[y].obs) {
					next = fmt.Sprintf("%q", views[y].obs[pos[y]])
				}
				fmt.Fprintf(&b, "\n  client %d present=%v left=%v name=%q strict=%v next %s (%d/%d)", y, present[y], left[y], cur[y], views[y].strict, next, pos[y], len(views[y].obs))
			}
			return fmt.Errorf("no global order: after %d events (%d implied) no event can come next:%s\n%s", len(snaps)-1, implied, b.String(), strings.Join(errs, "\n"))
		}
	}
	// Names refused as taken before the client had one: someone had a name
	// that looks the same at some point before its own join.
	for a, v := range views {
		for _, name := range v.taken {
			end := len(snaps) - 1
			if g, ok := order["J:"+v.joinedAs]; ok && v.joinedAs != "" {
				end = g
			}
			if h := heldSince[propLookKey(name)]; len(h) == 0 || h[0] > end {
				fail("client %d told %q is taken, and no one had it before event %d", a, name, end)
			}
		}
		for _, w := range v.whos {
			lo := 0
			if g, ok := order[w.lastOwn]; ok {
				lo = g + 1
			}
			hi := len(snaps) - 1
			if w.obsIdx < len(v.obs) {
				if g, ok := order[v.obs[w.obsIdx]]; ok {
					hi = g
				}
			}
			if lo > hi || !slices.Contains(snaps[lo:hi+1], w.list) {
				fail("client %d: \"Online: %s\", but the room between events %d and %d was %q", a, w.list, lo, hi, snaps[max(0, min(lo, hi)):hi+1])
			}
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}
