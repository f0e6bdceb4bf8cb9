package irc

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// DefaultMaxNickRetries is how many altered nicks a Client tries during
// registration before giving up, when Config.MaxNickRetries is zero.
const DefaultMaxNickRetries = 10

// Config configures a Client. Only Nick is required.
type Config struct {
	// Nick is the nickname to register with. Required.
	Nick string
	// User is the user name sent with USER. Empty means Nick.
	User string
	// RealName is the real name sent with USER. Empty means Nick.
	RealName string
	// Password, if not empty, is sent with PASS before NICK and USER.
	// Empty means no PASS.
	Password string
	// AlterNick returns the nick to try when the server refuses one during
	// registration (433 nick in use, 432 erroneous, 436 collision, 437
	// held by the server's nick delay); "" gives up. Nil means append "^",
	// the alterCollidedNick of Twisted's ircLogBot (IRCClient's own appends
	// "_").
	AlterNick func(nick string) string
	// MaxNickRetries bounds the altered nicks tried during registration,
	// so a server refusing everything cannot keep the client looping.
	// Zero means DefaultMaxNickRetries.
	MaxNickRetries int
	// RegisterTimeout bounds the wait for the server's welcome (001) after
	// the connection is made: past it the connection is closed with an
	// error matching ErrRegisterTimeout, so a server that never welcomes
	// the client cannot hold it, even one that keeps it busy with PINGs.
	// Zero means DefaultRegisterTimeout.
	RegisterTimeout time.Duration
	// Caps are the IRCv3 capabilities to request ("multi-prefix",
	// "message-tags", "server-time", ...): the Client sends "CAP LS 302"
	// before PASS, NICK and USER, requests those of them the server
	// offers, and ends the negotiation with CAP END (see Client.Caps and
	// MaxCapLSLines). Names are compared exactly and asked once. The
	// Client does not act on what a capability changes, but for "sasl"
	// when SASL is set; Parse reads the tags that "message-tags",
	// "server-time" or "account-tag" bring. Empty, with SASL nil: no CAP
	// is sent, and the server's CAP messages are ignored.
	Caps []string
	// SASL, if set, authenticates with SASL PLAIN during registration:
	// the Client negotiates capabilities (as with Caps, adding "sasl") and
	// authenticates before CAP END; see SASLConfig and SASLHandler. Nil:
	// no SASL.
	SASL *SASLConfig

	// The Client answers CTCP queries (a PRIVMSG holding "\x01TAG
	// data\x01") as Twisted's IRCClient does, with a NOTICE to the
	// sender's nick (never to a channel): PING (its data echoed), TIME
	// (Now, as "TIME :Fri Nov 27 04:06:00 2026"), CLIENTINFO (the tags it
	// understands, or with a tag what that one does) and ERRMSG always,
	// and VERSION, SOURCE, USERINFO and FINGER only when the field below
	// is set. Other queries (DCC, ...) get no answer, as Twisted 22.4
	// gives none to a tag it does not know (it handles DCC, answering an
	// unknown DCC type with ERRMSG), nor does a CTCP message in a NOTICE
	// (an answer: answering it could start a loop between two clients).
	// See MaxCTCPQueries and CTCPReplyInterval for the limits, CTCPHandler
	// to see the queries.

	// CTCPVersion, if not empty, is the answer to CTCP VERSION: by
	// convention "name:version:environment", which is Twisted's answer
	// built from versionName, versionNum and versionEnv
	// ("weftbot:1.2:Go on linux"). Empty: VERSION is not answered, as in
	// Twisted when versionName is not set.
	CTCPVersion string
	// CTCPSource, if not empty, is the answer to CTCP SOURCE: where to
	// get the client's source, such as a URL (Twisted's sourceURL); it is
	// sent followed by an empty SOURCE, the CTCP specification's end of
	// the list, as Twisted sends it. Empty: SOURCE is not answered
	// (Twisted answers its own download page by default).
	CTCPSource string
	// CTCPUserInfo, if not empty, is the answer to CTCP USERINFO, a text
	// the user sets (Twisted's userinfo). Empty: not answered.
	CTCPUserInfo string
	// CTCPFinger, if not empty, is the answer to CTCP FINGER (Twisted's
	// fingerReply). Empty: not answered.
	CTCPFinger string
	// CTCPReplyInterval and CTCPMaxReplies rate-limit the answers to CTCP
	// queries, so that a flood of queries (from one user or many) cannot
	// make the client flood the server back and be killed for it, which
	// Twisted's IRCClient does not prevent: a sender gets at most one
	// answer per tag per CTCPReplyInterval (nicks compared with
	// EqualFold), and the client sends at most CTCPMaxReplies answers in
	// all in any CTCPReplyInterval; the excess queries are dropped
	// unanswered. The budget belongs to the Client, one connection. The
	// time is the system clock's, not Now. Zero means
	// DefaultCTCPReplyInterval (10 s).
	CTCPReplyInterval time.Duration
	// CTCPMaxReplies: see CTCPReplyInterval. Zero means
	// DefaultCTCPMaxReplies (3); negative means that no CTCP query is
	// answered (CTCPHandler still sees them).
	CTCPMaxReplies int
	// Now is the clock of the answer to CTCP TIME (local time, as
	// Twisted's time.localtime; give one in UTC not to tell the time
	// zone). Nil means time.Now.
	Now func() time.Time
}

// DefaultRegisterTimeout is how long a Client waits for the server's
// welcome (001) when Config.RegisterTimeout is zero.
const DefaultRegisterTimeout = 2 * time.Minute

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.Nick == "" || strings.ContainsAny(c.Nick, " \x00\r\n:!@") {
		return fmt.Errorf("%w: Config.Nick %q must be non-empty without spaces, ':', '!', '@' or control bytes", ErrConfig, c.Nick)
	}
	if strings.ContainsAny(c.User, " \x00\r\n@") {
		return fmt.Errorf("%w: Config.User %q holds a space, '@' or control byte", ErrConfig, c.User)
	}
	if strings.ContainsAny(c.RealName, "\x00\r\n") || strings.ContainsAny(c.Password, "\x00\r\n") {
		return fmt.Errorf("%w: Config.RealName or Config.Password holds NUL, CR or LF", ErrConfig)
	}
	if c.MaxNickRetries < 0 {
		return fmt.Errorf("%w: Config.MaxNickRetries %d is negative", ErrConfig, c.MaxNickRetries)
	}
	if c.RegisterTimeout < 0 {
		return fmt.Errorf("%w: Config.RegisterTimeout %v is negative", ErrConfig, c.RegisterTimeout)
	}
	if err := checkCaps(c.Caps); err != nil {
		return err
	}
	if c.SASL != nil {
		if err := c.SASL.validate(); err != nil {
			return err
		}
	}
	if c.CTCPReplyInterval < 0 {
		return fmt.Errorf("%w: Config.CTCPReplyInterval %v is negative", ErrConfig, c.CTCPReplyInterval)
	}
	for name, v := range map[string]string{"CTCPVersion": c.CTCPVersion, "CTCPSource": c.CTCPSource,
		"CTCPUserInfo": c.CTCPUserInfo, "CTCPFinger": c.CTCPFinger} {
		if strings.ContainsAny(v, "\x00\r\n") {
			return fmt.Errorf("%w: Config.%s %q holds NUL, CR or LF", ErrConfig, name, v)
		}
	}
	// The registration lines must be sendable (not too long, no ':' before
	// the user name), or registration would stall with nothing said.
	for _, m := range c.registration() {
		if _, err := m.Append(nil); err != nil {
			return fmt.Errorf("%w: %s cannot be sent (Config.Nick, User, RealName or Password): %w", ErrConfig, m.Command, err)
		}
	}
	return nil
}

// registration returns the CAP LS (if Caps or SASL are asked), PASS (if
// any), NICK and USER messages.
func (c Config) registration() []Message {
	var ms []Message
	if len(c.Caps) > 0 || c.SASL != nil {
		ms = append(ms, Message{Command: "CAP", Params: []string{"LS", "302"}})
	}
	if c.Password != "" {
		ms = append(ms, Message{Command: "PASS", Params: []string{c.Password}})
	}
	user, real := c.User, c.RealName
	if user == "" {
		user = c.Nick
	}
	if real == "" {
		real = c.Nick
	}
	return append(ms,
		Message{Command: "NICK", Params: []string{c.Nick}},
		Message{Command: "USER", Params: []string{user, "0", "*", real}})
}

// Client is an IRC client connection: a weft.Protocol to run with
// weft.Serve, client.Dial or client.Reconnecting (one Client per
// connection). It registers on ConnectionMade, answers PING, and calls its
// Handler for what the server sends. Its sending methods are safe to call
// from any goroutine.
type Client struct {
	proto weft.Protocol // the line-framed adapter
	cfg   Config
	h     Handler

	mu         sync.Mutex
	raw        weft.Transport // the connection's own transport
	t          codec.FrameTransport
	regTimer   *time.Timer // closes the connection if no 001 comes
	nick       string
	registered bool
	closed     bool // closed by the Client (SASL Required): no more dispatch
	retries    int
	asked      string      // the last nick asked for with SetNick
	casemap    caseMapping // the server's ISUPPORT CASEMAPPING

	// The capability negotiation (cap.go).
	capPhase   capPhase
	capLSLines int               // LS lines read
	capPending int               // REQ lines not answered in capReq
	capOffered map[string]string // the wanted caps the server offers
	capEnabled map[string]string // the enabled caps, with their values
	capAsked   map[string]bool   // the caps requested, not yet answered

	// SASL (sasl.go).
	saslPhase saslPhase
	account   string // 900 RPL_LOGGEDIN's account

	// ctcpLimit is the rate limit of the CTCP answers, nil when none is
	// answered; set before the connection is made, then only read.
	ctcpLimit *replyLimiter
	// capWant are Config.Caps without repeats (and "sasl" with
	// Config.SASL), capWantSet the same as a set; set by NewClient, then
	// only read.
	capWant    []string
	capWantSet map[string]bool
}

// NewClient returns a Client for cfg, calling h (nil: BaseHandler).
func NewClient(cfg Config, h Handler) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		h = BaseHandler{}
	}
	c := &Client{cfg: cfg, h: h, nick: cfg.Nick, capWantSet: map[string]bool{}}
	caps := cfg.Caps
	if cfg.SASL != nil {
		caps = append(slices.Clip(caps), "sasl")
	}
	for _, name := range caps {
		if !c.capWantSet[name] {
			c.capWantSet[name] = true
			c.capWant = append(c.capWant, name)
		}
	}
	if cfg.CTCPMaxReplies >= 0 {
		interval, maxReplies := cfg.CTCPReplyInterval, cfg.CTCPMaxReplies
		if interval == 0 {
			interval = DefaultCTCPReplyInterval
		}
		if maxReplies == 0 {
			maxReplies = DefaultCTCPMaxReplies
		}
		c.ctcpLimit = newReplyLimiter(interval, maxReplies)
	}
	// Lines from the server may be up to MaxIncomingLineLength long (what
	// the client sends is checked against MaxLineLength by Message.Append);
	// the codec holds at most that much of a pending line.
	c.proto = codec.NewProtocol(codec.Line{MaxLength: MaxIncomingLineLength - 2}, (*frames)(c))
	return c, nil
}

// ConnectionMade implements weft.Protocol: it sends CAP LS (when
// Config.Caps or Config.SASL ask for it), PASS, NICK and USER.
func (c *Client) ConnectionMade(t weft.Transport) {
	c.mu.Lock()
	c.raw = t
	c.mu.Unlock()
	c.proto.ConnectionMade(t)
}

// DataReceived implements weft.Protocol: it splits lines and dispatches
// them.
func (c *Client) DataReceived(data []byte) { c.proto.DataReceived(data) }

// ConnectionLost implements weft.Protocol.
func (c *Client) ConnectionLost(reason error) { c.proto.ConnectionLost(reason) }

// Nick returns the client's current nickname (the registered one once
// signed on).
func (c *Client) Nick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nick
}

// Registered reports whether the server has welcomed the client (001).
func (c *Client) Registered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.registered
}

// Transport returns the connection's transport, nil before ConnectionMade.
func (c *Client) Transport() weft.Transport {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil {
		return nil
	}
	return c.t
}

// Send formats m and writes it, without its Tags (SendTagged sends tags).
func (c *Client) Send(m Message) error {
	c.mu.Lock()
	t := c.t
	c.mu.Unlock()
	if t == nil {
		return ErrNotConnected
	}
	b, err := m.Append(nil)
	if err != nil {
		return err
	}
	_, err = t.Write(b)
	return err
}

func (c *Client) send(cmd string, params ...string) error {
	return c.Send(Message{Command: cmd, Params: params})
}

// Join joins a channel, with a key when given. An empty channel, more than
// one key, or a channel or key holding a space, NUL, CR or LF or starting
// with ':' is ErrInvalid.
func (c *Client) Join(channel string, key ...string) error {
	if err := checkWord("Join channel", channel); err != nil {
		return err
	}
	switch {
	case len(key) > 1:
		return fmt.Errorf("%w: Join takes one key, not %d", ErrInvalid, len(key))
	case len(key) == 1:
		if err := checkWord("Join key", key[0]); err != nil {
			return err
		}
	}
	return c.send("JOIN", append([]string{channel}, key...)...)
}

// checkWord refuses what cannot be sent as a middle parameter (a channel, a
// key, a nick): the message would carry another meaning or none.
func checkWord(what, s string) error {
	if s == "" || s[0] == ':' || strings.ContainsAny(s, " \x00\r\n") {
		return fmt.Errorf("%w: %s %q is empty, starts with ':' or holds a space, NUL, CR or LF", ErrInvalid, what, s)
	}
	return nil
}

// Part leaves a channel, with an optional reason. An empty channel, or one
// holding a space, NUL, CR or LF or starting with ':', is ErrInvalid.
func (c *Client) Part(channel, reason string) error {
	if err := checkWord("Part channel", channel); err != nil {
		return err
	}
	if reason == "" {
		return c.send("PART", channel)
	}
	return c.send("PART", channel, reason)
}

// Relay reckoning: when a server relays a PRIVMSG or NOTICE it puts
// ":nick!user@host " before it, and the relayed line must fit in
// MaxLineLength too. The host is reckoned at its longest (RFC 2812 section
// 2.3.1), the user name with the '~' servers add when there is no ident,
// and at least minRelayUser bytes (USERLEN on most servers).
const (
	maxRelayHost = 63
	minRelayUser = 10
)

// MaxText returns the longest text, in bytes, that Msg and Notice send to
// target: the most that still fits in MaxLineLength once the server has put
// ":nick!user@host " before the line to relay it, with the client's nick
// (the longer of the current one and one asked for with SetNick), its user
// name plus a '~' (at least 10 bytes) and a 63-byte host. Me takes 9 bytes
// fewer ("\x01ACTION " and "\x01"). It is 0 when nothing fits.
func (c *Client) MaxText(target string) int {
	c.mu.Lock()
	nick := max(len(c.nick), len(c.asked))
	c.mu.Unlock()
	user := c.cfg.User
	if user == "" {
		user = c.cfg.Nick
	}
	prefix := len(":!@ ") + nick + max(len(user)+1, minRelayUser) + maxRelayHost
	return max(0, maxContent-prefix-len("PRIVMSG  :")-len(target))
}

// sendText sends a PRIVMSG or NOTICE, refusing a text over MaxText.
func (c *Client) sendText(cmd, target, text string) error {
	if limit := c.MaxText(target); len(text) > limit {
		return fmt.Errorf("%w: %s to %s: text is %d bytes, the limit is %d (room is kept for the prefix the server adds when it relays the line)", ErrLineTooLong, cmd, target, len(text), limit)
	}
	return c.send(cmd, target, text)
}

// Msg sends a PRIVMSG to a channel or nick. A text over MaxText(target)
// bytes is refused with ErrLineTooLong, not split (it would be cut short
// by the server); a NUL, CR or LF is ErrInvalid.
func (c *Client) Msg(target, text string) error { return c.sendText("PRIVMSG", target, text) }

// Notice sends a NOTICE to a channel or nick, with Msg's limits. Use it for
// automatic replies: RFC 2812 says a client never answers a NOTICE.
func (c *Client) Notice(target, text string) error { return c.sendText("NOTICE", target, text) }

// Me sends a CTCP ACTION ("/me text") to a channel or nick. A text holding
// \x01 (which would end the CTCP message early), NUL, CR or LF is
// ErrInvalid; one over MaxText(target)-9 bytes is ErrLineTooLong.
func (c *Client) Me(target, text string) error {
	if i := strings.IndexByte(text, '\x01'); i >= 0 {
		return fmt.Errorf("%w: CTCP ACTION text holds \\x01 at offset %d", ErrInvalid, i)
	}
	return c.sendText("PRIVMSG", target, "\x01ACTION "+text+"\x01")
}

// CTCP sends the CTCP query tag, with data if not empty, to a channel or
// nick in a PRIVMSG (Twisted's ctcpMakeQuery), CTCP-quoted, so data may
// hold a backslash or \x01. A tag that is empty or holds a space, a
// backslash, \x01, NUL, CR or LF, or data holding NUL, CR or LF, is
// ErrInvalid; a query too long for the line is ErrLineTooLong. ACTION is
// Me's. The answers come as NOTICEs: a Handler that implements
// CTCPReplyHandler is told of them.
func (c *Client) CTCP(target, tag, data string) error {
	if tag == "" || strings.ContainsAny(tag, " \\\x01\x00\r\n") {
		return fmt.Errorf("%w: CTCP tag %q: want a word without spaces, backslashes or control bytes", ErrInvalid, tag)
	}
	return c.sendText("PRIVMSG", target, ctcpMessage(tag, data))
}

// SetNick asks the server for a new nickname; the change is confirmed by a
// NICK message (Handler.NickChanged). A nick that Config.Validate would
// refuse (empty, or holding a space, ':', '!', '@', NUL, CR or LF) is
// ErrInvalid, and nothing is sent.
func (c *Client) SetNick(nick string) error {
	if nick == "" || strings.ContainsAny(nick, " \x00\r\n:!@") {
		return fmt.Errorf("%w: SetNick %q: a nick is non-empty without spaces, ':', '!', '@' or control bytes", ErrInvalid, nick)
	}
	c.mu.Lock()
	c.asked = nick
	c.mu.Unlock()
	return c.send("NICK", nick)
}

// Quit sends QUIT with an optional reason and closes the connection once
// it is written.
func (c *Client) Quit(reason string) error {
	var err error
	if reason == "" {
		err = c.send("QUIT")
	} else {
		err = c.send("QUIT", reason)
	}
	if t := c.Transport(); t != nil {
		t.LoseConnection()
	}
	return err
}

// Shutdown implements weft.ShutdownNotifier: on a graceful shutdown the
// client says QUIT before the connection is closed.
func (c *Client) Shutdown() { _ = c.send("QUIT") }

// startRegisterTimerLocked arms the registration timeout of the connection
// whose transport is raw; called with c.mu held.
func (c *Client) startRegisterTimerLocked(raw weft.Transport) {
	d := c.cfg.RegisterTimeout
	if d == 0 {
		d = DefaultRegisterTimeout
	}
	if c.regTimer != nil {
		c.regTimer.Stop()
	}
	c.regTimer = time.AfterFunc(d, func() {
		c.mu.Lock()
		expired := !c.registered && c.raw == raw
		c.mu.Unlock()
		if expired && raw != nil {
			weft.LoseConnectionWithReason(raw, fmt.Errorf("%w: no welcome (001) from the server within %v", ErrRegisterTimeout, d))
		}
	})
}

// stopRegisterTimerLocked stops the registration timeout; called with c.mu
// held.
func (c *Client) stopRegisterTimerLocked() {
	if c.regTimer != nil {
		c.regTimer.Stop()
		c.regTimer = nil
	}
}
