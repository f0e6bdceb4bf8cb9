package irc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft/codec"
)

// TestParseTags: after an IRCv3 message-tags section ("@k=v;k2 " before
// the prefix or command) the message parses as without it (the tags go to
// Message.Tags: TestParseTagsKept). Before, "@time=..." was taken for the
// command and the line was refused as malformed (and so ignored by the
// Client).
func TestParseTags(t *testing.T) {
	want := Message{Prefix: "n!u@h", Command: "PRIVMSG", Params: []string{"#c", "hi there"}}
	for _, line := range []string{
		"@time=2026-11-27T01:02:03.456Z;msgid=abc :n!u@h PRIVMSG #c :hi there\r\n",
		"@+draft/reply=x\\sy;account=n   :n!u@h PRIVMSG #c :hi there",
		"@a :n!u@h PRIVMSG #c :hi there\n",
	} {
		got, err := Parse([]byte(line))
		if got.Tags == nil {
			t.Errorf("Parse(%q) kept no tags", line)
		}
		got.Tags = nil
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", line, got, err, want)
		}
	}
	got, err := Parse([]byte("@k=v PING :tok"))
	if err != nil || got.Command != "PING" || got.Param(0) != "tok" {
		t.Errorf("tagged PING parsed to %#v, %v", got, err)
	}
	for _, line := range []string{"@", "@ PING x", "@k=v", "@k=v ", "@k=v :n!u@h"} {
		if _, err := Parse([]byte(line)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) error = %v, want ErrMalformed", line, err)
		}
	}
}

// TestParseIncomingLimit: Parse accepts any line of up to
// MaxIncomingLineLength bytes counting CRLF (the IRCv3 bound: 8191 bytes of
// tags and 512 for the rest), tagged or not, and refuses a longer one with
// ErrLineTooLong. Before, anything over 512 bytes was ErrLineTooLong.
func TestParseIncomingLimit(t *testing.T) {
	if MaxIncomingLineLength != 8191+512 {
		t.Fatalf("MaxIncomingLineLength = %d, want 8191+512", MaxIncomingLineLength)
	}
	head := ":n!u@h PRIVMSG #c :"
	untagged := head + strings.Repeat("x", 700-len(head)-2)
	tags := "@" + strings.Repeat("t", 8189) + " "
	longest := head + strings.Repeat("y", MaxIncomingLineLength-2-len(head))
	longestTagged := tags + head + strings.Repeat("z", MaxLineLength-2-len(head))
	for _, line := range []string{untagged, longest, longestTagged, "@" + strings.Repeat("t", 98) + " " + head + strings.Repeat("w", 600)} {
		m, err := Parse([]byte(line + "\r\n"))
		if err != nil {
			t.Errorf("%d-byte line refused: %v", len(line)+2, err)
			continue
		}
		if m.Command != "PRIVMSG" || len(m.Params) != 2 || !strings.HasSuffix(line, m.Params[1]) {
			t.Errorf("%d-byte line parsed to %.80q", len(line)+2, m.Params)
		}
	}
	over := longest + "y"
	if _, err := Parse([]byte(over + "\r\n")); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("%d-byte line: %v, want ErrLineTooLong", len(over)+2, err)
	}
}

// TestClientLongIncomingLines: a server line over 512 bytes — a PRIVMSG
// with IRCv3 tags (600 bytes), or a 700-byte one without tags from a
// server that sends long lines — is delivered, and the connection stays
// up; only a line over MaxIncomingLineLength closes it, with a reason
// matching ErrLineTooLong (and codec.ErrFrameTooLarge). Before, any line
// over 512 bytes closed the connection, and a log bot reconnected into the
// same line for ever.
func TestClientLongIncomingLines(t *testing.T) {
	rec := newRecorder()
	c, fs := registeringClient(t, Config{Nick: "bot"}, rec)
	fs.send(":s 001 bot :hi")
	rec.expect(t, "signedon bot")

	head := ":ann!u@h PRIVMSG #c :"
	tags := "@time=2026-11-27T01:02:03.456Z;msgid=" + strings.Repeat("m", 40) + " "
	text1 := strings.Repeat("a", 600-2-len(tags)-len(head))
	fs.send(tags + head + text1)
	rec.expect(t, "privmsg ann #c "+text1)

	text2 := strings.Repeat("b", 700-2-len(head))
	fs.send(head + text2)
	rec.expect(t, "privmsg ann #c "+text2)

	text3 := strings.Repeat("c", MaxIncomingLineLength-2-len(head))
	fs.send(head+text3, "PING :sync")
	rec.expect(t, "privmsg ann #c "+text3)
	fs.expect("PONG sync")
	if !c.Registered() {
		t.Fatal("client not registered after the long lines")
	}

	// One byte over: the connection is closed. The line is written from
	// another goroutine: the client stops reading once it has closed.
	go func() {
		_ = fs.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, _ = fs.conn.Write([]byte(head + text3 + "c\r\n"))
	}()
	select {
	case err := <-fs.done:
		fs.done <- err
		if !errors.Is(err, codec.ErrFrameTooLarge) {
			t.Errorf("Serve returned %v, want a frame too large", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connection still up after a line over MaxIncomingLineLength")
	}
	select {
	case ev := <-rec.ev:
		if !strings.HasPrefix(ev, "lost "+ErrLineTooLong.Error()) {
			t.Errorf("event %q, want the loss reason to be ErrLineTooLong", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ConnectionLost")
	}
}

// TestClientLostReasonIsLineTooLong: the Handler's ConnectionLost reason
// for a line over the limit matches ErrLineTooLong with errors.Is.
func TestClientLostReasonIsLineTooLong(t *testing.T) {
	lost := make(chan error, 1)
	_, fs := registeringClient(t, Config{Nick: "bot"}, lostHandler{lost: lost})
	go func() {
		_ = fs.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, _ = fs.conn.Write([]byte(":s NOTICE bot :" + strings.Repeat("x", MaxIncomingLineLength) + "\r\n"))
	}()
	select {
	case err := <-lost:
		if !errors.Is(err, ErrLineTooLong) || !errors.Is(err, codec.ErrFrameTooLarge) {
			t.Errorf("ConnectionLost(%v), want ErrLineTooLong and codec.ErrFrameTooLarge", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ConnectionLost after a too-long line")
	}
}

// lostHandler sends the reason of ConnectionLost.
type lostHandler struct {
	BaseHandler
	lost chan error
}

func (h lostHandler) ConnectionLost(_ *Client, err error) { h.lost <- err }

// TestPongLongToken: a PING whose token is too long for any PONG to fit in
// MaxLineLength (possible now that incoming lines may be longer) gets no
// answer rather than a line over 512 bytes, and the client stays up.
func TestPongLongToken(t *testing.T) {
	_, fs := registeringClient(t, Config{Nick: "bot"}, nil)
	fs.send("PING :"+strings.Repeat("t", 600), "PING :sync")
	fs.expect("PONG sync")
}
