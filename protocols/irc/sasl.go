package irc

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/weftkit/weft"
)

// SASL PLAIN authentication during registration
// (https://ircv3.net/specs/extensions/sasl-3.1), which Twisted's IRCClient
// does not have. With Config.SASL set, the Client requests the "sasl"
// capability in its CAP negotiation (even when Config.Caps does not name
// it; only if the server offers it with PLAIN, or with no mechanism list);
// once the server ACKs it, and before CAP END, it sends "AUTHENTICATE
// PLAIN", then, on the server's "AUTHENTICATE +", base64(authzid NUL user
// NUL password) in AUTHENTICATE lines of at most 400 bytes of base64 (a
// last line of exactly 400 followed by "AUTHENTICATE +"), and waits for
// 903 (success) or 902, 904, 905, 906, 907, 908 (failure). Then it sends
// CAP END (once every CAP REQ is answered too), or, on a failure with
// SASLConfig.Required, closes the connection. A server that does not offer
// SASL PLAIN, whose ACK leaves sasl out, that withdraws it (CAP DEL)
// during the authentication, or that welcomes the client (001) before SASL
// ended, is a failure too (ErrSASLUnavailable, ErrSASLFailed); a 903
// before the credentials were sent is ignored. Config.RegisterTimeout
// bounds it all: a server that never answers AUTHENTICATE, or answers
// garbage (ignored), is left when it expires.

// SASLConfig is the SASL PLAIN authentication of Config.SASL. The password
// is sent only base64-encoded in AUTHENTICATE lines (use TLS), and appears
// in no error.
type SASLConfig struct {
	// User is the account name (authentication identity). Required.
	User string
	// Password is the account's password. Required.
	Password string
	// AuthzID is the authorization identity, the account to act as; empty
	// (the usual) means User's.
	AuthzID string
	// Required: when the server does not offer SASL PLAIN or the
	// authentication fails, close the connection with the error
	// (ErrSASLUnavailable, ErrSASLFailed) instead of registering
	// unauthenticated.
	Required bool
}

// String describes s without its password, so that printing a
// configuration (%v, %+v, %s) does not leak it.
func (s SASLConfig) String() string {
	return fmt.Sprintf("{User:%q Password:<redacted> AuthzID:%q Required:%v}", s.User, s.AuthzID, s.Required)
}

// GoString is String for %#v.
func (s SASLConfig) GoString() string { return "irc.SASLConfig" + s.String() }

// validate reports an empty user or password, or a NUL byte, without
// echoing the values.
func (s *SASLConfig) validate() error {
	if s.User == "" || s.Password == "" {
		return fmt.Errorf("%w: Config.SASL: User and Password must not be empty", ErrConfig)
	}
	if strings.ContainsRune(s.User+s.Password+s.AuthzID, 0) {
		return fmt.Errorf("%w: Config.SASL: User, Password or AuthzID holds a NUL byte", ErrConfig)
	}
	return nil
}

// SASLHandler is an optional interface of a Handler: a Handler that also
// implements it is told how SASL ended (the Client checks for it with a
// type assertion, as for CTCPHandler).
type SASLHandler interface {
	// SASLResult is called once per connection when Config.SASL is set,
	// before CAP END is sent (so before SignedOn): err is nil when the
	// server accepted the credentials (903), else it matches
	// ErrSASLUnavailable or ErrSASLFailed and holds the server's numeric
	// and text. With SASLConfig.Required and an error, the connection is
	// then closed with err. It is not called when the connection is lost
	// before SASL ended.
	SASLResult(c *Client, err error)
}

// saslChunk is the most base64 bytes in one AUTHENTICATE line.
const saslChunk = 400

// saslPhase is where a Client's SASL authentication is.
type saslPhase uint8

const (
	saslOff  saslPhase = iota // not configured, or over
	saslWait                  // configured: waiting for the ACK of sasl
	saslAuth                  // AUTHENTICATE PLAIN sent, waiting for "+"
	saslSent                  // credentials sent, waiting for 903 or failure
)

// saslBusyLocked reports whether AUTHENTICATE is under way; called with c.mu
// held.
func (c *Client) saslBusyLocked() bool {
	return c.saslPhase == saslAuth || c.saslPhase == saslSent
}

// saslUsable reports whether a sasl capability whose LS value is value
// may be requested: with Config.SASL, only when it offers PLAIN or lists
// no mechanism.
func (c *Client) saslUsable(name, value string) bool {
	if name != "sasl" || c.cfg.SASL == nil || value == "" {
		return true
	}
	for _, mech := range strings.Split(value, ",") {
		if strings.EqualFold(mech, "PLAIN") {
			return true
		}
	}
	return false
}

// saslCancelLocked ends SASL before it started (sasl not offered, NAKed,
// CAP unknown) with the error to pass to saslEnd, nil when it was not
// waiting; called with c.mu held.
func (c *Client) saslCancelLocked(why string) error {
	if c.saslPhase != saslWait {
		return nil
	}
	c.saslPhase = saslOff
	return fmt.Errorf("%w: %s", ErrSASLUnavailable, why)
}

// saslEnd tells the Handler how SASL ended (its phase already saslOff),
// then closes the connection on an error with Required, or else sends CAP
// END if it was only waiting for SASL. It reports whether it closed.
func (c *Client) saslEnd(err error) bool {
	c.mu.Lock()
	end := c.capPhase == capSASL
	if end {
		c.capPhase = capOff
	}
	raw := c.raw
	c.mu.Unlock()
	if h, ok := c.h.(SASLHandler); ok {
		h.SASLResult(c, err)
	}
	if err != nil && c.cfg.SASL.Required {
		c.mu.Lock()
		c.closed = true // what the server sent after is not dispatched
		c.mu.Unlock()
		weft.LoseConnectionWithReason(raw, err)
		return true
	}
	if end {
		_ = c.send("CAP", "END")
	}
	return false
}

// saslMessage handles AUTHENTICATE and the SASL numerics (900 to 908).
func (c *Client) saslMessage(m Message) {
	c.mu.Lock()
	switch m.Command {
	case "900": // RPL_LOGGEDIN <nick> <nick!user@host> <account> :text
		if len(m.Params) >= 4 {
			c.account = m.Params[2]
		}
	case "901": // RPL_LOGGEDOUT
		c.account = ""
	}
	phase := c.saslPhase
	var err error
	switch {
	case m.Command == "AUTHENTICATE":
		if phase != saslAuth || len(m.Params) != 1 || m.Params[0] != "+" {
			c.mu.Unlock()
			return // garbage: RegisterTimeout ends it
		}
		c.saslPhase = saslSent
		c.mu.Unlock()
		c.saslSendCredentials()
		return
	case phase != saslAuth && phase != saslSent:
		c.mu.Unlock()
		return
	case m.Command == "903" && phase != saslSent:
		c.mu.Unlock()
		return // a success claimed before the credentials were sent: ignored
	case m.Command == "903":
	case m.Command == "908": // RPL_SASLMECHS <nick> <mechanisms> :text
		err = fmt.Errorf("%w: 908 the server's SASL mechanisms are %s, not PLAIN", ErrSASLFailed, printable(m.Param(1)))
	case m.Command >= "902" && m.Command <= "907":
		err = fmt.Errorf("%w: %s %s", ErrSASLFailed, m.Command, printable(m.Param(len(m.Params)-1)))
	default: // 900, 901
		c.mu.Unlock()
		return
	}
	c.saslPhase = saslOff
	c.mu.Unlock()
	c.saslEnd(err)
}

// saslSendCredentials sends the PLAIN message in base64, in lines of at
// most saslChunk bytes, and "+" after a last one of exactly saslChunk.
func (c *Client) saslSendCredentials() {
	s := c.cfg.SASL
	b64 := base64.StdEncoding.EncodeToString([]byte(s.AuthzID + "\x00" + s.User + "\x00" + s.Password))
	for len(b64) > 0 {
		n := min(saslChunk, len(b64))
		_ = c.send("AUTHENTICATE", b64[:n])
		b64 = b64[n:]
		if n == saslChunk && len(b64) == 0 {
			_ = c.send("AUTHENTICATE", "+")
		}
	}
}

// saslWelcomed ends SASL when the server welcomes the client (001) before
// SASL ended. It reports whether the connection is being closed.
func (c *Client) saslWelcomed() bool {
	c.mu.Lock()
	var err error
	switch c.saslPhase {
	case saslWait:
		err = fmt.Errorf("%w: the server welcomed the client without SASL", ErrSASLUnavailable)
	case saslAuth, saslSent:
		err = fmt.Errorf("%w: the server welcomed the client before SASL ended", ErrSASLFailed)
	}
	c.saslPhase = saslOff
	c.mu.Unlock()
	return err != nil && c.saslEnd(err)
}

// Account returns the account the server says the client is logged in as
// (900 RPL_LOGGEDIN, cleared by 901 RPL_LOGGEDOUT), "" when none.
func (c *Client) Account() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.account
}
