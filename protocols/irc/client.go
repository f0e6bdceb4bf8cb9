package irc

import (
	"errors"
	"fmt"
	"strings"
	"sync"

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
	// registration (433 nick in use, 432 erroneous, 436 collision); ""
	// gives up. Nil means Twisted's alterCollidedNick: append "^".
	AlterNick func(nick string) string
	// MaxNickRetries bounds the altered nicks tried during registration,
	// so a server refusing everything cannot keep the client looping.
	// Zero means DefaultMaxNickRetries.
	MaxNickRetries int
}

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
	return nil
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
	t          codec.FrameTransport
	nick       string
	registered bool
	retries    int
}

// NewClient returns a Client for cfg, calling h (nil: BaseHandler).
func NewClient(cfg Config, h Handler) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		h = BaseHandler{}
	}
	c := &Client{cfg: cfg, h: h, nick: cfg.Nick}
	c.proto = codec.NewProtocol(codec.Line{MaxLength: maxContent}, (*frames)(c))
	return c, nil
}

// ConnectionMade implements weft.Protocol: it sends PASS, NICK and USER.
func (c *Client) ConnectionMade(t weft.Transport) { c.proto.ConnectionMade(t) }

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

// errNotConnected is returned by the sending methods before ConnectionMade.
var errNotConnected = errors.New("irc: not connected")

// Send formats m and writes it.
func (c *Client) Send(m Message) error {
	c.mu.Lock()
	t := c.t
	c.mu.Unlock()
	if t == nil {
		return errNotConnected
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

// Join joins a channel, with a key when given.
func (c *Client) Join(channel string, key ...string) error {
	return c.send("JOIN", append([]string{channel}, key...)...)
}

// Part leaves a channel, with an optional reason.
func (c *Client) Part(channel, reason string) error {
	if reason == "" {
		return c.send("PART", channel)
	}
	return c.send("PART", channel, reason)
}

// Msg sends a PRIVMSG to a channel or nick. A text over the line limit is
// refused with ErrLineTooLong, not split.
func (c *Client) Msg(target, text string) error { return c.send("PRIVMSG", target, text) }

// Notice sends a NOTICE to a channel or nick.
func (c *Client) Notice(target, text string) error { return c.send("NOTICE", target, text) }

// Me sends a CTCP ACTION ("/me text") to a channel or nick.
func (c *Client) Me(target, text string) error {
	return c.send("PRIVMSG", target, "\x01ACTION "+text+"\x01")
}

// SetNick asks the server for a new nickname; the change is confirmed by a
// NICK message (Handler.NickChanged).
func (c *Client) SetNick(nick string) error { return c.send("NICK", nick) }

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
