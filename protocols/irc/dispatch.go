package irc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// frames is the Client seen as a codec.FrameHandler.
type frames Client

func (f *frames) ConnectionMade(t codec.FrameTransport) {
	c := (*Client)(f)
	c.mu.Lock()
	c.t, c.nick, c.registered, c.retries, c.asked = t, c.cfg.Nick, false, 0, ""
	c.closed = false
	c.casemap = mapRFC1459
	c.resetCapsLocked()
	c.startRegisterTimerLocked(c.raw)
	c.mu.Unlock()
	for _, m := range c.cfg.registration() {
		_ = c.Send(m) // the lines were checked by Config.Validate
	}
	c.h.ConnectionMade(c)
}

func (f *frames) ConnectionLost(reason error) {
	c := (*Client)(f)
	if errors.Is(reason, codec.ErrFrameTooLarge) {
		// A server line over MaxIncomingLineLength: say so in the
		// package's own terms too.
		reason = fmt.Errorf("%w: %w", ErrLineTooLong, reason)
	}
	c.mu.Lock()
	c.stopRegisterTimerLocked()
	c.mu.Unlock()
	c.h.ConnectionLost(c, reason)
}

// FrameReceived parses one line and dispatches it. A line that does not
// parse is ignored, as RFC 1459 asks of empty messages.
func (f *frames) FrameReceived(line []byte) {
	c := (*Client)(f)
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return // the lines after a close of the Client's own, in the same read
	}
	m, err := Parse(line)
	if err != nil {
		return
	}
	c.h.MessageReceived(c, m)
	c.dispatch(m)
}

func (c *Client) dispatch(m Message) {
	switch m.Command {
	case "PING":
		_ = c.Send(pongFor(m))
	case "001":
		c.mu.Lock()
		c.registered, c.asked = true, ""
		c.capPhase = capOff // a server that did not wait for CAP END
		c.stopRegisterTimerLocked()
		if n := m.Param(0); n != "" {
			c.nick = n
		}
		c.mu.Unlock()
		if c.saslWelcomed() {
			return // closed: SASL was required
		}
		c.h.SignedOn(c)
	case "005":
		c.isupport(m)
	case "CAP":
		c.capMessage(m)
	case "AUTHENTICATE", "900", "901", "902", "903", "904", "905", "906", "907", "908":
		c.saslMessage(m)
	case "421", "451":
		// ERR_UNKNOWNCOMMAND, or ERR_NOTREGISTERED which some servers
		// answer to any command before registration: a server that does
		// not know CAP registers the client without it.
		if strings.EqualFold(m.Param(1), "CAP") {
			c.capNotUnderstood()
		}
	case "432", "433", "436":
		c.nickRefused(m)
	case "437":
		// ERR_UNAVAILRESOURCE is about a nick (held by the server's nick
		// delay, RFC 2812) or a channel: only the former is a refused nick.
		if c.isMe(m.Param(1)) {
			c.nickRefused(m)
		}
	case "JOIN":
		if c.isMe(m.Nick()) {
			c.h.Joined(c, m.Param(0))
		} else {
			c.h.UserJoined(c, m.Nick(), m.Param(0))
		}
	case "PART":
		if c.isMe(m.Nick()) {
			c.h.Left(c, m.Param(0))
		} else {
			c.h.UserLeft(c, m.Nick(), m.Param(0))
		}
	case "KICK":
		channel, user, reason := m.Param(0), m.Param(1), m.Param(2)
		if channel == "" || user == "" {
			return // malformed
		}
		if c.isMe(user) {
			c.h.Kicked(c, channel, m.Nick(), reason)
		} else {
			c.h.UserKicked(c, user, channel, m.Nick(), reason)
		}
	case "QUIT":
		c.h.UserQuit(c, m.Nick(), m.Param(0))
	case "NICK":
		old, nick := m.Nick(), m.Param(0)
		if nick == "" {
			return // malformed: no new nick (a client's nick is never "")
		}
		if c.isMe(old) {
			c.mu.Lock()
			c.nick, c.asked = nick, ""
			c.mu.Unlock()
		}
		c.h.NickChanged(c, old, nick)
	case "PRIVMSG", "NOTICE":
		c.message(m)
	case "ERROR":
		// The server closes the link after it (RFC 2812 3.7.4): close it
		// with the server's reason, which the connection's end then tells.
		c.mu.Lock()
		raw := c.raw
		c.mu.Unlock()
		reason := ErrServerError
		if text := m.Param(0); text != "" {
			reason = fmt.Errorf("%w: %s", ErrServerError, printable(text))
		}
		weft.LoseConnectionWithReason(raw, reason)
	}
}

// nickRefused picks the next nick during registration, m being the
// server's refusal. After registration a refused SetNick leaves the current
// nick in place.
func (c *Client) nickRefused(m Message) {
	c.mu.Lock()
	if c.registered {
		c.asked = ""
		c.mu.Unlock()
		return
	}
	c.retries++
	limit := c.cfg.MaxNickRetries
	if limit == 0 {
		limit = DefaultMaxNickRetries
	}
	alter := c.cfg.AlterNick
	if alter == nil {
		alter = func(n string) string { return n + "^" }
	}
	cur, retries := c.nick, c.retries
	c.mu.Unlock()
	// The hook is the user's code: call it without the lock, so that it may
	// use the Client (Nick, Registered, ...).
	next := ""
	if retries <= limit {
		next = alter(cur)
	}
	c.mu.Lock()
	if next != "" {
		c.nick = next
	}
	t := c.t
	c.mu.Unlock()
	if next == "" || c.SetNick(next) != nil {
		t.Abort()
		c.h.NickUnavailable(c, fmt.Errorf("%w: %q refused (%s %s) after %d tries", ErrNickUnavailable, cur, m.Command, printable(m.Param(len(m.Params)-1)), retries))
	}
}

// printable returns the server's text s for an error message: as is, or
// with Go escapes when it holds a control byte, invalid UTF-8 or another
// non-printable rune, so that it cannot reach a terminal as an escape
// sequence.
func printable(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r == utf8.RuneError || !strconv.IsPrint(r) }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// message dispatches a PRIVMSG or NOTICE. One whose text starts with \x01
// holds CTCP messages, split as Twisted's ctcpExtract does: the parts
// between \x01 delimiters alternate, text outside CTCP first, CTCP
// messages ("TAG data") second, an unterminated last CTCP message counting
// whole. In a PRIVMSG they are queries, in order: the first ACTION is an
// Action, and the first query of each other tag (compared upper-cased, as
// Twisted's ctcpQuery dispatches a tag once per message), up to
// MaxCTCPQueries tags, is answered if the Client answers it (ctcpQuery);
// in a NOTICE they are answers, which are never answered. Then the text
// outside CTCP, its non-empty parts joined with a space and kept as they
// are, is a Privmsg or a Noticed, as in Twisted's irc_PRIVMSG and
// irc_NOTICE. A text that does not start with \x01 is text, whole.
func (c *Client) message(m Message) {
	user, target, text := m.Nick(), m.Param(0), m.Param(1)
	if strings.HasPrefix(text, "\x01") {
		var normal []string
		action := false // the message's first ACTION was dispatched
		var seen ctcpSeen
		for i, part := range strings.Split(text, "\x01") {
			switch {
			case part == "":
			case i%2 == 0:
				normal = append(normal, part)
			case m.Command != "PRIVMSG":
				c.ctcpNotice(user, target, part, &seen)
			case action && seen.full():
			default:
				tag, data, _ := strings.Cut(ctcpDequote(part), " ")
				switch {
				case strings.EqualFold(tag, "ACTION"):
					if !action {
						action = true
						c.h.Action(c, user, target, data)
					}
				case tag != "":
					if tag = strings.ToUpper(tag); seen.add(tag) {
						c.ctcpQuery(user, target, tag, data)
					}
				}
			}
		}
		if len(normal) == 0 {
			return
		}
		text = strings.Join(normal, " ")
	}
	if m.Command == "NOTICE" {
		c.h.Noticed(c, user, target, text)
		return
	}
	c.h.Privmsg(c, user, target, text)
}

// ctcpNotice tells a CTCPReplyHandler of one CTCP message of a NOTICE (an
// answer), the first of each tag, at most MaxCTCPQueries tags a message.
func (c *Client) ctcpNotice(user, target, part string, seen *ctcpSeen) {
	h, ok := c.h.(CTCPReplyHandler)
	if !ok {
		return
	}
	tag, data, _ := strings.Cut(ctcpDequote(part), " ")
	if tag = strings.ToUpper(tag); tag != "" && seen.add(tag) {
		h.CTCPReply(c, user, target, tag, data)
	}
}

// ctcpDequote undoes CTCP-level quoting as Twisted's ctcpDequote does: "\a"
// is \x01, "\\" a backslash, and a backslash before any other character is
// dropped (a lone one at the end is kept). Low-level quoting (\x10
// sequences, which Twisted undoes on every line) is not undone: no client in
// use sends it, and a \x10 in text is more likely meant as it is.
func ctcpDequote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i == len(s)-1 {
			b.WriteByte(s[i])
			continue
		}
		i++
		if s[i] == 'a' {
			b.WriteByte(1)
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func (c *Client) isMe(nick string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.casemap.equalFold(nick, c.nick)
}

// EqualFold compares two nicks or channel names as the server does: under
// the case mapping its RPL_ISUPPORT (005) announces with CASEMAPPING —
// rfc1459 (the default, until the server says otherwise), strict-rfc1459
// ("[]\" are the upper case of "{}|", not '~' of '^') or ascii (letters
// only). Another mapping (rfc8265, ...) is taken as ascii: folding no more
// than the server does, the client never takes another user for itself.
// The Client compares with it whether a JOIN, PART, KICK or NICK is about
// itself.
func (c *Client) EqualFold(a, b string) bool {
	c.mu.Lock()
	m := c.casemap
	c.mu.Unlock()
	return m.equalFold(a, b)
}

// isupport reads the case mapping from an RPL_ISUPPORT (005) message: its
// parameters after the nick are "NAME=value" tokens, "-NAME" to withdraw
// one, and a trailing text (which, holding spaces, is no token).
func (c *Client) isupport(m Message) {
	for _, tok := range m.Params[min(1, len(m.Params)):] {
		var mapping caseMapping
		ok := false
		switch {
		case strings.HasPrefix(tok, "CASEMAPPING="):
			mapping, ok = parseCaseMapping(tok[len("CASEMAPPING="):]), true
		case tok == "-CASEMAPPING":
			mapping, ok = mapRFC1459, true
		}
		if ok {
			c.mu.Lock()
			c.casemap = mapping
			c.mu.Unlock()
		}
	}
}

// caseMapping is how a server folds nicks and channel names (ISUPPORT
// CASEMAPPING).
type caseMapping uint8

const (
	mapRFC1459       caseMapping = iota // A-Z and "[]\~" fold to a-z and "{}|^"
	mapStrictRFC1459                    // A-Z and "[]\" fold to a-z and "{}|"
	mapASCII                            // A-Z fold to a-z
)

// parseCaseMapping maps a CASEMAPPING value to a caseMapping; an unknown
// one is ascii, which folds no more than any mapping does.
func parseCaseMapping(v string) caseMapping {
	switch strings.ToLower(v) {
	case "rfc1459":
		return mapRFC1459
	case "strict-rfc1459":
		return mapStrictRFC1459
	}
	return mapASCII
}

func (m caseMapping) equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if m.fold(a[i]) != m.fold(b[i]) {
			return false
		}
	}
	return true
}

func (m caseMapping) fold(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case m != mapASCII && (c == '[' || c == ']' || c == '\\'):
		return c + '{' - '['
	case m == mapRFC1459 && c == '~':
		return '^'
	}
	return c
}

// EqualFold compares two nicks or channel names under IRC's rfc1459 case
// mapping, where "[]\~" are the upper case of "{}|^". Client.EqualFold
// uses the server's own mapping.
func EqualFold(a, b string) bool { return mapRFC1459.equalFold(a, b) }

func foldByte(c byte) byte { return mapRFC1459.fold(c) }

// pongFor returns the PONG answering ping: its parameters echoed, as most
// clients do; when that would not fit in MaxLineLength (a PING of 15
// parameters written without ':' before the last, which holds a space, is
// one byte short of it once the ':' is added) only the last parameter, the
// token the server checks (Twisted's IRCClient answers with it alone).
// A token too long for any PONG to fit (in a PING over 512 bytes, which
// the client reads: MaxIncomingLineLength) gives a PONG that does not
// format: Send refuses it and the PING goes unanswered, as no answer the
// server could match exists.
func pongFor(ping Message) Message {
	pong := Message{Command: "PONG", Params: ping.Params}
	if _, err := pong.Append(nil); err == nil || len(ping.Params) == 0 {
		return pong
	}
	return Message{Command: "PONG", Params: ping.Params[len(ping.Params)-1:]}
}
