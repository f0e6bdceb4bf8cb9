package irc

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them with
// context; match them with errors.Is.
var (
	// ErrMalformed: a line that is not an IRC message (no command, a bad
	// command, an empty prefix, a NUL, CR or LF inside the line).
	ErrMalformed = errors.New("irc: malformed message")
	// ErrLineTooLong: a line to send over MaxLineLength bytes (counting
	// "\r\n"), a Msg, Notice or Me text over Client.MaxText, or a line
	// received over MaxIncomingLineLength bytes, which Parse refuses and
	// on which the Client closes the connection (the Handler's
	// ConnectionLost reason then matches codec.ErrFrameTooLarge too).
	ErrLineTooLong = errors.New("irc: line too long")
	// ErrInvalid: a Message that cannot be formatted (bad command, a space
	// in a middle parameter, more than MaxParams parameters, ...).
	ErrInvalid = errors.New("irc: invalid message")
	// ErrConfig: an invalid configuration field (the error names it).
	ErrConfig = errors.New("irc: invalid configuration")
	// ErrNickUnavailable: every nick the client tried was in use or
	// refused, or the alter hook gave up.
	ErrNickUnavailable = errors.New("irc: no usable nickname")
	// ErrRegisterTimeout: the server did not welcome the client (001)
	// within Config.RegisterTimeout.
	ErrRegisterTimeout = errors.New("irc: registration timed out")
	// ErrServerError: the server sent ERROR, which it sends before it
	// closes the link; the error holds the server's text (escaped). The
	// Client closes the connection with it as the reason.
	ErrServerError = errors.New("irc: server error")
	// ErrBadChannel: the server refused the log bot's JOIN with a numeric
	// that no wait changes: no such channel (403), bad channel mask (476)
	// or illegal channel name (479). The bot reports it to
	// LogBotConfig.OnError and does not try again on that connection.
	ErrBadChannel = errors.New("irc: channel cannot be joined")
	// ErrNotConnected: a Client's sending method was called before its
	// connection was made (after the connection is lost, they return the
	// transport's weft.ErrClosed).
	ErrNotConnected = errors.New("irc: not connected")
	// ErrTagsNotEnabled: Client.SendTagged was asked to send tags on a
	// connection where the server did not enable the IRCv3 message-tags
	// capability (ask for it with Config.Caps); nothing was sent.
	ErrTagsNotEnabled = errors.New("irc: message-tags capability not enabled")
	// ErrSASLUnavailable: Config.SASL is set but the server does not
	// offer SASL PLAIN (no CAP, no sasl capability, sasl without PLAIN
	// among its mechanisms, a NAK of sasl, or a welcome without CAP END).
	// Told to SASLHandler; with SASLConfig.Required, the reason the
	// connection is closed.
	ErrSASLUnavailable = errors.New("irc: SASL PLAIN not available")
	// ErrSASLFailed: the server refused the SASL PLAIN authentication
	// (902, 904, 905, 906, 907, 908; the error holds its numeric and
	// text, never the password), or welcomed the client before it ended.
	// Told to SASLHandler; with SASLConfig.Required, the reason the
	// connection is closed.
	ErrSASLFailed = errors.New("irc: SASL authentication failed")
)
