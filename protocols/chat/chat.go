// Package chat is a line-based chat server on the weft toolkit (Twisted's
// classic chat example, made exact). Lines are "\r\n"-terminated on output
// and end in "\n" or "\r\n" on input.
//
// The pieces:
//
//   - Server: the weft.Factory holding the room (the named clients); its zero
//     value is an empty room ready to serve.
//   - The conversation, exactly:
//   - on connect the server sends "What's your name?";
//   - an empty name gets the question again, a name in use (in any case:
//     "ALICE" is taken while "alice" is here) gets "Name taken, please
//     choose another.", a name that is not printable UTF-8 text (invalid
//     UTF-8, a control or other non-printing character, a space other than
//     " ", a character that shows as nothing or as a blank: ZWJ, a bidi
//     control or mark, a variation selector, a Hangul filler, U+2800...,
//     with which "ann" could pass for another "ann"), that displays as
//     another name spelled otherwise (two spaces in a row, see also
//     below), that holds "<" or ">" (with which "ann> hi" would have its
//     lines shown as "<ann> hi> ..."), or starts with "/" gets
//     MsgNameInvalid, a name over MaxNameLength (64) bytes gets
//     MsgNameTooLong, otherwise the client gets
//     "Welcome, NAME!" and every other named client "NAME has joined.";
//     a line starting with "/" is a command, never a name: before it has
//     a name a client may "/quit", "/who", or choose its name with
//     "/name NAME" (spaces or TABs may separate a command from its
//     argument);
//   - a chat line from NAME reaches every other named client as "<NAME> text",
//     unless it holds invalid UTF-8, a control character other than TAB
//     (C0, DEL, C1: ESC sequences, "\r", backspace, CSI U+009B...), a line
//     or paragraph separator (U+2028, U+2029), or a format character that reorders or hides the text after it (the bidi
//     embeddings, overrides and isolates U+202A..U+202E, U+2066..U+2069,
//     which make a line display as something else, "Trojan Source"; the
//     deprecated U+206A..U+206F; the annotation characters
//     U+FFF9..U+FFFB): then the sender gets MsgTextInvalid and no one else
//     anything. The bidi marks (LRM, RLM, ALM), ZWJ, ZWNJ and the other
//     format characters that act on their neighbours only pass. The line is
//     refused rather than relayed with the characters replaced: a line
//     shown under the sender's name must be what the sender wrote, the
//     sender is told (it is the only one who can fix it, and a replaced
//     line would look delivered), and nothing that could rewrite another
//     client's terminal is relayed. Names follow the same rule, stricter
//     (MsgNameInvalid);
//   - "/name NEW" (any case): everyone, sender included, gets
//     "NAME is now known as NEW.", or the sender gets
//     "Name taken, please choose another." (a client may change the case of
//     its own name) or MsgNameInvalid; "/name" without NEW gets
//     "Usage: /name NEW";
//   - "/who": the sender gets "Online: a, b, c" (names sorted);
//   - "/quit" or "/exit" (any case): the sender gets "Bye." as its last
//     line and is disconnected; the others get "NAME has left.", which
//     they also get when a named client disconnects.
//   - a line over codec.DefaultMaxLineLength bytes gets "Line too long: the
//     limit is N bytes. Bye." as its last line and the connection is
//     closed (reason codec.ErrFrameTooLarge);
//   - Names are compared after case folding, not after Unicode
//     normalisation (the standard library has none); instead a name must
//     be spelled the one way that displays it: in NFC, the form keyboards
//     type ("Zoé" with U+00E9, not "Zoe" and U+0301; a Korean syllable,
//     not conjoining jamo; "K", not the Kelvin sign), without the styled
//     or ligated duplicates of letters that NFKC folds (mathematical
//     alphanumerics, "fi"), without a combining mark after a Latin,
//     Greek, Cyrillic or kana letter, a digit, a symbol or a space (even
//     where no precomposed letter exists), or first; without halfwidth or
//     fullwidth forms ("ａnn"); and with letters of at most one of Latin,
//     Greek and Cyrillic, whose look-alikes ("pаypal" with a Cyrillic "а")
//     would otherwise pass for another name. A name wholly in Greek or
//     Cyrillic that looks, letter for letter, like one in use in another
//     of the three (Cyrillic "аре" for Latin "ape") is taken (MsgNameTaken;
//     the letters compared are a part of UTS #39's confusables). Not
//     detected: look-alikes within one script ("0" and "O"), and in the
//     other scripts a composing pair with other marks between, or marks
//     in an order NFC would change;
//   - at a graceful server shutdown (weft.ShutdownNotifier, which
//     server.Server.Shutdown calls) every client gets MsgShutdown as its
//     last line and leaves the room without "NAME has left." to the others,
//     who are leaving too;
//   - Slow clients: every message is a non-blocking Write, so a client that
//     stops reading never delays the others; the write-buffer limit of the
//     connection (weft.Options.MaxWriteBuffer, server.Server.MaxWriteBuffer;
//     default weft.DefaultMaxWriteBuffer, 1 MiB) drops it with
//     weft.ErrSlowConsumer, discarding what waited for it, and the others
//     get "NAME has left.": a client that never reads holds at most that
//     much (TestSlowClientDropped).
package chat

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// The server's messages.
const (
	// MsgAskName is sent when a client connects, and again while the name
	// it gives is empty.
	MsgAskName = "What's your name?"
	// MsgNameTaken answers a name already in use: the same but for case, or
	// looking the same in another script (see the package doc).
	MsgNameTaken = "Name taken, please choose another."
	// MsgNameInvalid answers a name that is not valid UTF-8, holds a
	// control, format or other invisible or blank character (ZWJ, a bidi
	// control, a variation selector, a Hangul filler...), is spelled so
	// that it displays as another (not in NFC: "e" and a combining acute
	// where "é" exists; a styled or ligated letter; two spaces in a row),
	// holds "<" or ">" (which could close the "<NAME>" before a chat line
	// early), or starts with "/".
	MsgNameInvalid = "Invalid name: use printable UTF-8 text (accented letters precomposed) without < or > or two spaces in a row, not starting with /."
	// MsgTextInvalid answers a chat line holding invalid UTF-8, a control
	// character other than TAB, a line or paragraph separator (U+2028,
	// U+2029), or a bidi embedding, override or isolate
	// (or another format character that reorders or hides the text after
	// it); the line reaches no one.
	MsgTextInvalid = "Message not sent: use UTF-8 text without control characters (TAB is allowed), line separators or bidi overrides, embeddings and isolates."
	// MaxNameLength is the longest name accepted, in bytes of UTF-8. Every
	// chat line is sent to each listener behind its sender's name, and
	// "/who" sends all the names at once: without a bound, a client named
	// with a 16 KiB line would make every 2-byte line it sends cost 16 KiB
	// per listener, and a "/who" cost 16 KiB per client in the room.
	MaxNameLength = 64
	// MsgNameTooLong answers a name over MaxNameLength bytes.
	MsgNameTooLong = "Name too long: use at most 64 bytes."
	// MsgNameUsage answers "/name" without a name.
	MsgNameUsage = "Usage: /name NEW"
	// MsgBye is sent, as the client's last line, before the connection is
	// closed by "/quit" or "/exit".
	MsgBye = "Bye."
	// MsgShutdown is the last line every client gets at a graceful server
	// shutdown (weft.ShutdownNotifier).
	MsgShutdown = "Server shutting down. Bye."
	// msgLineTooLong (with the limit) is sent before the connection of a
	// client that sent a line over the limit is closed.
	msgLineTooLong = "Line too long: the limit is %d bytes. Bye."
)

// Server is a chat room and the weft.Factory of its connections. The zero
// value is an empty room. A Server must not be copied after first use; it is
// safe for concurrent use.
type Server struct {
	mu    sync.Mutex
	named map[string]*client // by nameKey
	looks map[string]*client // the same clients, by lookKey
}

// nameKey is the key of name in Server.named: names equal but for case
// share it.
func nameKey(name string) string { return strings.ToLower(strings.ToUpper(name)) }

// takenLocked reports whether name is another client's than c: the same
// but for case, or looking the same (lookKey); called with s.mu held.
func (s *Server) takenLocked(name string, c *client) bool {
	o, byName := s.named[nameKey(name)]
	l, byLook := s.looks[lookKey(name)]
	return byName && o != c || byLook && l != c
}

// forgetLocked takes c's name out of the room's indexes (c keeps it);
// called with s.mu held.
func (s *Server) forgetLocked(c *client) {
	if c.name == "" {
		return
	}
	if s.named[nameKey(c.name)] == c {
		delete(s.named, nameKey(c.name))
	}
	if s.looks[lookKey(c.name)] == c {
		delete(s.looks, lookKey(c.name))
	}
}

// setNameLocked gives c the name, not empty; called with s.mu held.
func (s *Server) setNameLocked(c *client, name string) {
	s.forgetLocked(c)
	c.name = name
	if s.named == nil {
		s.named = make(map[string]*client)
		s.looks = make(map[string]*client)
	}
	s.named[nameKey(name)] = c
	s.looks[lookKey(name)] = c
}

// nameRefusal returns the answer to a name that may not be taken
// (MsgNameTooLong, MsgNameInvalid), or "".
func nameRefusal(name string) string {
	switch {
	case len(name) > MaxNameLength:
		return MsgNameTooLong
	case !validName(name):
		return MsgNameInvalid
	}
	return ""
}

// validName reports whether name may be taken: valid UTF-8 made of printable
// characters (letters, marks, numbers, punctuation, symbols, the ASCII
// space) that show as something, and not starting with "/". A control
// character ("\r", "\b", ESC) in a name would let it rewrite what the other
// clients' terminals show; an invisible or blank character would let it pass
// for another name ("ann" and "ann" followed by one look the same). So the
// format characters (ZWJ, ZWSP, the bidi controls and marks, tags: not
// printable) are refused, and so are the printable characters that are
// default-ignorable (shown as nothing: the variation selectors, the
// combining grapheme joiner, the Khmer inherent vowels, the Hangul fillers)
// and the braille blank U+2800 (shown as a space). A name that displays as
// another spelled otherwise (not in NFC, or a styled letter: oneSpelling)
// is refused for the same reason, and so is one with two spaces in a row
// ("ann  lee" for "ann lee"). "<" and ">" are refused as well: every chat
// line is shown as "<NAME> text", and a client named "ann> I quit." would
// have its lines shown as ann's.
func validName(name string) bool {
	if !utf8.ValidString(name) || strings.HasPrefix(name, "/") ||
		strings.ContainsAny(name, "<>") || strings.Contains(name, "  ") {
		return false
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || r == '\u2800' ||
			unicode.In(r, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
			return false
		}
	}
	return oneSpelling(name)
}

// validText reports whether a chat line may be relayed to the room: valid
// UTF-8 holding no control character (C0, DEL, C1) other than TAB, no line
// or paragraph separator (U+2028, U+2029: line breaks, after which a
// client would show the rest as a line of its own, "<bob> ..." forged), and
// no format character whose effect spans the text after it (spanFormat: the
// bidi embeddings, overrides and isolates...). A control character reaching
// another client's terminal could move its cursor, erase its screen, set its
// title or forge a line from someone else ("\r<bob> ..."); C1 controls are
// refused as well, as terminals that obey 8-bit controls read U+009B as
// CSI; a bidi override or isolate would make the line display as something
// else than what it holds. Unlike names, text may hold any other character
// (format characters acting on their neighbours only, such as ZWJ in emoji
// sequences, ZWNJ, the bidi marks LRM, RLM and ALM; any space): the sender's
// name before it is fixed, and right-to-left and emoji text need them.
// It allocates nothing: it runs on every chat line.
func validText(s string) bool {
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b < ' ' && b != '\t' || b == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r < 0xa0 || spanFormat(r) || r == '\u2028' || r == '\u2029' { // invalid, C1 (U+0080..U+009F), reordering, or a line break
			return false
		}
		i += n
	}
	return true
}

// spanFormat reports whether r is a format character whose effect spans the
// text after it, up to a closing character or the end of the line, rather
// than acting on its neighbours only: the bidirectional embeddings and
// overrides (LRE, RLE, PDF, LRO, RLO: U+202A..U+202E) and isolates (LRI,
// RLI, FSI, PDI: U+2066..U+2069), which reorder what follows ("Trojan
// Source", CVE-2021-42574: "\u202eevil" shows as "live"), the deprecated
// shaping and swapping controls U+206A..U+206F, and the interlinear
// annotation characters U+FFF9..U+FFFB, which may hide the text they
// enclose. None has a use in a chat line that the marks (LRM, RLM, ALM:
// invisible strong letters, no more powerful than a visible Hebrew or Latin
// letter, and needed in right-to-left text) do not serve.
func spanFormat(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x206f || r >= 0xfff9 && r <= 0xfffb
}

// IgnoresAddr implements weft.AddrIgnorer: BuildProtocol does not use its
// address, so a server may pass nil.
func (*Server) IgnoresAddr() bool { return true }

// BuildProtocol implements weft.Factory. A nil *Server refuses every
// connection (returns nil).
func (s *Server) BuildProtocol(net.Addr) weft.Protocol {
	if s == nil {
		return nil
	}
	c := &client{s: s}
	return &protocol{LineReceiver: codec.NewLineReceiver(c), c: c}
}

// protocol is the LineReceiver of a client, keeping the connection's own
// transport, through which a close can carry its reason.
type protocol struct {
	*codec.LineReceiver
	c *client
}

func (p *protocol) ConnectionMade(t weft.Transport) {
	p.c.raw = t
	p.LineReceiver.ConnectionMade(t)
}

// Names returns the names of the clients in the room, sorted (none for a nil
// *Server).
func (s *Server) Names() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.namesLocked()
}

func (s *Server) namesLocked() []string {
	names := make([]string, 0, len(s.named))
	for _, c := range s.named {
		names = append(names, c.name)
	}
	slices.Sort(names)
	return names
}

// sendLocked sends msg to every named client but skip. Writes never block, so
// holding mu keeps every client's view of the room in one order.
func (s *Server) sendLocked(msg string, skip *client) {
	line := crlf(msg) // once for all: Write copies it
	for _, c := range s.named {
		if c != skip {
			c.write(line)
		}
	}
}

// client is one connection; its callbacks run one at a time.
type client struct {
	s    *Server
	r    *codec.LineReceiver
	raw  weft.Transport
	name string // "" until named; guarded by s.mu once named
}

// send writes msg and "\r\n". It does not use SendLine: the server's own
// lines add a name and text to what a client sent, so they may be longer than
// the longest line it accepts, and SendLine would refuse them silently. msg
// never holds "\n" (input lines are split at it).
func (c *client) send(msg string) { c.write(crlf(msg)) }

// write writes a line already ended by crlf.
func (c *client) write(line []byte) { _, _ = c.r.Transport().Write(line) }

// crlf returns msg followed by "\r\n".
func crlf(msg string) []byte {
	return append(append(make([]byte, 0, len(msg)+2), msg...), '\r', '\n')
}

func (c *client) ConnectionMade(r *codec.LineReceiver) {
	c.r = r
	c.send(MsgAskName)
}

func (c *client) LineReceived(b []byte) {
	line := string(bytes.TrimRight(b, " \t\r"))
	if c.name == "" && !strings.HasPrefix(strings.TrimSpace(line), "/") {
		c.chooseName(strings.TrimSpace(line))
		return
	}
	if strings.HasPrefix(line, "/") || c.name == "" {
		cmd, arg := strings.TrimSpace(line)[1:], ""
		if i := strings.IndexAny(cmd, " \t"); i >= 0 { // spaces or TABs after the command
			cmd, arg = cmd[:i], cmd[i+1:]
		}
		c.command(strings.ToLower(cmd), strings.TrimSpace(arg))
		return
	}
	if line == "" {
		return
	}
	if !validText(line) {
		c.send(MsgTextInvalid)
		return
	}
	c.s.mu.Lock()
	c.s.sendLocked("<"+c.name+"> "+line, c)
	c.s.mu.Unlock()
}

func (c *client) chooseName(name string) {
	if name == "" {
		c.send(MsgAskName)
		return
	}
	if msg := nameRefusal(name); msg != "" {
		c.send(msg)
		return
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.takenLocked(name, nil) {
		c.send(MsgNameTaken)
		return
	}
	c.send("Welcome, " + name + "!")
	s.sendLocked(name+" has joined.", nil) // before c joins: not to c
	s.setNameLocked(c, name)
}

func (c *client) command(cmd, arg string) {
	s := c.s
	switch cmd {
	case "name":
		if arg == "" {
			c.send(MsgNameUsage)
			return
		}
		if c.name == "" {
			c.chooseName(arg)
			return
		}
		if msg := nameRefusal(arg); msg != "" {
			c.send(msg)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if arg == c.name || s.takenLocked(arg, c) {
			c.send(MsgNameTaken)
			return
		}
		s.sendLocked(c.name+" is now known as "+arg+".", nil)
		s.setNameLocked(c, arg)
	case "who":
		s.mu.Lock()
		names := s.namesLocked()
		s.mu.Unlock()
		c.send("Online: " + strings.Join(names, ", "))
	case "quit", "exit":
		s.mu.Lock() // "Bye." last: no line of the room after it
		c.send(MsgBye)
		c.leaveLocked()
		s.mu.Unlock()
		c.r.Transport().LoseConnection()
	default:
		c.send("Unknown command /" + cmd + ".")
	}
}

// leave takes the client out of the room, once.
func (c *client) leave() {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.leaveLocked()
}

// leaveLocked is leave with s.mu held. A farewell written under the same
// lock just before it is the client's last line: the room's lines are
// written under the lock, and the client is no longer in the room after it.
func (c *client) leaveLocked() {
	s := c.s
	if c.name == "" || s.named[nameKey(c.name)] != c {
		return
	}
	s.forgetLocked(c)
	s.sendLocked(c.name+" has left.", nil)
}

// LineLengthExceeded tells the client why it is disconnected: a line over
// the limit cannot be relayed whole, and what follows it in the stream
// cannot be told apart from its tail. The close reason is still
// codec.ErrFrameTooLarge.
//
// The message is the client's last line: it is written under the room's
// lock as the client leaves the room (the others get "NAME has left." then,
// not when the connection is lost), so no line of the room follows it.
func (c *client) LineLengthExceeded([]byte) {
	c.s.mu.Lock()
	c.send(fmt.Sprintf(msgLineTooLong, codec.DefaultMaxLineLength))
	c.leaveLocked()
	c.s.mu.Unlock()
	weft.LoseConnectionWithReason(c.raw, fmt.Errorf("%w: chat line over %d bytes", codec.ErrFrameTooLarge, codec.DefaultMaxLineLength))
}

func (c *client) ConnectionLost(error) { c.leave() }

// Shutdown implements weft.ShutdownNotifier (the LineReceiver forwards it;
// server.Server's graceful Shutdown calls it on every connection): the
// client gets MsgShutdown as its last line and leaves the room without a
// word to the others, who are being shut down as well (telling them would
// give each, depending on the order the hooks run in, "NAME has left." for
// some of the others; a Shutdown of this connection alone,
// weft.Conn.Shutdown, leaves the room without a word too). Closing through
// the LineReceiver's Transport delivers no line after it.
func (c *client) Shutdown() {
	s := c.s
	s.mu.Lock() // MsgShutdown last: no line of the room after it
	c.send(MsgShutdown)
	s.forgetLocked(c)
	s.mu.Unlock()
	c.r.Transport().LoseConnection()
}
