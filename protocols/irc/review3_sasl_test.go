package irc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestReview3SASLRequiredNoLinesAfterClose: with Required, a failure that
// closes the connection ends the dispatch of what the server sent: a 001
// (or anything else) in the same read after the 904 (or after a LS without
// sasl) neither registers the client nor reaches the Handler.
func TestReview3SASLRequiredNoLinesAfterClose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before []string // lines sent one by one, with the client's answers
		answer []string
		burst  string // then sent in one write
		target error
	}{
		{name: "904 then 001", before: []string{":s CAP * LS :sasl", ":s CAP * ACK sasl", "AUTHENTICATE +"},
			answer: []string{"CAP REQ sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("", "acct", "pw")},
			burst:  ":s 904 bot :bad\r\n:s 001 bot :hi\r\n:s PRIVMSG bot :x\r\n", target: ErrSASLFailed},
		{name: "not offered then 001", burst: ":s CAP * LS :multi-prefix\r\n:s 001 bot :hi\r\n:s PRIVMSG bot :x\r\n", target: ErrSASLUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newSASLRecorder()
			c, fs := capClient(t, Config{Nick: "bot", SASL: &SASLConfig{User: "acct", Password: "pw", Required: true}}, rec)
			for i, l := range tc.before {
				fs.send(l)
				fs.expect(tc.answer[i])
			}
			_ = fs.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fs.conn.Write([]byte(tc.burst)); err != nil {
				t.Fatal(err)
			}
			fs.closedWith(tc.target)
			var evs []string
			for done := false; !done; {
				select {
				case ev := <-rec.ev:
					evs = append(evs, ev)
				default:
					done = true
				}
			}
			for _, ev := range evs {
				if strings.HasPrefix(ev, "signedon") || strings.HasPrefix(ev, "privmsg") {
					t.Errorf("after the Required failure the Handler was told %q (events %q)", ev, evs)
				}
			}
			if c.Registered() {
				t.Errorf("Registered() = true after the Required failure closed the connection")
			}
		})
	}
}

// TestReview3SASLCapUnknownLate: a 421 (or 451) to CAP that comes once the
// server has answered CAP LS (so it knows CAP) does not cancel the
// negotiation: after SASL ends the client still sends CAP END, and so
// registers.
func TestReview3SASLCapUnknownLate(t *testing.T) {
	for _, num := range []string{"421", "451"} {
		t.Run(num, func(t *testing.T) {
			rec := newSASLRecorder()
			_, fs := capClient(t, Config{Nick: "bot", SASL: &SASLConfig{User: "acct", Password: "pw"}}, rec)
			fs.send(":s CAP * LS :sasl")
			fs.expect("CAP REQ sasl")
			fs.send(":s CAP * ACK sasl")
			fs.expect("AUTHENTICATE PLAIN")
			fs.send(fmt.Sprintf(":s %s bot CAP :Unknown command", num))
			fs.send("AUTHENTICATE +")
			fs.expect("AUTHENTICATE " + plain("", "acct", "pw"))
			fs.send(":s 903 bot :ok")
			rec.expect(t, "sasl ok")
			fs.expect("CAP END")
		})
	}
}

// TestReview3SASLNoResend: the credentials go once per connection, only
// after the ACK of sasl and the first "+": an unprompted "AUTHENTICATE +"
// before the ACK, more of them after the credentials, after 903 and after
// the welcome get nothing; a 100 KB password goes in 400-byte lines.
func TestReview3SASLNoResend(t *testing.T) {
	pass := strings.Repeat("p", 100<<10)
	rec := newSASLRecorder()
	_, fs := capClient(t, Config{Nick: "bot", SASL: &SASLConfig{User: "acct", Password: pass}}, rec)
	fs.send("AUTHENTICATE +")
	fs.pingPong()
	fs.send(":s CAP * LS :sasl")
	fs.expect("CAP REQ sasl")
	fs.send("AUTHENTICATE +", ":s 904 bot :early")
	fs.pingPong()
	fs.send(":s CAP * ACK sasl")
	fs.expect("AUTHENTICATE PLAIN")
	fs.send("AUTHENTICATE +")
	b64 := plain("", "acct", pass)
	for len(b64) > 0 {
		n := min(400, len(b64))
		fs.expect("AUTHENTICATE " + b64[:n])
		b64 = b64[n:]
	}
	for range 50 {
		fs.send("AUTHENTICATE +")
	}
	fs.pingPong()
	fs.send(":s 903 bot :ok")
	fs.expect("CAP END")
	fs.send("AUTHENTICATE +", ":s 001 bot :hi", "AUTHENTICATE +", ":s 904 bot :late")
	fs.pingPong()
}

// TestSASLConfigPrintsNoPassword: printing a SASLConfig, or a pointer to
// one, with any verb never shows the password.
func TestSASLConfigPrintsNoPassword(t *testing.T) {
	s := SASLConfig{User: "acct", Password: "hunter2-secret", AuthzID: "z", Required: true}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, x := range []any{s, &s} {
			if out := fmt.Sprintf(verb, x); strings.Contains(out, "hunter2") || !strings.Contains(out, "acct") {
				t.Errorf("Sprintf(%s, %T) = %s, want the user and no password", verb, x, out)
			}
		}
	}
}

// TestReview3SASLEdges: an ACK that answers the REQ but leaves sasl out
// ends SASL at once as unavailable (before, CAP END went out with SASL
// still waiting, and the failure showed only at 001); a CAP DEL of sasl
// during the authentication ends it as a failure, and the held CAP END
// follows; a 903 before the credentials were sent is not a success.
func TestReview3SASLEdges(t *testing.T) {
	t.Run("ACK leaves sasl out", func(t *testing.T) {
		for _, required := range []bool{false, true} {
			rec := newSASLRecorder()
			_, fs := capClient(t, Config{Nick: "bot", Caps: []string{"multi-prefix"}, SASL: &SASLConfig{User: "acct", Password: "pw", Required: required}}, rec)
			fs.send(":s CAP * LS :multi-prefix sasl")
			fs.expect("CAP REQ :multi-prefix sasl")
			fs.send(":s CAP * ACK :multi-prefix")
			rec.expect(t, "sasl fail")
			if err := rec.saslErr(t); !errors.Is(err, ErrSASLUnavailable) {
				t.Errorf("required=%v: SASLResult(%v), want ErrSASLUnavailable", required, err)
			}
			if required {
				fs.closedWith(ErrSASLUnavailable)
				continue
			}
			fs.expect("CAP END")
			fs.hangUp()
		}
	})
	t.Run("DEL during authentication", func(t *testing.T) {
		rec := newSASLRecorder()
		_, fs := capClient(t, Config{Nick: "bot", SASL: &SASLConfig{User: "acct", Password: "pw"}}, rec)
		fs.send(":s CAP * LS :sasl", ":s CAP * ACK :sasl")
		fs.expect("CAP REQ sasl")
		fs.expect("AUTHENTICATE PLAIN")
		fs.send(":s CAP bot DEL :sasl")
		rec.expect(t, "sasl fail")
		if err := rec.saslErr(t); !errors.Is(err, ErrSASLFailed) {
			t.Errorf("SASLResult(%v), want ErrSASLFailed", err)
		}
		fs.expect("CAP END")
		fs.send("AUTHENTICATE +") // too late: no credentials
		fs.pingPong()
		fs.hangUp()
	})
	t.Run("903 before the credentials", func(t *testing.T) {
		rec := newSASLRecorder()
		_, fs := capClient(t, Config{Nick: "bot", SASL: &SASLConfig{User: "acct", Password: "pw"}}, rec)
		fs.send(":s CAP * LS :sasl", ":s CAP * ACK :sasl")
		fs.expect("CAP REQ sasl")
		fs.expect("AUTHENTICATE PLAIN")
		fs.send(":s 903 bot :yes")
		fs.pingPong() // no CAP END: the 903 was not taken
		fs.send("AUTHENTICATE +")
		fs.expect("AUTHENTICATE " + plain("", "acct", "pw"))
		fs.send(":s 903 bot :ok")
		rec.expect(t, "sasl ok")
		fs.expect("CAP END")
		fs.hangUp()
	})
}
