package irc

// Handler receives a Client's events. Its methods are called one at a time,
// never concurrently, on the connection's goroutine. Embed BaseHandler and
// override the methods you need. A Handler may also implement CTCPHandler
// to be told of CTCP queries.
type Handler interface {
	// ConnectionMade: the connection is up and NICK/USER are sent.
	ConnectionMade(c *Client)
	// SignedOn: the server welcomed the client (001); c.Nick() is the
	// registered nick.
	SignedOn(c *Client)
	// Joined: the client joined channel.
	Joined(c *Client, channel string)
	// Left: the client left channel.
	Left(c *Client, channel string)
	// UserJoined: another user joined channel.
	UserJoined(c *Client, user, channel string)
	// UserLeft: another user left channel.
	UserLeft(c *Client, user, channel string)
	// UserQuit: user quit IRC with reason.
	UserQuit(c *Client, user, reason string)
	// Kicked: kicker kicked the client from channel, with reason (""
	// when the KICK gave none). Twisted's kickedFrom.
	Kicked(c *Client, channel, kicker, reason string)
	// UserKicked: kicker kicked user from channel, with reason (""
	// when none). Twisted's userKicked.
	UserKicked(c *Client, user, channel, kicker, reason string)
	// NickChanged: old is now known as nick; the client's own change
	// included (then c.Nick() already returns nick). A NICK message
	// without a new nick is malformed and ignored.
	NickChanged(c *Client, old, nick string)
	// Privmsg: user sent text to target (a channel, or c.Nick() for a
	// private message). For a message that starts with a CTCP message
	// (\x01), text is what it holds outside the \x01 delimiters, its parts
	// joined with a space as Twisted's IRCClient does ("\x01VERSION\x01
	// hi" gives " hi"), and Privmsg is not called when there is none.
	Privmsg(c *Client, user, target, text string)
	// Noticed: user sent a NOTICE to target; text as for Privmsg.
	Noticed(c *Client, user, target, text string)
	// Action: user did a CTCP ACTION ("/me text") on target: the first
	// one of a PRIVMSG that starts with a CTCP message, called before
	// Privmsg gets the message's other text, if any.
	Action(c *Client, user, target, text string)
	// NickUnavailable: registration failed because no nick was accepted;
	// the connection is being closed. err matches ErrNickUnavailable.
	NickUnavailable(c *Client, err error)
	// MessageReceived: every parsed message, before the callbacks above.
	MessageReceived(c *Client, m Message)
	// ConnectionLost: the connection ended (reason nil: cleanly; matching
	// ErrServerError: closed after the server's ERROR).
	ConnectionLost(c *Client, reason error)
}

// BaseHandler implements every Handler method as a no-op.
type BaseHandler struct{}

// ConnectionMade does nothing.
func (BaseHandler) ConnectionMade(*Client) {}

// SignedOn does nothing.
func (BaseHandler) SignedOn(*Client) {}

// Joined does nothing.
func (BaseHandler) Joined(*Client, string) {}

// Left does nothing.
func (BaseHandler) Left(*Client, string) {}

// UserJoined does nothing.
func (BaseHandler) UserJoined(*Client, string, string) {}

// UserLeft does nothing.
func (BaseHandler) UserLeft(*Client, string, string) {}

// UserQuit does nothing.
func (BaseHandler) UserQuit(*Client, string, string) {}

// Kicked does nothing.
func (BaseHandler) Kicked(*Client, string, string, string) {}

// UserKicked does nothing.
func (BaseHandler) UserKicked(*Client, string, string, string, string) {}

// NickChanged does nothing.
func (BaseHandler) NickChanged(*Client, string, string) {}

// Privmsg does nothing.
func (BaseHandler) Privmsg(*Client, string, string, string) {}

// Noticed does nothing.
func (BaseHandler) Noticed(*Client, string, string, string) {}

// Action does nothing.
func (BaseHandler) Action(*Client, string, string, string) {}

// NickUnavailable does nothing.
func (BaseHandler) NickUnavailable(*Client, error) {}

// MessageReceived does nothing.
func (BaseHandler) MessageReceived(*Client, Message) {}

// ConnectionLost does nothing.
func (BaseHandler) ConnectionLost(*Client, error) {}
