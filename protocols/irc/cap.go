package irc

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// IRCv3 capability negotiation (https://ircv3.net/specs/extensions/capability-negotiation),
// which Twisted's IRCClient does not have. With Config.Caps set, the
// Client sends "CAP LS 302" before PASS, NICK and USER; reads the server's
// LS reply, one line or several ("CAP * LS * :..." continuations), each
// capability "name" or "name=value"; requests with "CAP REQ" the wanted
// capabilities the server offers (in Config.Caps order, on as many lines
// as they need); and once each REQ is answered (ACK or NAK) sends "CAP
// END", upon which the server completes the registration. A server that
// does not know CAP (421, or 451 before registration) or welcomes the
// client (001) without answering it leaves the client registered with no
// capability. Later, CAP ACK enables (and "-name" disables), CAP DEL
// disables, and CAP NEW offering a wanted capability not enabled makes the
// client request it.
//
// What a hostile server controls is bounded: the client keeps only the
// capabilities it asked for (so their number and the bytes kept are those
// of Config.Caps, each value at most one line), reads at most
// MaxCapLSLines LS lines before it takes the list as complete, and the
// whole negotiation is bounded by Config.RegisterTimeout, since the
// server's welcome (001) is what stops that timer.

// MaxCapLSLines is the most lines of a CAP LS reply a Client reads: after
// that many the list is taken as complete (the capabilities seen so far
// are requested) and further LS lines are ignored, so that a server
// sending continuation lines without end cannot keep the negotiation
// going. Servers send two or three.
const MaxCapLSLines = 16

// CapHandler is an optional interface of a Handler: a Handler that also
// implements it is told when the enabled capabilities change (the Client
// checks for it with a type assertion, as for CTCPHandler).
type CapHandler interface {
	// CapsChanged: the server enabled (CAP ACK) the capabilities added
	// and disabled (CAP ACK of "-name", CAP DEL) those removed, one of
	// them possibly empty, never both; c.Caps() is the new set. During
	// registration it is called before CAP END is sent, so before
	// SignedOn.
	CapsChanged(c *Client, added, removed []string)
}

// capPhase is where a Client's registration negotiation is.
type capPhase uint8

const (
	capOff  capPhase = iota // no negotiation: none asked, or it is over
	capLS                   // CAP LS sent, its reply being read
	capReq                  // CAP REQ sent, capPending unanswered
	capSASL                 // every REQ answered, SASL under way (sasl.go)
)

// checkCaps reports the first capability name of Config.Caps that cannot
// be requested.
func checkCaps(caps []string) error {
	for _, name := range caps {
		if name == "" || name[0] == '-' || name[0] == ':' || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == '=' || r == 0x7f }) {
			return fmt.Errorf("%w: Config.Caps: %q is not a capability name (empty, starting with '-' or ':', or holding '=', a space or a control byte)", ErrConfig, name)
		}
		if len("CAP REQ :")+len(name) > maxContent {
			return fmt.Errorf("%w: Config.Caps: a %d-byte capability name does not fit in a CAP REQ line", ErrConfig, len(name))
		}
	}
	return nil
}

// Caps returns a copy of the enabled capabilities, each with the value
// the server advertised with it in CAP LS or CAP NEW ("" when none); an
// empty map before the negotiation, or when none was enabled.
func (c *Client) Caps() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.capEnabled)
}

// capEnabledLocked reports whether the capability name is enabled; called
// with c.mu held.
func (c *Client) capEnabledLocked(name string) bool {
	_, ok := c.capEnabled[name]
	return ok
}

// resetCapsLocked starts the negotiation of a new connection; called with
// c.mu held.
func (c *Client) resetCapsLocked() {
	c.capPhase, c.capLSLines, c.capPending = capOff, 0, 0
	c.capOffered, c.capEnabled = map[string]string{}, map[string]string{}
	c.capAsked = map[string]bool{}
	if len(c.capWant) > 0 {
		c.capPhase = capLS
	}
	c.saslPhase, c.account = saslOff, ""
	if c.cfg.SASL != nil {
		c.saslPhase = saslWait
	}
}

// capMessage handles a CAP message from the server:
// ":server CAP <nick> <subcommand> [*] :<list>".
func (c *Client) capMessage(m Message) {
	if len(m.Params) < 2 || len(c.capWant) == 0 {
		return
	}
	sub := strings.ToUpper(m.Params[1])
	more := len(m.Params) >= 4 && m.Params[2] == "*" // a continuation line
	list := ""
	if len(m.Params) >= 3 {
		list = m.Params[len(m.Params)-1]
	}
	var added, removed, req []string
	end, startAuth := false, false
	var saslErr error
	c.mu.Lock()
	switch sub {
	case "LS":
		if c.capPhase != capLS {
			break
		}
		c.capLSLines++
		for _, tok := range strings.Fields(list) {
			name, value, _ := strings.Cut(tok, "=")
			if c.wanted(name) {
				c.capOffered[name] = value
			}
		}
		if more && c.capLSLines < MaxCapLSLines {
			break
		}
		for _, name := range c.capWant {
			if v, ok := c.capOffered[name]; ok && !c.capEnabledLocked(name) && c.saslUsable(name, v) {
				req = append(req, name)
			}
		}
		if c.cfg.SASL != nil && !slices.Contains(req, "sasl") {
			why := "the server does not offer sasl (CAP LS)"
			if v, ok := c.capOffered["sasl"]; ok {
				why = fmt.Sprintf("the server offers sasl=%s, not PLAIN", printable(v))
			}
			saslErr = c.saslCancelLocked(why)
		}
		if len(req) == 0 {
			c.capPhase, end = capOff, true
		} else {
			c.capPhase = capReq
			c.capPending = len(capReqLines(req))
		}
	case "ACK", "NAK":
		if sub == "ACK" {
			for _, tok := range strings.Fields(list) {
				name, off := strings.CutPrefix(tok, "-")
				switch {
				case !c.wanted(name):
				case off && c.capEnabledLocked(name):
					delete(c.capEnabled, name)
					removed = append(removed, name)
				case !off && c.capAsked[name] && !c.capEnabledLocked(name):
					c.capEnabled[name] = c.capOffered[name]
					added = append(added, name)
					if name == "sasl" && c.saslPhase == saslWait && c.capPhase == capReq {
						c.saslPhase, startAuth = saslAuth, true
					}
				}
				delete(c.capAsked, name)
			}
		} else {
			for _, name := range strings.Fields(list) {
				delete(c.capAsked, name)
				if name == "sasl" {
					saslErr = c.saslCancelLocked("the server refused sasl (CAP NAK)")
				}
			}
		}
		if c.capPhase == capReq && !more {
			if c.capPending--; c.capPending <= 0 {
				// Every REQ answered and sasl neither ACKed nor NAKed
				// (an ACK that left it out): no SASL on this connection.
				if err := c.saslCancelLocked("the server's CAP ACK left sasl out"); err != nil {
					saslErr = err
				}
				if c.saslBusyLocked() {
					c.capPhase = capSASL // saslEnd sends CAP END
				} else {
					c.capPhase, end = capOff, true
				}
			}
		}
	case "NEW":
		for _, tok := range strings.Fields(list) {
			name, value, _ := strings.Cut(tok, "=")
			if !c.wanted(name) {
				continue
			}
			c.capOffered[name] = value
			if c.capPhase != capLS && !c.capEnabledLocked(name) && !c.capAsked[name] && !slices.Contains(req, name) {
				req = append(req, name)
			}
		}
		if c.capPhase == capReq {
			c.capPending += len(capReqLines(req))
		}
	case "DEL":
		for _, name := range strings.Fields(list) {
			if !c.wanted(name) {
				continue
			}
			if name == "sasl" && c.saslBusyLocked() {
				// Withdrawn during the authentication: it ends, as a
				// failure (CAP END follows if it was held for it).
				c.saslPhase = saslOff
				saslErr = fmt.Errorf("%w: the server withdrew sasl (CAP DEL) during the authentication", ErrSASLFailed)
			}
			delete(c.capOffered, name)
			if c.capEnabledLocked(name) {
				delete(c.capEnabled, name)
				removed = append(removed, name)
			}
		}
	}
	for _, name := range req {
		c.capAsked[name] = true
	}
	c.mu.Unlock()
	if h, ok := c.h.(CapHandler); ok && (len(added) > 0 || len(removed) > 0) {
		h.CapsChanged(c, added, removed)
	}
	if saslErr != nil && c.saslEnd(saslErr) {
		return // closed: SASL was required
	}
	for _, line := range capReqLines(req) {
		_ = c.send("CAP", "REQ", line)
	}
	if startAuth {
		_ = c.send("AUTHENTICATE", "PLAIN")
	}
	if end {
		_ = c.send("CAP", "END")
	}
}

// capNotUnderstood ends the negotiation without CAP END: the server
// answered 421 (or 451) to CAP LS. (A welcome, 001, ends it too.) Once the
// LS is answered the server knows CAP: a later 421 or 451 is ignored, or
// the CAP END held for the REQ or SASL would never be sent.
func (c *Client) capNotUnderstood() {
	c.mu.Lock()
	if c.capPhase != capLS || c.capLSLines > 0 {
		c.mu.Unlock()
		return
	}
	c.capPhase = capOff
	err := c.saslCancelLocked("the server does not know CAP")
	c.mu.Unlock()
	if err != nil {
		c.saslEnd(err)
	}
}

// wanted reports whether name is one of Config.Caps, or "sasl" with
// Config.SASL set.
func (c *Client) wanted(name string) bool { return c.capWantSet[name] }

// capReqLines joins names into the lists of CAP REQ lines, each line
// within MaxLineLength (checkCaps ensures that one name fits).
func capReqLines(names []string) []string {
	var lines []string
	cur := ""
	for _, name := range names {
		if cur != "" && len("CAP REQ :")+len(cur)+1+len(name) > maxContent {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += name
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}
