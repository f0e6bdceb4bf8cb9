package irc

import (
	"sort"
	"strings"
	"time"
)

// MaxCTCPQueries is how many CTCP queries of one PRIVMSG a Client considers:
// the first query of each tag (ACTION apart, which is never answered), up
// to MaxCTCPQueries tags; the rest of the message's queries are ignored, so
// that one message cannot make the client send more than MaxCTCPQueries
// answers.
const MaxCTCPQueries = 3

// The default rate limit of a Client's answers to CTCP queries (see
// Config.CTCPReplyInterval): one answer per tag per sender per
// DefaultCTCPReplyInterval, at most DefaultCTCPMaxReplies answers in all
// per DefaultCTCPReplyInterval.
const (
	DefaultCTCPReplyInterval = 10 * time.Second
	DefaultCTCPMaxReplies    = 3
)

// CTCPHandler is an optional interface of a Handler: a Handler that also
// implements it is told of the CTCP queries the Client receives (the Client
// checks for it with a type assertion, so a Handler need not implement
// it).
type CTCPHandler interface {
	// CTCPQuery: user sent the CTCP query tag (upper-cased, ACTION apart,
	// which is Handler.Action) with data ("" when none; CTCP-dequoted) to
	// target (a channel, or c.Nick() for a private query) in a PRIVMSG.
	// answered reports whether the Client answered it (a NOTICE to user);
	// it is false for a tag the Client does not answer, an answer not
	// configured (VERSION without Config.CTCPVersion, ...), a query over
	// the rate limit, and an answer too long to send. It is called for
	// the queries the Client considers (see MaxCTCPQueries), after the
	// answer, and before Privmsg gets the message's text, if any.
	CTCPQuery(c *Client, user, target, tag, data string, answered bool)
}

// CTCPReplyHandler is an optional interface of a Handler: a Handler that
// also implements it is told of the CTCP answers the Client receives (CTCP
// messages in a NOTICE, such as the answer to a query sent with
// Client.CTCP; Twisted's ctcpReply). They are never answered.
type CTCPReplyHandler interface {
	// CTCPReply: user answered with the CTCP message tag (upper-cased)
	// and data ("" when none; CTCP-dequoted), in a NOTICE to target. At
	// most MaxCTCPQueries tags of one NOTICE are told, the first message
	// of each; it is called before Noticed gets the message's text, if
	// any.
	CTCPReply(c *Client, user, target, tag, data string)
}

// ctcpHelp is the CLIENTINFO help of each tag the Client may answer (its
// answer to "CLIENTINFO tag"); ACTION is understood, not answered.
var ctcpHelp = map[string]string{
	"ACTION":     "ACTION <text>: a /me action",
	"CLIENTINFO": "CLIENTINFO [<tag>]: the tags this client understands, or what one does",
	"ERRMSG":     "ERRMSG <text>: echoes <text>, saying no error has occurred",
	"FINGER":     "FINGER: the user's finger information",
	"PING":       "PING <data>: echoes <data>, to measure the lag",
	"SOURCE":     "SOURCE: where to get this client's source",
	"TIME":       "TIME: this client's local time",
	"USERINFO":   "USERINFO: a text the user set",
	"VERSION":    "VERSION: this client's name, version and environment",
}

// ctcpTags returns the tags the Client understands, sorted: those it
// always answers, ACTION, and those whose answer is configured.
func (c *Client) ctcpTags() []string {
	tags := []string{"ACTION", "CLIENTINFO", "ERRMSG", "PING", "TIME"}
	for tag, v := range map[string]string{"VERSION": c.cfg.CTCPVersion, "SOURCE": c.cfg.CTCPSource,
		"USERINFO": c.cfg.CTCPUserInfo, "FINGER": c.cfg.CTCPFinger} {
		if v != "" {
			tags = append(tags, tag)
		}
	}
	sort.Strings(tags)
	return tags
}

// ctcpAnswer returns the answer to the CTCP query tag (upper-cased) with
// data, as the text of a NOTICE (CTCP-quoted, between \x01 delimiters), or
// false when the Client does not answer it. The answers are those of
// Twisted's IRCClient (ctcpQuery_PING, _TIME, _ERRMSG, _CLIENTINFO,
// _VERSION, _SOURCE, _USERINFO, _FINGER), but for CLIENTINFO with an
// argument (Twisted sends the method's Python docstring) and ERRMSG
// without data (Twisted writes "None").
func (c *Client) ctcpAnswer(tag, data string) (string, bool) {
	switch tag {
	case "PING":
		return ctcpMessage("PING", data), true
	case "TIME":
		now := time.Now
		if c.cfg.Now != nil {
			now = c.cfg.Now
		}
		return ctcpMessage("TIME", ":"+now().Format(time.ANSIC)), true
	case "ERRMSG":
		if data == "" {
			return ctcpMessage("ERRMSG", ":No error has occurred."), true
		}
		return ctcpMessage("ERRMSG", data+" :No error has occurred."), true
	case "CLIENTINFO":
		tags := c.ctcpTags()
		args := strings.Fields(data)
		if len(args) == 0 {
			return ctcpMessage("CLIENTINFO", strings.Join(tags, " ")), true
		}
		asked := strings.ToUpper(args[0])
		for _, t := range tags {
			if t == asked {
				return ctcpMessage("CLIENTINFO", ctcpHelp[t]), true
			}
		}
		return ctcpMessage("ERRMSG", "CLIENTINFO "+data+" :Unknown query '"+args[0]+"'"), true
	case "VERSION":
		return ctcpMessage("VERSION", c.cfg.CTCPVersion), c.cfg.CTCPVersion != ""
	case "SOURCE":
		// Followed by an empty SOURCE, the end of the list in the CTCP
		// specification, as Twisted sends it.
		return ctcpMessage("SOURCE", c.cfg.CTCPSource) + ctcpMessage("SOURCE", ""), c.cfg.CTCPSource != ""
	case "USERINFO":
		return ctcpMessage("USERINFO", c.cfg.CTCPUserInfo), c.cfg.CTCPUserInfo != ""
	case "FINGER":
		return ctcpMessage("FINGER", c.cfg.CTCPFinger), c.cfg.CTCPFinger != ""
	}
	return "", false
}

// ctcpMessage returns the CTCP message "tag data" (tag alone when data is
// empty) CTCP-quoted between \x01 delimiters, as Twisted's ctcpStringify.
func ctcpMessage(tag, data string) string {
	if data != "" {
		tag += " " + data
	}
	return "\x01" + ctcpQuote(tag) + "\x01"
}

// ctcpQuote is the CTCP-level quoting that ctcpDequote undoes, as Twisted's
// ctcpQuote: a backslash is written "\\" and \x01 "\a".
func ctcpQuote(s string) string {
	if !strings.ContainsAny(s, "\\\x01") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, "\x01", `\a`).Replace(s)
}

// ctcpSeen is the set of CTCP tags of one message that the Client
// considered: at most MaxCTCPQueries.
type ctcpSeen struct {
	n    int
	tags [MaxCTCPQueries]string
}

// add reports whether tag (upper-cased) is a new tag that the Client
// considers, and records it.
func (s *ctcpSeen) add(tag string) bool {
	for _, t := range s.tags[:s.n] {
		if t == tag {
			return false
		}
	}
	if s.n == len(s.tags) {
		return false
	}
	s.tags[s.n] = tag
	s.n++
	return true
}

// full reports whether the message's quota of queries is used up.
func (s *ctcpSeen) full() bool { return s.n == len(s.tags) }

// ctcpQuery handles the CTCP query tag (upper-cased) with data that user
// sent to target: it answers it if it may, and tells the Handler if it
// implements CTCPHandler.
func (c *Client) ctcpQuery(user, target, tag, data string) {
	answered := false
	if text, ok := c.ctcpAnswer(tag, data); ok {
		answered = c.ctcpReply(user, tag, text)
	}
	if h, ok := c.h.(CTCPHandler); ok {
		h.CTCPQuery(c, user, target, tag, data, answered)
	}
}

// replyTarget reports whether nick, a sender's nick, can be the target of
// an answer: a nick, not a list of targets (','), a channel or a server
// mask (a leading '#', '&', '+', '!' or '$', which no nick has), nor what
// would not be sent as one parameter.
func replyTarget(nick string) bool {
	return checkWord("", nick) == nil && !strings.ContainsRune(nick, ',') && !strings.ContainsAny(nick[:1], "#&+!$")
}

// ctcpReply sends text, the answer to a query tag, to nick in a NOTICE if
// the rate limit allows it, and reports whether it did. An answer that
// cannot be sent (too long for MaxText: a long PING, which cut short would
// answer nothing; a nick that cannot be a target; the client's own nick)
// is dropped without using the budget.
func (c *Client) ctcpReply(nick, tag, text string) bool {
	if !replyTarget(nick) || c.isMe(nick) || len(text) > c.MaxText(nick) {
		return false
	}
	if c.ctcpLimit == nil || !c.ctcpLimit.allow("ctcp "+tag, nick) {
		return false
	}
	return c.Notice(nick, text) == nil
}
