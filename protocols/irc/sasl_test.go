package irc

import (
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// saslRecorder is a recorder that is told of the SASL outcome: the event
// "sasl ok" or "sasl fail", and the error on errs.
type saslRecorder struct {
	*recorder
	errs chan error
}

func newSASLRecorder() saslRecorder {
	return saslRecorder{newRecorder(), make(chan error, 10)}
}

func (r saslRecorder) SASLResult(_ *Client, err error) {
	r.errs <- err
	if err == nil {
		r.ev <- "sasl ok"
	} else {
		r.ev <- "sasl fail"
	}
}

// saslErr returns the error of the next SASLResult.
func (r saslRecorder) saslErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.errs:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no SASLResult")
		return nil
	}
}

// plain is the base64 of a SASL PLAIN message.
func plain(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

// pingPong checks that the next line the client sends is the answer to a
// PING: nothing else (an early CAP END) was sent before it.
func (fs *fakeServer) pingPong() {
	fs.t.Helper()
	fs.send("PING :check")
	fs.expect("PONG check")
}

// closedWith checks that the client sends nothing more and ends with an
// error matching target, which it returns.
func (fs *fakeServer) closedWith(target error) error {
	fs.t.Helper()
	_ = fs.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := fs.r.ReadString('\n'); err != io.EOF {
		fs.t.Fatalf("client sent %q (%v), want the connection closed", line, err)
	}
	err := <-fs.done
	fs.done <- err // for Cleanup
	if !errors.Is(err, target) {
		fs.t.Fatalf("connection ended with %v, want %v", err, target)
	}
	return err
}

// TestSASLSuccess: with Config.SASL the client requests sasl along with
// Config.Caps, and after its ACK sends, in order, AUTHENTICATE PLAIN, the
// credentials once the server says "+", and CAP END only after 903; the
// Handler is told (nil), and Account is the 900's account.
func TestSASLSuccess(t *testing.T) {
	rec := newSASLRecorder()
	cfg := Config{Nick: "bot", Caps: []string{"multi-prefix"},
		SASL: &SASLConfig{User: "acct", Password: "s3cret pass", AuthzID: "admin"}}
	c, fs := capClient(t, cfg, rec)
	fs.send(":s CAP * LS :multi-prefix sasl=EXTERNAL,PLAIN")
	fs.expect("CAP REQ :multi-prefix sasl")
	fs.send(":s CAP * ACK :multi-prefix sasl")
	fs.expect("AUTHENTICATE PLAIN")
	fs.pingPong() // no CAP END yet
	fs.send("AUTHENTICATE +")
	fs.expect("AUTHENTICATE " + plain("admin", "acct", "s3cret pass"))
	fs.pingPong() // still no CAP END
	fs.send(":s 900 bot bot!u@h acct :You are now logged in as acct", ":s 903 bot :SASL authentication successful")
	fs.expect("CAP END")
	rec.expect(t, "sasl ok")
	if err := rec.saslErr(t); err != nil {
		t.Errorf("SASLResult(%v), want nil", err)
	}
	fs.send(":s 001 bot :hi")
	rec.expect(t, "signedon bot")
	if got := c.Account(); got != "acct" {
		t.Errorf("Account() = %q, want acct", got)
	}
	if _, ok := c.Caps()["sasl"]; !ok {
		t.Errorf("Caps() = %v, want sasl in it", c.Caps())
	}
	fs.send(":s 901 bot bot!u@h :You are now logged out")
	fs.pingPong()
	if got := c.Account(); got != "" {
		t.Errorf("after 901: Account() = %q, want empty", got)
	}
}

// TestSASLFailure: a 904 (or 902, 905, 906, 907) ends SASL as failed:
// without Required the client sends CAP END and registers unauthenticated,
// the Handler told an error matching ErrSASLFailed that holds the server's
// numeric and text; with Required it closes the connection with that
// error, no CAP END sent. The password is in neither.
func TestSASLFailure(t *testing.T) {
	const pass = "hunter2-secret"
	for _, num := range []string{"902", "904", "905", "906", "907"} {
		for _, required := range []bool{false, true} {
			rec := newSASLRecorder()
			c, fs := capClient(t, Config{Nick: "bot", SASL: &SASLConfig{User: "acct", Password: pass, Required: required}}, rec)
			fs.send(":s CAP * LS :sasl")
			fs.expect("CAP REQ sasl")
			fs.send(":s CAP * ACK sasl")
			fs.expect("AUTHENTICATE PLAIN")
			fs.send("AUTHENTICATE +")
			fs.expect("AUTHENTICATE " + plain("", "acct", pass))
			fs.send(":s " + num + " bot :SASL authentication failed")
			rec.expect(t, "sasl fail")
			err := rec.saslErr(t)
			if !errors.Is(err, ErrSASLFailed) || !strings.Contains(err.Error(), num+" SASL authentication failed") || strings.Contains(err.Error(), pass) {
				t.Errorf("%s required=%v: SASLResult(%v), want ErrSASLFailed with the server's numeric and text, without the password", num, required, err)
			}
			if required {
				if err := fs.closedWith(ErrSASLFailed); strings.Contains(err.Error(), pass) {
					t.Errorf("connection error %q holds the password", err)
				}
				continue
			}
			fs.expect("CAP END")
			fs.send(":s 001 bot :hi")
			rec.expect(t, "signedon bot")
			if c.Account() != "" {
				t.Errorf("Account() = %q after a failure", c.Account())
			}
			fs.hangUp()
		}
	}
}

// TestSASLNotOffered: a server that does not offer sasl with PLAIN (not in
// LS, "sasl=EXTERNAL", a NAK, no CAP at all, a welcome without CAP END)
// gets no AUTHENTICATE: without Required the client registers
// unauthenticated, the Handler told ErrSASLUnavailable; with Required the
// connection is closed with ErrSASLUnavailable.
func TestSASLNotOffered(t *testing.T) {
	for _, tc := range []struct {
		name    string
		server  []string
		want    []string // the client's lines (before closing when required)
		reply   []string // the server's answer to them
		wantEnd bool     // without Required, a CAP END follows
	}{
		{name: "not in LS", server: []string{":s CAP * LS :multi-prefix"}, wantEnd: true},
		{name: "EXTERNAL only", server: []string{":s CAP * LS :sasl=EXTERNAL multi-prefix"}, wantEnd: true},
		{name: "NAK", server: []string{":s CAP * LS :sasl=PLAIN"}, want: []string{"CAP REQ sasl"}, reply: []string{":s CAP * NAK sasl"}, wantEnd: true},
		{name: "no CAP", server: []string{":s 421 * CAP :Unknown command"}},
		{name: "welcome first", server: []string{":s 001 bot :hi"}},
	} {
		for _, required := range []bool{false, true} {
			rec := newSASLRecorder()
			c, fs := capClient(t, Config{Nick: "bot", SASL: &SASLConfig{User: "acct", Password: "pw", Required: required}}, rec)
			fs.send(tc.server...)
			for _, w := range tc.want {
				fs.expect(w)
			}
			fs.send(tc.reply...)
			rec.expect(t, "sasl fail")
			if err := rec.saslErr(t); !errors.Is(err, ErrSASLUnavailable) {
				t.Errorf("%s required=%v: SASLResult(%v), want ErrSASLUnavailable", tc.name, required, err)
			}
			if required {
				fs.closedWith(ErrSASLUnavailable)
				continue
			}
			if tc.wantEnd {
				fs.expect("CAP END")
			}
			if tc.name != "welcome first" {
				fs.send(":s 001 bot :hi")
			}
			rec.expect(t, "signedon bot")
			if err := c.Join("#c"); err != nil {
				t.Fatal(err)
			}
			fs.expect("JOIN #c") // no AUTHENTICATE was sent
			fs.hangUp()
		}
	}
}

// TestSASLChunks: the base64 credentials go in 400-byte AUTHENTICATE
// lines, and one whose length is a multiple of 400 is followed by
// "AUTHENTICATE +".
func TestSASLChunks(t *testing.T) {
	// "\x00u\x00" + pass: 3 bytes more than pass, base64 4/3 of that.
	for _, n := range []int{297, 298, 597, 1} {
		pass := strings.Repeat("p", n)
		b64 := plain("", "u", pass)
		var want []string
		for rest := b64; rest != ""; rest = rest[min(400, len(rest)):] {
			want = append(want, "AUTHENTICATE "+rest[:min(400, len(rest))])
		}
		if len(b64)%400 == 0 {
			want = append(want, "AUTHENTICATE +")
		}
		switch n {
		case 297:
			if len(b64) != 400 || len(want) != 2 {
				t.Fatalf("bad test: %d bytes of base64, %d lines", len(b64), len(want))
			}
		case 597:
			if len(b64) != 800 || len(want) != 3 {
				t.Fatalf("bad test: %d bytes of base64, %d lines", len(b64), len(want))
			}
		}
		rec := newSASLRecorder()
		_, fs := capClient(t, Config{Nick: "bot", SASL: &SASLConfig{User: "u", Password: pass}}, rec)
		fs.send(":s CAP * LS :sasl", ":s CAP * ACK :sasl")
		fs.expect("CAP REQ sasl")
		fs.expect("AUTHENTICATE PLAIN")
		fs.send("AUTHENTICATE +")
		for _, w := range want {
			fs.expect(w)
		}
		fs.pingPong() // nothing more
		fs.send(":s 903 bot :ok")
		fs.expect("CAP END")
		rec.expect(t, "sasl ok")
		fs.hangUp()
	}
}

// TestSASL908Then904: a server that does not know PLAIN answers 908 (its
// mechanisms) then 904: one failure, told once, naming the mechanisms, and
// one CAP END.
func TestSASL908Then904(t *testing.T) {
	rec := newSASLRecorder()
	_, fs := capClient(t, Config{Nick: "bot", SASL: &SASLConfig{User: "u", Password: "p"}}, rec)
	fs.send(":s CAP * LS :sasl", ":s CAP * ACK :sasl")
	fs.expect("CAP REQ sasl")
	fs.expect("AUTHENTICATE PLAIN")
	fs.send(":s 908 bot EXTERNAL,SCRAM-SHA-256 :are available SASL mechanisms", ":s 904 bot :SASL authentication failed")
	fs.expect("CAP END")
	rec.expect(t, "sasl fail")
	if err := rec.saslErr(t); !errors.Is(err, ErrSASLFailed) || !strings.Contains(err.Error(), "EXTERNAL,SCRAM-SHA-256") {
		t.Errorf("SASLResult(%v), want ErrSASLFailed naming the server's mechanisms", err)
	}
	fs.pingPong() // no second CAP END
	fs.send(":s 001 bot :hi")
	rec.expect(t, "signedon bot")
	select {
	case err := <-rec.errs:
		t.Errorf("a second SASLResult(%v)", err)
	default:
	}
}

// TestSASLWithSplitReq: CAP END waits for both the answer to every REQ
// line and the end of SASL, whichever comes last.
func TestSASLWithSplitReq(t *testing.T) {
	long := strings.Repeat("x", maxContent-len("CAP REQ :"))
	for _, saslFirst := range []bool{true, false} {
		rec := newSASLRecorder()
		_, fs := capClient(t, Config{Nick: "bot", Caps: []string{long}, SASL: &SASLConfig{User: "u", Password: "p"}}, rec)
		fs.send(":s CAP * LS :sasl=PLAIN " + long)
		fs.expect("CAP REQ " + long)
		fs.expect("CAP REQ sasl")
		if !saslFirst {
			fs.send(":s CAP * ACK " + long)
		}
		fs.send(":s CAP * ACK sasl")
		fs.expect("AUTHENTICATE PLAIN")
		fs.send("AUTHENTICATE +")
		fs.expect("AUTHENTICATE " + plain("", "u", "p"))
		fs.send(":s 903 bot :ok")
		rec.expect(t, "sasl ok")
		if saslFirst {
			fs.pingPong() // the other REQ is not answered yet
			fs.send(":s CAP * ACK " + long)
		}
		fs.expect("CAP END")
		fs.pingPong()
		fs.hangUp()
	}
}

// TestSASLConfigValidate: an empty user or password, or a NUL in the
// user, password or authorization identity, is ErrConfig, and the error
// never holds the password.
func TestSASLConfigValidate(t *testing.T) {
	const pass = "hunter2-secret"
	for _, s := range []SASLConfig{
		{Password: pass},
		{User: "u"},
		{User: "u\x00", Password: pass},
		{User: "u", Password: pass + "\x00"},
		{User: "u", Password: pass, AuthzID: "a\x00"},
	} {
		_, err := NewClient(Config{Nick: "bot", SASL: &s}, nil)
		if !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), pass) {
			t.Errorf("SASL %q: %v, want ErrConfig without the password", s.User, err)
		}
	}
	if _, err := NewClient(Config{Nick: "bot", SASL: &SASLConfig{User: "u", Password: "p\r\n:x é"}}, nil); err != nil {
		t.Errorf("a password with CR, LF, ':' and UTF-8 (sent in base64): %v", err)
	}
}

// TestSASLTimeout: a server that ACKs sasl but never answers AUTHENTICATE
// with "+" (here: garbage) holds the client no longer than
// RegisterTimeout, and the error does not hold the password.
func TestSASLTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		srv, r, done := servePipe(t, Config{Nick: "bot", RegisterTimeout: 30 * time.Second, SASL: &SASLConfig{User: "u", Password: "hunter2"}}, nil)
		read := func(want string) {
			t.Helper()
			if l, _ := r.ReadString('\n'); l != want+"\r\n" {
				t.Fatalf("client sent %q, want %q", l, want)
			}
		}
		read("CAP LS 302")
		read("NICK bot")
		read("USER bot 0 * bot")
		if _, err := srv.Write([]byte(":s CAP * LS :sasl\r\n:s CAP * ACK :sasl\r\n")); err != nil {
			t.Fatal(err)
		}
		read("CAP REQ sasl")
		read("AUTHENTICATE PLAIN")
		if _, err := srv.Write([]byte("AUTHENTICATE :what?\r\nAUTHENTICATE\r\n:s 900\r\n")); err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = io.Copy(io.Discard, r) }()
		err := <-done
		if !errors.Is(err, ErrRegisterTimeout) || time.Since(start) != 30*time.Second || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Serve = %v after %v, want ErrRegisterTimeout after 30s", err, time.Since(start))
		}
	})
}

// saslCounter counts the SASLResult calls and notes how many lines the
// client had sent at the first.
type saslCounter struct {
	BaseHandler
	tr      *recTransport
	results int
	at      int
}

func (h *saslCounter) SASLResult(*Client, error) {
	h.results++
	if h.results == 1 {
		h.tr.mu.Lock()
		h.at = strings.Count(h.tr.out.String(), "\r\n")
		h.tr.mu.Unlock()
	}
}

// FuzzSASLSession feeds arbitrary server bytes to a Client with SASL: it
// must not panic; the password never goes out in clear; AUTHENTICATE
// PLAIN and the credentials go out at most once; SASLResult is called at
// most once; CAP END at most once, and, when authentication started, only
// after SASLResult.
func FuzzSASLSession(f *testing.F) {
	for _, s := range []string{
		":s CAP * LS :multi-prefix sasl=PLAIN\r\n:s CAP * ACK :multi-prefix sasl\r\nAUTHENTICATE +\r\n:s 900 bot b!u@h acct :in\r\n:s 903 bot :ok\r\n:s 001 bot :hi\r\n",
		":s CAP * LS :sasl\r\n:s CAP * ACK :sasl\r\nAUTHENTICATE +\r\nAUTHENTICATE +\r\n:s 904 bot :no\r\n:s 903 bot :ok\r\n",
		":s CAP * LS :sasl\r\n:s CAP * ACK :sasl\r\n:s 908 bot EXTERNAL :mechs\r\n:s 904 bot :no\r\n:s 001 bot :hi\r\n",
		":s CAP * LS :sasl=EXTERNAL\r\n:s CAP * NAK :sasl\r\n:s 421 * CAP :x\r\n:s 001 bot\r\n",
		":s CAP * LS :sasl multi-prefix\r\n:s CAP * NAK :sasl\r\n:s CAP * ACK :multi-prefix\r\nAUTHENTICATE :x\r\n:s 903\r\n",
	} {
		f.Add([]byte(s), false)
	}
	const pass = "pw-Secret"
	creds := "AUTHENTICATE " + plain("", "u", pass)
	f.Fuzz(func(t *testing.T, data []byte, required bool) {
		tr := &recTransport{}
		h := &saslCounter{tr: tr}
		c, err := NewClient(Config{Nick: "bot", Caps: []string{"multi-prefix"}, SASL: &SASLConfig{User: "u", Password: pass, Required: required}}, h)
		if err != nil {
			t.Fatal(err)
		}
		c.ConnectionMade(tr)
		tr.RunPosted()
		c.DataReceived(data)
		tr.RunPosted()
		c.ConnectionLost(nil)
		tr.RunPosted()
		tr.mu.Lock()
		lines := strings.Split(strings.TrimSuffix(tr.out.String(), "\r\n"), "\r\n")
		tr.mu.Unlock()
		count := map[string]int{}
		end, plainAt := -1, -1
		for i, l := range lines {
			count[l]++
			if strings.Contains(l, pass) {
				t.Fatalf("sent the password in clear: %q", l)
			}
			switch l {
			case "CAP END":
				end = i
			case "AUTHENTICATE PLAIN":
				plainAt = i
			}
		}
		for _, l := range []string{"CAP END", "AUTHENTICATE PLAIN", creds} {
			if count[l] > 1 {
				t.Fatalf("sent %q %d times", l, count[l])
			}
		}
		if h.results > 1 {
			t.Fatalf("SASLResult called %d times", h.results)
		}
		if plainAt >= 0 && end >= 0 && (h.results == 0 || end < h.at) {
			t.Fatalf("CAP END (line %d) before SASL ended (%d results, at line %d): %q", end, h.results, h.at, lines)
		}
	})
}
