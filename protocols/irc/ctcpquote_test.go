package irc

import "testing"

// TestClientCTCPDequote: an ACTION's text is CTCP-dequoted as Twisted's
// ctcpDequote does: "\a" is \x01, "\\" is "\", and a backslash before any
// other character is dropped. The expectations are the output of Debian's
// python3-twisted 22.4 (ctcpExtract) for the same texts.
func TestClientCTCPDequote(t *testing.T) {
	rec := newRecorder()
	_, fs := registeringClient(t, Config{Nick: "me"}, rec)
	fs.send(":s 001 me :hi")
	rec.expect(t, "signedon me")
	fs.send(`:a!u@h PRIVMSG #c :`+"\x01"+`ACTION shows \a and \\ and \q`+"\x01",
		`:a!u@h PRIVMSG #c :`+"\x01"+`ACTION ends with \`+"\x01",
		`:a!u@h PRIVMSG #c :plain \\ text \a`)
	rec.expect(t,
		"action a #c shows \x01 and \\ and q",
		"action a #c ends with \\",
		`privmsg a #c plain \\ text \a`)
}
