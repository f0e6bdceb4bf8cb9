package irc

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// capClient runs a Client with cfg (cfg.Caps set, no Password) against a
// fake server and reads its CAP LS, NICK and USER lines.
func capClient(t *testing.T, cfg Config, h Handler) (*Client, *fakeServer) {
	t.Helper()
	c, err := NewClient(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	fs := startFake(t, c)
	fs.expect("CAP LS 302")
	fs.expect("NICK " + cfg.Nick)
	fs.expect("USER " + cfg.Nick + " 0 * " + cfg.Nick)
	return c, fs
}

// capRecorder is a recorder that is told of the capability changes.
type capRecorder struct{ *recorder }

func (r capRecorder) CapsChanged(_ *Client, added, removed []string) {
	r.ev <- fmt.Sprintf("caps +%v -%v", added, removed)
}

// TestCapNegotiation: with Config.Caps the client sends CAP LS 302 before
// NICK and USER, reads the LS reply (one line or several, "cap=value"
// forms), requests the wanted capabilities the server offers (in Config
// order), and ends the negotiation with CAP END once each REQ is answered
// (ACK or NAK); Caps() is then what was ACKed, with the LS values.
func TestCapNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		caps   []string
		server []string // the server's lines after the client's USER
		want   []string // the client's lines, in order
		reply  []string // the server's answer to them (before 001)
		caps2  map[string]string
	}{
		{name: "single line",
			caps:   []string{"server-time", "multi-prefix", "away-notify"},
			server: []string{":s CAP * LS :multi-prefix sasl server-time"},
			want:   []string{"CAP REQ :server-time multi-prefix"},
			reply:  []string{":s CAP * ACK :server-time multi-prefix"},
			caps2:  map[string]string{"server-time": "", "multi-prefix": ""}},
		{name: "multi-line",
			caps:   []string{"multi-prefix", "server-time"},
			server: []string{":s CAP * LS * :account-tag multi-prefix", ":s CAP * LS * :batch", ":s CAP * LS :server-time userhost-in-names"},
			want:   []string{"CAP REQ :multi-prefix server-time"},
			reply:  []string{":s CAP bot ACK :multi-prefix server-time"},
			caps2:  map[string]string{"server-time": "", "multi-prefix": ""}},
		{name: "values",
			caps:   []string{"sasl", "draft/multiline", "message-tags"},
			server: []string{":s CAP * LS :sasl=PLAIN,EXTERNAL draft/multiline=max-bytes=4096,max-lines=24 message-tags="},
			want:   []string{"CAP REQ :sasl draft/multiline message-tags"},
			reply:  []string{":s CAP * ACK :sasl draft/multiline message-tags"},
			caps2:  map[string]string{"sasl": "PLAIN,EXTERNAL", "draft/multiline": "max-bytes=4096,max-lines=24", "message-tags": ""}},
		{name: "single cap, no colon",
			caps:   []string{"multi-prefix"},
			server: []string{"CAP * ls multi-prefix"},
			want:   []string{"CAP REQ multi-prefix"},
			reply:  []string{"CAP * ack multi-prefix"},
			caps2:  map[string]string{"multi-prefix": ""}},
		{name: "none offered",
			caps:   []string{"multi-prefix"},
			server: []string{":s CAP * LS :sasl server-time"},
			want:   []string{"CAP END"},
			caps2:  map[string]string{}},
		{name: "empty LS",
			caps:   []string{"multi-prefix"},
			server: []string{":s CAP * LS :"},
			want:   []string{"CAP END"},
			caps2:  map[string]string{}},
		{name: "NAK",
			caps:   []string{"multi-prefix", "server-time"},
			server: []string{":s CAP * LS :multi-prefix server-time"},
			want:   []string{"CAP REQ :multi-prefix server-time"},
			reply:  []string{":s CAP * NAK :multi-prefix server-time"},
			caps2:  map[string]string{}},
		{name: "ACK of what was not asked",
			caps:   []string{"multi-prefix"},
			server: []string{":s CAP * LS :multi-prefix sasl"},
			want:   []string{"CAP REQ multi-prefix"},
			reply:  []string{":s CAP * ACK :multi-prefix sasl evil -nothing"},
			caps2:  map[string]string{"multi-prefix": ""}},
		{name: "garbage",
			caps: []string{"multi-prefix"},
			server: []string{"CAP", "CAP *", ":s CAP * BOGUS :multi-prefix", ":s CAP * ACK :multi-prefix",
				":s CAP * NAK :x", ":s CAP * LIST :multi-prefix", ":s CAP * LS * :", ":s CAP * LS * :=v ==  multi-prefix=a=b",
				":s CAP * LS :\x01 \xff"},
			want:  []string{"CAP REQ multi-prefix"},
			reply: []string{":s CAP * ACK multi-prefix"},
			caps2: map[string]string{"multi-prefix": "a=b"}},
		{name: "duplicate caps asked",
			caps:   []string{"multi-prefix", "multi-prefix"},
			server: []string{":s CAP * LS :multi-prefix multi-prefix=x"},
			want:   []string{"CAP REQ multi-prefix"},
			reply:  []string{":s CAP * ACK multi-prefix"},
			caps2:  map[string]string{"multi-prefix": "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			c, fs := capClient(t, Config{Nick: "bot", Caps: tc.caps}, rec)
			fs.send(tc.server...)
			for _, w := range tc.want {
				fs.expect(w)
			}
			if len(tc.reply) > 0 {
				fs.send(tc.reply...)
				fs.expect("CAP END")
			}
			fs.send(":s 001 bot :hi")
			rec.expect(t, "signedon bot")
			if got := c.Caps(); !reflect.DeepEqual(got, tc.caps2) {
				t.Errorf("Caps() = %#v, want %#v", got, tc.caps2)
			}
			// Nothing else was sent: the next line is the JOIN.
			if err := c.Join("#c"); err != nil {
				t.Fatal(err)
			}
			fs.expect("JOIN #c")
		})
	}
}

// TestCapNoCapServer: a server that does not know CAP answers 421 (or 451,
// as some old servers do before registration) or says nothing and
// welcomes the client: it registers as without Caps, with no capability
// and no CAP END sent.
func TestCapNoCapServer(t *testing.T) {
	for _, lines := range [][]string{
		{":s 421 * CAP :Unknown command", ":s 001 bot :hi"},
		{":s 451 * CAP :You have not registered", ":s 001 bot :hi"},
		{":s 001 bot :hi"},
		{":s 020 * :Please wait while we process your connection", ":s 001 bot :hi", ":s CAP * LS :multi-prefix"},
	} {
		rec := newRecorder()
		c, fs := capClient(t, Config{Nick: "bot", Caps: []string{"multi-prefix"}}, rec)
		fs.send(lines...)
		rec.expect(t, "signedon bot")
		if err := c.Join("#c"); err != nil {
			t.Fatal(err)
		}
		fs.expect("JOIN #c") // no CAP END, no REQ before it
		if got := c.Caps(); len(got) != 0 {
			t.Errorf("%q: Caps() = %v, want none", lines, got)
		}
		fs.hangUp()
	}
}

// TestCapNoCapsNoCAP: without Config.Caps no CAP is sent (today's
// registration exactly), and a server's unsolicited CAP lines change
// nothing.
func TestCapNoCapsNoCAP(t *testing.T) {
	rec := newRecorder()
	c, fs := registeringClient(t, Config{Nick: "bot"}, rec)
	fs.send(":s CAP * LS :multi-prefix", ":s CAP * ACK :multi-prefix", ":s CAP * NEW :message-tags", ":s 001 bot :hi")
	rec.expect(t, "signedon bot")
	if err := c.Join("#c"); err != nil {
		t.Fatal(err)
	}
	fs.expect("JOIN #c")
	if got := c.Caps(); len(got) != 0 {
		t.Errorf("Caps() = %v, want none", got)
	}
}

// TestCapReqSplit: a REQ too long for one line is split into lines of at
// most MaxLineLength, each cap whole; CAP END waits for the answer to each
// (ACK, NAK, ACK), and the enabled set is what was ACKed.
func TestCapReqSplit(t *testing.T) {
	var want []string
	for i := range 45 {
		want = append(want, fmt.Sprintf("vendor.example/cap-%02d-%s", i, strings.Repeat("x", 10)))
	}
	rec := newRecorder()
	c, fs := capClient(t, Config{Nick: "bot", Caps: want}, rec)
	fs.send(":s CAP * LS * :" + strings.Join(want[:30], " "))
	fs.send(":s CAP * LS :" + strings.Join(want[30:], " "))
	var reqs [][]string
	for len(slices.Concat(reqs...)) < len(want) {
		_ = fs.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := fs.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if len(line) > MaxLineLength {
			t.Fatalf("%d-byte line %q", len(line), line)
		}
		list, ok := strings.CutPrefix(strings.TrimSuffix(line, "\r\n"), "CAP REQ :")
		if !ok {
			t.Fatalf("client sent %q, want a CAP REQ", line)
		}
		reqs = append(reqs, strings.Fields(list))
	}
	if got := slices.Concat(reqs...); !slices.Equal(got, want) {
		t.Fatalf("requested %q, want %q", got, want)
	}
	if len(reqs) != 3 {
		t.Fatalf("%d REQ lines, want 3", len(reqs))
	}
	fs.send(":s CAP * ACK :" + strings.Join(reqs[0], " "))
	fs.send(":s CAP * NAK :" + strings.Join(reqs[1], " "))
	fs.send("PING x")
	fs.expect("PONG x") // not CAP END: a REQ is unanswered
	fs.send(":s CAP * ACK :" + strings.Join(reqs[2], " "))
	fs.expect("CAP END")
	enabled := slices.Sorted(maps.Keys(c.Caps()))
	if wantOn := slices.Sorted(slices.Values(slices.Concat(reqs[0], reqs[2]))); !slices.Equal(enabled, wantOn) {
		t.Errorf("Caps() = %q, want %q", enabled, wantOn)
	}
}

// TestCapHostileLS: a server that sends LS continuation lines without end,
// or huge cap lists, cannot keep the client negotiating nor make it keep
// more than the wanted capabilities: after MaxCapLSLines lines the list is
// taken as complete, later LS lines are ignored, and Caps holds only what
// was asked.
func TestCapHostileLS(t *testing.T) {
	t.Run("endless", func(t *testing.T) {
		rec := newRecorder()
		c, fs := capClient(t, Config{Nick: "bot", Caps: []string{"multi-prefix", "late"}}, rec)
		go func() {
			w := bufio.NewWriter(fs.conn)
			_, _ = w.WriteString(":s CAP * LS * :multi-prefix\r\n")
			for range 5000 {
				if _, err := w.WriteString(":s CAP * LS * :" + strings.Repeat("junk ", 90) + "late\r\n"); err != nil {
					return
				}
			}
			_ = w.Flush()
		}()
		// Read everything the client sends until its REQ.
		fs.expect("CAP REQ :multi-prefix late")
		c.mu.Lock()
		lines := c.capLSLines
		c.mu.Unlock()
		if lines != MaxCapLSLines {
			t.Errorf("REQ sent after %d LS lines, want MaxCapLSLines (%d)", lines, MaxCapLSLines)
		}
	})
	t.Run("huge list", func(t *testing.T) {
		rec := newRecorder()
		c, fs := capClient(t, Config{Nick: "bot", Caps: []string{"wanted"}}, rec)
		var b strings.Builder
		for i := 0; b.Len() < MaxIncomingLineLength-100; i++ {
			fmt.Fprintf(&b, "c%d=%d ", i, i)
		}
		fs.send(":s CAP * LS * :" + b.String())
		fs.send(":s CAP * LS :" + b.String() + "wanted=" + strings.Repeat("v", 50))
		fs.expect("CAP REQ wanted")
		c.mu.Lock()
		kept := len(c.capOffered)
		c.mu.Unlock()
		if kept != 1 {
			t.Errorf("%d offered capabilities kept, want 1 (the wanted one)", kept)
		}
		fs.send(":s CAP * ACK :wanted "+b.String(), ":s 001 bot :hi")
		fs.expect("CAP END")
		rec.expect(t, "signedon bot")
		if got := c.Caps(); !reflect.DeepEqual(got, map[string]string{"wanted": strings.Repeat("v", 50)}) {
			t.Errorf("Caps() = %v", got)
		}
	})
}

// TestCapNegotiationTimeout: a server that answers LS but never the REQ
// (nor welcomes the client) holds it no longer than RegisterTimeout.
func TestCapNegotiationTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		srv, r, done := servePipe(t, Config{Nick: "bot", Caps: []string{"multi-prefix"}, RegisterTimeout: 30 * time.Second}, nil)
		for _, want := range []string{"CAP LS 302", "NICK bot", "USER bot 0 * bot"} {
			if l, _ := r.ReadString('\n'); l != want+"\r\n" {
				t.Fatalf("client sent %q, want %q", l, want)
			}
		}
		if _, err := srv.Write([]byte(":s CAP * LS :multi-prefix\r\n")); err != nil {
			t.Fatal(err)
		}
		if l, _ := r.ReadString('\n'); l != "CAP REQ multi-prefix\r\n" {
			t.Fatalf("client sent %q", l)
		}
		go func() { _, _ = r.ReadString('\n') }()
		err := <-done
		if !errors.Is(err, ErrRegisterTimeout) || time.Since(start) != 30*time.Second {
			t.Errorf("Serve = %v after %v, want ErrRegisterTimeout after 30s", err, time.Since(start))
		}
	})
}

// servePipe serves a Client made with cfg and h over a net.Pipe, and
// returns the server's side, a reader of what the client sends, and the
// result of weft.Serve; the server's side is closed at the end of the test.
func servePipe(t *testing.T, cfg Config, h Handler) (srv net.Conn, r *bufio.Reader, done <-chan error) {
	t.Helper()
	c, err := NewClient(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	cli, srv := net.Pipe()
	t.Cleanup(func() { srv.Close() })
	ch := make(chan error, 1)
	go func() { ch <- weft.Serve(cli, c, nil) }()
	return srv, bufio.NewReader(srv), ch
}

// TestCapLater: after registration, CAP DEL disables a capability, CAP NEW
// offering a wanted one not enabled makes the client request it, and its
// ACK enables it; a NAK or an ACK of another changes nothing. A
// CapHandler is told of each change.
func TestCapLater(t *testing.T) {
	rec := newRecorder()
	c, fs := capClient(t, Config{Nick: "bot", Caps: []string{"multi-prefix", "away-notify", "cap-notify"}}, capRecorder{rec})
	fs.send(":s CAP * LS :multi-prefix away-notify=1 cap-notify")
	fs.expect("CAP REQ :multi-prefix away-notify cap-notify")
	fs.send(":s CAP * ACK :multi-prefix away-notify cap-notify")
	fs.expect("CAP END")
	rec.expect(t, "caps +[multi-prefix away-notify cap-notify] -[]")
	fs.send(":s 001 bot :hi")
	rec.expect(t, "signedon bot")

	fs.send(":s CAP bot DEL :away-notify sasl")
	rec.expect(t, "caps +[] -[away-notify]")
	if got := c.Caps(); !reflect.DeepEqual(got, map[string]string{"multi-prefix": "", "cap-notify": ""}) {
		t.Errorf("after DEL: Caps() = %v", got)
	}
	fs.send(":s CAP bot NEW :sasl multi-prefix away-notify=2")
	fs.expect("CAP REQ away-notify")
	fs.send(":s CAP bot NAK :away-notify", ":s CAP bot ACK :sasl")
	fs.send(":s CAP bot NEW :away-notify=3")
	fs.expect("CAP REQ away-notify")
	fs.send(":s CAP bot ACK :away-notify")
	rec.expect(t, "caps +[away-notify] -[]")
	if got := c.Caps(); !reflect.DeepEqual(got, map[string]string{"multi-prefix": "", "cap-notify": "", "away-notify": "3"}) {
		t.Errorf("after NEW, ACK: Caps() = %v", got)
	}
	fs.send(":s CAP bot ACK :-multi-prefix")
	rec.expect(t, "caps +[] -[multi-prefix]")
	// The copy is the caller's.
	m := c.Caps()
	m["evil"] = "x"
	if _, ok := c.Caps()["evil"]; ok {
		t.Error("Caps() returned the client's own map")
	}
}

// TestCapConfigValidate: a capability name that cannot be requested (empty,
// holding a space, '=', a control byte, starting with '-' or ':', or too
// long for a REQ line) is ErrConfig.
func TestCapConfigValidate(t *testing.T) {
	for _, cp := range []string{"", "a b", "a=b", "-a", ":a", "a\x00", "a\r", "a\x01", strings.Repeat("c", MaxLineLength)} {
		if _, err := NewClient(Config{Nick: "bot", Caps: []string{"ok", cp}}, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("Caps %q: %v, want ErrConfig", cp, err)
		}
	}
	if _, err := NewClient(Config{Nick: "bot", Caps: []string{"draft/multiline", "vendor.example/x-y", "~odd"}}, nil); err != nil {
		t.Error(err)
	}
}

// negotiated runs a Client with cfg through a negotiation in which the
// server ACKs every cap asked and welcomes it.
func negotiated(t *testing.T, cfg Config) (*Client, *fakeServer) {
	t.Helper()
	rec := newRecorder()
	c, fs := capClient(t, cfg, rec)
	fs.send(":s CAP * LS :" + strings.Join(cfg.Caps, " "))
	req := "CAP REQ " + strings.Join(cfg.Caps, " ")
	if len(cfg.Caps) > 1 {
		req = "CAP REQ :" + strings.Join(cfg.Caps, " ")
	}
	fs.expect(req)
	fs.send(":s CAP * ACK :"+strings.Join(cfg.Caps, " "), ":s 001 bot :hi")
	fs.expect("CAP END")
	rec.expect(t, "signedon bot")
	return c, fs
}

// TestSendTagged: with message-tags enabled, SendTagged writes the tags
// sorted by key, each value escaped, a tag with an empty value as its key
// alone; without message-tags it sends nothing and returns
// ErrTagsNotEnabled; before the connection, ErrNotConnected.
func TestSendTagged(t *testing.T) {
	c0, _ := NewClient(Config{Nick: "bot"}, nil)
	if err := c0.SendTagged(map[string]string{"+a": "1"}, "PRIVMSG", "#c", "hi"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("before the connection: %v, want ErrNotConnected", err)
	}

	c, fs := negotiated(t, Config{Nick: "bot", Caps: []string{"message-tags"}})
	tags := map[string]string{"+draft/reply": "id 1;2\\3\r\n", "+typing": "active", "+x": "", "label": "L1"}
	if err := c.SendTagged(tags, "PRIVMSG", "#c", "hi there"); err != nil {
		t.Fatal(err)
	}
	fs.expect(`@+draft/reply=id\s1\:2\\3\r\n;+typing=active;+x;label=L1 PRIVMSG #c :hi there`)
	if err := c.SendTagged(nil, "PRIVMSG", "#c", "plain"); err != nil {
		t.Fatal(err)
	}
	fs.expect("PRIVMSG #c plain")

	c2, fs2 := negotiated(t, Config{Nick: "bot", Caps: []string{"multi-prefix"}})
	if err := c2.SendTagged(map[string]string{"+typing": "active"}, "TAGMSG", "#c"); !errors.Is(err, ErrTagsNotEnabled) {
		t.Errorf("without message-tags: %v, want ErrTagsNotEnabled", err)
	}
	if err := c2.Join("#c"); err != nil {
		t.Fatal(err)
	}
	fs2.expect("JOIN #c") // the TAGMSG was not sent
}

// TestAppendTaggedErrors: a tag key that is not [+][vendor/]name (name of
// letters, digits and '-', vendor a host name) is ErrInvalid, as is a value
// holding NUL or invalid UTF-8; tags over MaxClientTagsLength bytes, or a
// line over MaxLineLength without its tags, are ErrLineTooLong. dst is
// returned unchanged.
func TestAppendTaggedErrors(t *testing.T) {
	base := Message{Command: "TAGMSG", Params: []string{"#c"}}
	for _, tc := range []struct {
		tags map[string]string
		cmd  string
		want error
	}{
		{map[string]string{"": "v"}, "TAGMSG", ErrInvalid},
		{map[string]string{"+": "v"}, "TAGMSG", ErrInvalid},
		{map[string]string{"+a b": "v"}, "TAGMSG", ErrInvalid},
		{map[string]string{"+a=b": "v"}, "TAGMSG", ErrInvalid},
		{map[string]string{"+a;b": "v"}, "TAGMSG", ErrInvalid},
		{map[string]string{"+vendor/": "v"}, "TAGMSG", ErrInvalid},
		{map[string]string{"/x": "v"}, "TAGMSG", ErrInvalid},
		{map[string]string{"+a/b/c": "v"}, "TAGMSG", ErrInvalid},
		{map[string]string{"+v_x/c": "v"}, "TAGMSG", ErrInvalid},
		{map[string]string{"+é": "v"}, "TAGMSG", ErrInvalid},
		{map[string]string{"++a": "v"}, "TAGMSG", ErrInvalid},
		{map[string]string{"+a": "x\x00y"}, "TAGMSG", ErrInvalid},
		{map[string]string{"+a": "\xff"}, "TAGMSG", ErrInvalid},
		{map[string]string{"+a": strings.Repeat("v", MaxClientTagsLength-2)}, "TAGMSG", ErrLineTooLong},
		{map[string]string{"+a": strings.Repeat(";", MaxClientTagsLength/2)}, "TAGMSG", ErrLineTooLong},
		{map[string]string{"+a": "v"}, "BAD-CMD", ErrInvalid},
	} {
		m := base
		m.Command, m.Tags = tc.cmd, tc.tags
		dst := []byte("keep")
		got, err := m.AppendTagged(dst)
		if !errors.Is(err, tc.want) {
			t.Errorf("tags %q: %v, want %v", tc.tags, err, tc.want)
		}
		if string(got) != "keep" {
			t.Errorf("tags %q: dst became %q", tc.tags, got)
		}
	}
	// The bounds: MaxClientTagsLength bytes of tags, and MaxLineLength for
	// the rest of the line.
	m := Message{Command: "PRIVMSG", Params: []string{"#c", strings.Repeat("x", maxContent-len("PRIVMSG #c "))},
		Tags: map[string]string{"+a": strings.Repeat("v", MaxClientTagsLength-3)}}
	b, err := m.AppendTagged(nil)
	if err != nil || len(b) != 1+MaxClientTagsLength+1+MaxLineLength {
		t.Fatalf("line at both bounds: %d bytes, %v", len(b), err)
	}
	m.Params[1] += "x"
	if _, err := m.AppendTagged(nil); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("one byte over MaxLineLength: %v", err)
	}
}

// TestAppendTaggedRoundTrip: a property test: for random tags (valid keys,
// values of any UTF-8 text but NUL, rich in the escaped characters),
// Parse(AppendTagged(m)) gives m back, tags included; and escapeTag is
// the exact inverse of Parse's unescaping.
func TestAppendTaggedRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "0", " ", ";", "\\", "\r", "\n", "=", ":", "s", "é", "\x01", "@", "\\s", "\\:"}
	keys := []string{"+a", "b", "+draft/reply", "vendor.example/k-1", "+x-y", "label", "time"}
	for i := range 5000 {
		tags := map[string]string{}
		for range rng.IntN(4) {
			var v strings.Builder
			for range rng.IntN(12) {
				v.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			tags[keys[rng.IntN(len(keys))]] = v.String()
		}
		m := Message{Command: "PRIVMSG", Params: []string{"#c", fmt.Sprint("text ", i)}, Tags: tags}
		if len(tags) == 0 {
			m.Tags = nil
		}
		b, err := m.AppendTagged(nil)
		if err != nil {
			t.Fatalf("%#v: %v", m, err)
		}
		got, err := Parse(b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("%q parsed to %#v, %v; want %#v", b, got, err, m)
		}
		for _, v := range tags {
			if u := unescapeTag(escapeTag(v)); u != v {
				t.Fatalf("unescape(escape(%q)) = %q", v, u)
			}
		}
	}
}

// TestMessageTime: Time reads the server-time tag (RFC 3339, UTC, with
// milliseconds), in UTC; false without it or when it does not parse.
func TestMessageTime(t *testing.T) {
	want := time.Date(2026, 11, 27, 1, 2, 3, 456e6, time.UTC)
	for _, tc := range []struct {
		tags map[string]string
		want time.Time
		ok   bool
	}{
		{map[string]string{"time": "2026-11-27T01:02:03.456Z"}, want, true},
		{map[string]string{"time": "2026-11-27T02:02:03.456+01:00"}, want, true},
		{map[string]string{"time": "2026-11-27T01:02:03Z"}, want.Truncate(time.Second), true},
		{map[string]string{"time": "yesterday"}, time.Time{}, false},
		{map[string]string{"time": ""}, time.Time{}, false},
		{map[string]string{"msgid": "x"}, time.Time{}, false},
		{nil, time.Time{}, false},
	} {
		got, ok := Message{Command: "PING", Tags: tc.tags}.Time()
		if ok != tc.ok || !got.Equal(tc.want) || ok && got.Location() != time.UTC {
			t.Errorf("Time() of %v = %v, %v; want %v, %v", tc.tags, got, ok, tc.want, tc.ok)
		}
	}
	m, _ := Parse([]byte("@time=2026-11-27T01:02:03.456Z :n!u@h PRIVMSG #c :hi"))
	if got, ok := m.Time(); !ok || !got.Equal(want) {
		t.Errorf("parsed message: Time() = %v, %v", got, ok)
	}
}

// FuzzCapSession feeds arbitrary server bytes to a Client that asks for
// capabilities: it must not panic; the enabled set holds only asked
// capabilities; every line sent is a valid line of at most MaxLineLength;
// it sends CAP END at most once, CAP LS only first, and at most one line
// per line received beyond the registration (each REQ fits one line here).
func FuzzCapSession(f *testing.F) {
	for _, s := range []string{
		":s CAP * LS :multi-prefix server-time\r\n:s CAP * ACK :multi-prefix\r\n:s 001 bot :hi\r\n",
		":s CAP * LS * :a b\r\n:s CAP * LS :message-tags=x\r\n:s CAP * NAK :message-tags\r\n",
		":s 421 * CAP :Unknown command\r\n:s 001 bot :hi\r\n:s CAP * NEW :multi-prefix\r\n",
		":s CAP bot DEL :multi-prefix\r\nCAP * ACK :-multi-prefix evil\r\nCAP\r\nCAP * LS * \r\n",
		":s CAP * LS :=x multi-prefix= ==\r\n:s CAP * ACK\r\n:s 001 bot\r\n:s CAP * NEW :server-time message-tags\r\n",
	} {
		f.Add([]byte(s))
	}
	wanted := []string{"multi-prefix", "server-time", "message-tags"}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := NewClient(Config{Nick: "bot", Caps: wanted}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tr := &recTransport{}
		c.ConnectionMade(tr)
		tr.RunPosted()
		c.DataReceived(data)
		tr.RunPosted()
		for k := range c.Caps() {
			if !slices.Contains(wanted, k) {
				t.Fatalf("enabled %q, not asked", k)
			}
		}
		_ = c.SendTagged(map[string]string{"+a": "b c"}, "TAGMSG", "#c")
		c.ConnectionLost(nil)
		tr.RunPosted()
		out := strings.TrimSuffix(tr.out.String(), "\r\n")
		lines := strings.Split(out, "\r\n")
		if lines[0] != "CAP LS 302" {
			t.Fatalf("first line %q", lines[0])
		}
		ends := 0
		for i, l := range lines {
			if l == "CAP END" {
				ends++
			}
			if i > 0 && strings.HasPrefix(l, "CAP LS") {
				t.Fatalf("CAP LS again: %q", l)
			}
			if strings.HasPrefix(l, "@") {
				_, rest, _ := strings.Cut(l, " ")
				if len(rest)+2 > MaxLineLength {
					t.Fatalf("sent a tagged line of %d bytes without its tags", len(rest)+2)
				}
			} else if len(l)+2 > MaxLineLength {
				t.Fatalf("sent a %d-byte line: %q", len(l)+2, l)
			}
			if _, err := Parse([]byte(l)); err != nil {
				t.Fatalf("sent %q: %v", l, err)
			}
		}
		if ends > 1 {
			t.Fatalf("CAP END sent %d times", ends)
		}
		if in := strings.Count(string(data), "\n") + 1; len(lines) > in+3+1 {
			t.Fatalf("sent %d lines for %d received", len(lines), in)
		}
	})
}

// ExampleClient_SendTagged asks for message-tags and server-time, then
// sends a client-only tag once the server enabled message-tags. The
// server here is a fake one on a net.Pipe.
func ExampleClient_SendTagged() {
	signedOn := make(chan *Client, 1)
	c, err := NewClient(Config{Nick: "weftbot", Caps: []string{"message-tags", "server-time"}}, signedOnHandler{ch: signedOn})
	if err != nil {
		panic(err)
	}
	cli, srv := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- weft.Serve(cli, c, nil) }()
	r := bufio.NewReader(srv)
	read := func() string { l, _ := r.ReadString('\n'); return strings.TrimSuffix(l, "\r\n") }
	say := func(l string) { _, _ = srv.Write([]byte(l + "\r\n")) }

	fmt.Println(read(), "|", read(), "|", read()) // CAP LS 302, NICK, USER
	say(":irc.example CAP * LS :message-tags server-time sasl=PLAIN")
	fmt.Println(read())
	say(":irc.example CAP * ACK :message-tags server-time")
	fmt.Println(read())
	say(":irc.example 001 weftbot :Welcome")
	<-signedOn
	fmt.Println(c.Caps())

	go func() { _ = c.SendTagged(map[string]string{"+typing": "active"}, "TAGMSG", "#weft") }()
	fmt.Println(read())
	srv.Close()
	<-done
	// Output:
	// CAP LS 302 | NICK weftbot | USER weftbot 0 * weftbot
	// CAP REQ :message-tags server-time
	// CAP END
	// map[message-tags: server-time:]
	// @+typing=active TAGMSG #weft
}

// signedOnHandler sends the Client on ch when it signs on.
type signedOnHandler struct {
	BaseHandler
	ch chan *Client
}

func (h signedOnHandler) SignedOn(c *Client) { h.ch <- c }
