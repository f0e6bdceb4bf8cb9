// Package irc is an IRC client protocol (RFC 1459 / RFC 2812) on weft's line
// codec, and the classic Twisted log bot built on it.
//
// The pieces:
//
//   - Message, Parse and Message.Append / Message.String: one IRC line
//     (prefix, command or three-digit numeric, params, trailing), parsed and
//     formatted; a line sent is at most MaxLineLength (512) bytes with
//     "\r\n", a line received at most MaxIncomingLineLength (8191 + 512,
//     IRCv3's bound with message tags; tagged or not), and a missing "\r"
//     is tolerated. Parse keeps an IRCv3 tags section ("@k=v;k2 ", at
//     most MaxTagsLength bytes) in Message.Tags, unescaped;
//     Message.AppendTagged writes them, escaped, sorted by key, at most
//     MaxClientTagsLength bytes; Message.Time reads the server-time tag.
//   - IRCv3 capability negotiation, which Twisted's IRCClient does not
//     have: with Config.Caps the Client sends CAP LS 302 before
//     registering, requests the wanted capabilities the server offers
//     (CAP REQ, split over lines as needed), then CAP END; a server that
//     does not know CAP (421, or straight to 001) registers it as
//     before. Client.Caps is what was enabled, kept right by later CAP
//     ACK, NEW and DEL (CapHandler, optional, is told); at most
//     MaxCapLSLines LS lines are read, only the asked capabilities are
//     kept, and Config.RegisterTimeout bounds it all.
//     Client.SendTagged sends a message with tags, once the server
//     enabled message-tags (else ErrTagsNotEnabled).
//   - SASL PLAIN authentication (IRCv3 sasl 3.1), which Twisted's
//     IRCClient does not have either: with Config.SASL (a SASLConfig:
//     User, Password, optional AuthzID, Required) the Client requests
//     "sasl" in the CAP negotiation (when the server offers it with PLAIN,
//     or with no mechanism list), and after its ACK, before CAP END, sends
//     AUTHENTICATE PLAIN and, on "AUTHENTICATE +", the base64 credentials
//     in 400-byte lines; CAP END waits for 903 (success) or a failure
//     numeric (902, 904 to 908). A server that does not offer it
//     (ErrSASLUnavailable) or refuses the credentials (ErrSASLFailed)
//     leaves the client registered unauthenticated, or, with Required,
//     closes the connection with that error. SASLHandler, optional, is
//     told the outcome; Client.Account is the account of 900
//     RPL_LOGGEDIN. The password is sent only in base64 (use TLS) and is
//     in no error; Config.RegisterTimeout bounds it all. ngircd, the
//     real server of the tests, has no SASL: the tests script the server.
//   - Client: a weft.Protocol that registers (CAP when asked, PASS, NICK,
//     USER), answers
//     PING with PONG (the PING's parameters, or its last one alone when
//     the echo would pass MaxLineLength), retries a refused nick (432, 433, 436, 437) with an
//     altered nick, and sends JOIN, PART, PRIVMSG, NOTICE, CTCP ACTION, NICK
//     and QUIT; Client.MaxText is the longest text that reaches the other
//     users whole once the server has prefixed it. It answers CTCP
//     queries as Twisted's IRCClient does (PING, TIME, CLIENTINFO, ERRMSG;
//     VERSION, SOURCE, USERINFO, FINGER when Config sets them) with NOTICEs
//     to the sender, a few per message and rate limited
//     (Config.CTCPReplyInterval), never a CTCP in a NOTICE. It compares nicks under
//     the case mapping the server announces (Client.EqualFold), and a
//     server's ERROR closes the connection with the server's reason
//     (ErrServerError).
//   - Handler and BaseHandler: the callbacks (SignedOn, Joined, Left,
//     Kicked, UserKicked, Privmsg, Noticed, Action, NickChanged, UserQuit,
//     MessageReceived); embed BaseHandler and override what you need.
//     CTCPHandler, optional, is told of the CTCP queries.
//   - LogBot and Logger: Twisted's ircLogBot — a weft.Factory for
//     client.Reconnecting that logs one channel to a file (opened once, in
//     the Factory, so it survives reconnects), one "[HH:MM:SS] " line per
//     event, flushed per line, with the network's control bytes escaped
//     (see Logger). It answers with NOTICEs (RFC 2812), not Twisted's
//     PRIVMSGs, so it cannot loop with another bot. It logs the kicks of
//     other users from its channel, and its own PARTs. Kicked from its
//     channel, or refused its JOIN, it logs it and joins again after a
//     wait that grows while it keeps being kicked or refused
//     (LogBotConfig.RejoinDelay), but for a channel name the server
//     refuses for good (403, 476, 479), which it reports to
//     LogBotConfig.OnError (ErrBadChannel) instead. It creates its log
//     file 0600: the log holds the private messages sent to it.
//     LogBot.Reopen opens the log file again after logrotate renamed it
//     (weft logbot calls it on SIGHUP).
//   - ErrMalformed, ErrLineTooLong, ErrInvalid, ErrConfig,
//     ErrNickUnavailable, ErrRegisterTimeout, ErrServerError,
//     ErrBadChannel, ErrNotConnected, ErrTagsNotEnabled,
//     ErrSASLUnavailable, ErrSASLFailed: the sentinel errors.
package irc
