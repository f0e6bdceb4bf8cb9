// Package endpoint parses Twisted-style endpoint description strings and turns
// them into listeners and connections.
//
// A description is a colon-separated list of positional arguments and
// key=value keywords; a backslash escapes the next character (so
// `tcp6:8080:interface=\:\:1` listens on ::1). The first positional is the
// endpoint type.
//
// The pieces:
//
//   - ParseServer and Server: "tcp:8007:interface=127.0.0.1:backlog=50",
//     "tcp6:8007:interface=\:\:1", "unix:/run/weft.sock:mode=660:lockfile=1",
//     "tls:8443:privateKey=k.pem:certKey=c.pem", with weft's reuseport=yes and
//     proxy=CIDR,CIDR keywords, and "systemd:domain=INET:index=0", a socket
//     passed by systemd's socket activation. Server.Listen opens the listener.
//   - ParseClient and Client: "tcp:HOST:PORT", "tcp:host=H:port=P:timeout=S",
//     "unix:PATH", "tls:HOST:PORT:caCerts=ca.pem". Client.Dial connects.
//   - Listen and Dial: parse and open in one call.
//   - Quote: escapes a string for use as one argument of a description
//     (Twisted's quoteStringArgument).
//   - Error and the sentinel errors: every parse error names the description
//     and the bad part of it, and matches one sentinel with errors.Is.
//
// Server types are lowercase and case-sensitive ("TCP:80" is an unknown type,
// as in Twisted's serverFromString); client types are case-insensitive (as in
// clientFromString). An unknown keyword is an error. docs/guide.md (section 5) holds the
// full grammar reference.
package endpoint
