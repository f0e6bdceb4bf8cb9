package irc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft/client"
	"github.com/weftkit/weft/internal/testenv"
)

// ngircd is a real IRC server run by the test on a loopback port.
type ngircd struct {
	t    *testing.T
	bin  string
	conf string
	addr string
	cmd  *exec.Cmd
}

// newNgircd writes a configuration for 127.0.0.1:port in a temp dir.
func newNgircd(t *testing.T) *ngircd {
	bin := testenv.LookPath(t, "ngircd", "ngircd")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "ngircd.conf")
	text := fmt.Sprintf(`[Global]
Name = irc.weft.test
Info = weft test server
Listen = 127.0.0.1
Ports = %d
PidFile = %s
MotdPhrase = weft test
ServerUID = %d
ServerGID = %d
[Limits]
PingTimeout = 120
PongTimeout = 20
[Options]
Ident = no
PAM = no
DNS = no
ChrootDir =
IncludeDir = %s
[SSL]
`, port, filepath.Join(dir, "ngircd.pid"), os.Getuid(), os.Getgid(), filepath.Join(dir, "conf.d"))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--configtest", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("ngircd --configtest: %v\n%s", err, out)
	}
	n := &ngircd{t: t, bin: bin, conf: conf, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	t.Cleanup(n.stop)
	return n
}

// start runs ngircd in the foreground (-n) and waits until it accepts.
func (n *ngircd) start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "-n", "-f", n.conf)
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("starting ngircd: %v", err)
	}
	for i := 0; i < 200; i++ {
		if c, err := net.DialTimeout("tcp", n.addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	n.t.Fatalf("ngircd did not listen on %s", n.addr)
}

// stop terminates ngircd and reaps it.
func (n *ngircd) stop() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	n.cmd = nil
}

// peer is a plain IRC user on a net.Conn, written by hand.
type peer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialPeer(t *testing.T, addr, nick string) *peer {
	t.Helper()
	return dialPeerAs(t, addr, nick, nick)
}

// dialPeerAs is dialPeer with a user name other than the nick (ngircd
// refuses some nick characters, such as '|' and '\', in a user name).
func dialPeerAs(t *testing.T, addr, nick, user string) *peer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	p.send("NICK " + nick)
	p.send("USER " + user + " 0 * :" + nick)
	p.waitFor(" 001 ")
	return p
}

func (p *peer) send(line string) {
	p.t.Helper()
	_ = p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.conn.Write([]byte(line + "\r\n")); err != nil {
		p.t.Fatalf("peer write %q: %v", line, err)
	}
}

// waitFor reads lines (answering PING) until one contains s.
func (p *peer) waitFor(s string) string {
	p.t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			p.t.Fatalf("peer waiting for %q: %v", s, err)
		}
		if strings.HasPrefix(line, "PING ") {
			p.send("PONG " + strings.TrimSpace(line[5:]))
		}
		if strings.Contains(line, s) {
			return line
		}
	}
}

var stamp = regexp.MustCompile(`^\[\d\d:\d\d:\d\d\] `)
var date = regexp.MustCompile(`at \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\]$`)

// readLog returns the log's lines with timestamps checked and removed.
func readLog(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if l == "" {
			continue
		}
		if !stamp.MatchString(l) {
			t.Fatalf("log line without [HH:MM:SS] stamp: %q", l)
		}
		lines = append(lines, date.ReplaceAllString(stamp.ReplaceAllString(l, ""), "at <date>]"))
	}
	return lines
}

// waitLog waits until the log holds n lines.
func waitLog(t *testing.T, path string, n int) []string {
	t.Helper()
	for i := 0; i < 600; i++ {
		if lines := readLog(t, path); len(lines) >= n {
			return lines
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("log never reached %d lines: %q", n, readLog(t, path))
	return nil
}

func TestLogBotNgircd(t *testing.T) {
	srv := newNgircd(t)
	srv.start()
	// Someone already holds the nick: the bot must take "logbot^".
	dialPeer(t, srv.addr, "logbot")

	path := filepath.Join(t.TempDir(), "weft.log")
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", LogPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()
	stop := runBot(t, bot, srv.addr, 100*time.Millisecond)
	waitLog(t, path, 2) // connected, joined

	alice := dialPeer(t, srv.addr, "alice")
	alice.send("JOIN #weft")
	alice.waitFor(" 366 ")
	alice.send("PRIVMSG #weft :hello, log")
	alice.send("PRIVMSG #weft :\x01ACTION waves\x01")
	alice.send("NICK alice2")
	alice.waitFor("NICK")
	alice.send("PRIVMSG logbot^ :psst, a secret")
	if got := alice.waitFor("NOTICE alice2"); !strings.Contains(got, ":"+Whisper) {
		t.Errorf("whisper answer %q", got)
	}
	alice.send("PRIVMSG #weft :logbot^: who are you?")
	alice.waitFor("alice2: I am a log bot")
	waitLog(t, path, 8)

	// The server goes away and comes back on the same port: the bot
	// reconnects, re-registers (its nick is free now) and rejoins.
	srv.stop()
	srv.start()
	waitLog(t, path, 11)
	bob := dialPeer(t, srv.addr, "bob")
	bob.send("JOIN #weft")
	bob.waitFor(" 366 ")
	bob.send("PRIVMSG #weft :logbot: are you back?")
	bob.waitFor("bob: I am a log bot")
	waitLog(t, path, 13)
	if err := stop(); err != context.Canceled {
		t.Errorf("Reconnecting.Run = %v", err)
	}
	want := []string{
		"[connected at <date>]",
		"[I have joined #weft]",
		"<alice> hello, log",
		"* alice waves",
		"alice is now known as alice2",
		"<alice2> psst, a secret",
		"<alice2> logbot^: who are you?",
		"<logbot^> alice2: I am a log bot",
		"[disconnected at <date>]",
		"[connected at <date>]",
		"[I have joined #weft]",
		"<bob> logbot: are you back?",
		"<logbot> bob: I am a log bot",
		"[disconnected at <date>]",
	}
	got := readLog(t, path)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	raw, _ := os.ReadFile(path)
	t.Logf("log file of this run:\n%s", raw)
}

// TestClientLongMsgNgircd: a text Msg accepts reaches the other user whole
// through a real server, which puts ":nick!user@host " before it; a text
// that would not fit is refused with ErrLineTooLong. Before, Msg accepted
// up to 495 bytes to "alice" and ngircd cut them ("[CUT]").
func TestClientLongMsgNgircd(t *testing.T) {
	srv := newNgircd(t)
	srv.start()
	alice := dialPeer(t, srv.addr, "alice")
	c, _ := signOn(t, srv, Config{Nick: "weftbot"})
	sent := 0
	for i, size := range []int{100, 380, 400, 410, 420, 430, 440, 460, 480, 497, 505} {
		text := fmt.Sprintf("%03d:", i) + strings.Repeat("x", size-5) + "$"
		err := c.Msg("alice", text)
		if errors.Is(err, ErrLineTooLong) {
			if size <= c.MaxText("alice") {
				t.Errorf("%d-byte text refused, MaxText is %d", size, c.MaxText("alice"))
			}
			continue
		}
		if err != nil {
			t.Fatalf("Msg(%d bytes): %v", size, err)
		}
		sent++
		line := alice.waitFor(fmt.Sprintf(" :%03d:", i))
		if got := line[strings.Index(line, " :")+2:]; strings.TrimRight(got, "\r\n") != text {
			t.Errorf("%d-byte text arrived as %d bytes: %q", size, len(strings.TrimRight(got, "\r\n")), got)
		}
	}
	if sent < 3 {
		t.Errorf("only %d texts sent", sent)
	}
	t.Logf("MaxText(alice) = %d", c.MaxText("alice"))
}

// TestLogBotKickNgircd: kicked by a real ngircd's channel operator, the
// bot logs the kick and rejoins after RejoinDelay; kicked and banned, its
// JOIN is refused (474), which it logs, and it keeps trying with growing
// waits until the ban is lifted. Before the fix a kicked bot stayed out of
// its channel until it reconnected. Another user kicked by the operator is
// logged too (before, it was not: TestLogBotLogsUserKick).
func TestLogBotKickNgircd(t *testing.T) {
	srv := newNgircd(t)
	srv.start()
	// The first to join a channel is its operator.
	alice := dialPeer(t, srv.addr, "alice")
	alice.send("JOIN #weft")
	alice.waitFor(" 366 ")

	path := filepath.Join(t.TempDir(), "weft.log")
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", LogPath: path,
		RejoinDelay: 200 * time.Millisecond, MaxRejoinDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()
	stop := runBot(t, bot, srv.addr, 100*time.Millisecond)
	alice.waitFor(":logbot!")
	waitLog(t, path, 2) // connected, joined

	ann := dialPeer(t, srv.addr, "ann")
	ann.send("JOIN #weft")
	ann.waitFor(" 366 ")
	alice.send("KICK #weft ann :flooding")
	ann.waitFor("KICK #weft ann")
	waitLog(t, path, 3)

	alice.send("KICK #weft logbot :go away")
	alice.waitFor("KICK")
	if got := alice.waitFor(" JOIN "); !strings.HasPrefix(got, ":logbot!") {
		t.Fatalf("after the kick: %q, want the bot's JOIN", got)
	}
	waitLog(t, path, 5)
	alice.send("MODE #weft +b logbot!*@*")
	alice.waitFor("MODE")
	alice.send("KICK #weft logbot :banned")
	alice.waitFor("KICK")
	refused := waitLog(t, path, 7)[6]
	if !strings.HasPrefix(refused, "[cannot join #weft (474 ") {
		t.Errorf("refused JOIN logged as %q", refused)
	}
	alice.send("MODE #weft -b logbot!*@*")
	if got := alice.waitFor(" JOIN "); !strings.HasPrefix(got, ":logbot!") {
		t.Fatalf("after the ban is lifted: %q, want the bot's JOIN", got)
	}
	n := len(waitLog(t, path, 8))
	if err := stop(); err != context.Canceled {
		t.Errorf("Reconnecting.Run = %v", err)
	}
	// The waits depend on how long the bot stayed in the channel (ngircd
	// delays a client's commands), and the refusals on how soon the ban
	// was lifted: they are checked by TestLogBotRejoinsAfterKick.
	wait := regexp.MustCompile(`in \d[\dmsµ.]*\]$`)
	var got []string
	for _, l := range waitLog(t, path, n+1) {
		if l = wait.ReplaceAllString(l, "in <wait>]"); len(got) == 0 || l != got[len(got)-1] {
			got = append(got, l)
		}
	}
	want := []string{
		"[connected at <date>]",
		"[I have joined #weft]",
		"[ann was kicked from #weft by alice (flooding)]",
		"[I was kicked from #weft by alice (go away); rejoining in <wait>]",
		"[I have joined #weft]",
		"[I was kicked from #weft by alice (banned); rejoining in <wait>]",
		"[cannot join #weft (474 Cannot join channel (+b) -- You are banned); retrying in <wait>]",
		"[I have joined #weft]",
		"[disconnected at <date>]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log (repeated lines once):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	raw, _ := os.ReadFile(path)
	t.Logf("log file of this run:\n%s", raw)
}

// TestClientCaseMappingNgircd: ngircd announces CASEMAPPING=ascii, where
// "weft|c" and "weft\c" are two users. An impostor "weft\c" joins the
// client's channel, is kicked, joins again and changes his nick: none of it passes for
// the client's own, and Nick() stays "weft|c"; kicked for real, the client
// hears Kicked. Before the fix the client folded nicks under rfc1459 and
// took all three for its own (TestClientCaseMapping).
func TestClientCaseMappingNgircd(t *testing.T) {
	srv := newNgircd(t)
	srv.start()
	alice := dialPeer(t, srv.addr, "alice") // the channel's operator
	alice.send("JOIN #weft")
	alice.waitFor(" 366 ")

	// ngircd refuses '|' in a user name: the user name is set.
	c, rec := signOn(t, srv, Config{Nick: "weft|c", User: "weftc"})
	if err := c.Join("#weft"); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, "joined #weft")

	impostor := dialPeerAs(t, srv.addr, `weft\c`, "impostor")
	impostor.send("JOIN #weft")
	impostor.waitFor(" 366 ")
	alice.send(`KICK #weft weft\c :impostor`)
	impostor.waitFor("KICK #weft")
	impostor.send("JOIN #weft") // back, to be seen changing his nick
	impostor.waitFor(" 366 ")
	impostor.send("NICK x")
	impostor.waitFor("NICK")
	alice.send("KICK #weft weft|c :for real")
	rec.expect(t, `userjoined weft\c #weft`, `userkicked weft\c #weft by alice impostor`,
		`userjoined weft\c #weft`, `nick weft\c x me=weft|c`, "kicked #weft by alice for real")
	if got := c.Nick(); got != "weft|c" {
		t.Errorf("Nick() = %q, want weft|c", got)
	}
}

// TestLogBotCaseMappingNgircd: a log bot whose nick holds a character ngircd
// refuses in a user name ('|') registers with LogBotConfig.User (before,
// the user name was always the nick: "ERROR :Invalid user name", and the
// bot reconnected forever); on ngircd's CASEMAPPING=ascii an impostor
// "log\bot" who joins, is kicked, joins again and changes his nick does
// not pass for "log|bot", and the bot, kicked for real, rejoins. Before
// the case-mapping fix the log showed the impostor's JOIN and KICK as the
// bot's own, and after his NICK the bot took its real kick for someone
// else's and stayed out of its channel (TestLogBotCaseMappingImpostor).
func TestLogBotCaseMappingNgircd(t *testing.T) {
	srv := newNgircd(t)
	srv.start()
	alice := dialPeer(t, srv.addr, "alice") // the channel's operator
	alice.send("JOIN #weft")
	alice.waitFor(" 366 ")

	path := filepath.Join(t.TempDir(), "weft.log")
	bot, err := NewLogBot(LogBotConfig{Nick: "log|bot", User: "logbot", Channel: "#weft", LogPath: path,
		RejoinDelay: 200 * time.Millisecond, MaxRejoinDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()
	stop := runBot(t, bot, srv.addr, 100*time.Millisecond)
	alice.waitFor(":log|bot!")
	waitLog(t, path, 2) // connected, joined

	impostor := dialPeerAs(t, srv.addr, `log\bot`, "impostor")
	impostor.send("JOIN #weft")
	impostor.waitFor(" 366 ")
	alice.send(`KICK #weft log\bot :impostor`)
	impostor.waitFor("KICK #weft")
	impostor.send("JOIN #weft")
	impostor.waitFor(" 366 ")
	impostor.send("NICK x")
	impostor.waitFor("NICK")
	waitLog(t, path, 4)
	alice.send("KICK #weft log|bot :for real")
	if got := alice.waitFor(":log|bot!"); !strings.Contains(got, " JOIN ") {
		t.Fatalf("after the kick: %q, want the bot's JOIN", got)
	}
	waitLog(t, path, 6)
	if err := stop(); err != context.Canceled {
		t.Errorf("Reconnecting.Run = %v", err)
	}
	want := []string{
		"[connected at <date>]",
		"[I have joined #weft]",
		`[log\\bot was kicked from #weft by alice (impostor)]`,
		`log\\bot is now known as x`,
		"[I was kicked from #weft by alice (for real); rejoining in 200ms]",
		"[I have joined #weft]",
		"[disconnected at <date>]",
	}
	got := waitLog(t, path, len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// signOn connects a Client with cfg to srv and waits until it signed on
// (as cfg.Nick); the connection is closed at the end of the test.
func signOn(t *testing.T, srv *ngircd, cfg Config) (*Client, *recorder) {
	t.Helper()
	rec := newRecorder()
	return signOnWith(t, srv, cfg, rec, rec), rec
}

// signOnWith is signOn with h as the Handler, rec being the recorder it
// passes the events on to.
func signOnWith(t *testing.T, srv *ngircd, cfg Config, h Handler, rec *recorder) *Client {
	t.Helper()
	c, err := NewClient(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, "tcp:"+srv.addr, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); _ = conn.Wait() })
	rec.expect(t, "signedon "+cfg.Nick)
	return c
}

// capLog is a recorder that also keeps the CAP messages received, and
// passes on the names of the NAMES replies (353).
type capLog struct {
	*recorder
	mu    sync.Mutex
	cap   []string
	names chan string
}

func (l *capLog) MessageReceived(_ *Client, m Message) {
	switch m.Command {
	case "CAP":
		l.mu.Lock()
		l.cap = append(l.cap, strings.Join(m.Params[1:], " "))
		l.mu.Unlock()
	case "353":
		select {
		case l.names <- m.Param(len(m.Params) - 1):
		default:
		}
	}
}

// TestClientCapsNgircd: ngircd 26.1 answers "CAP LS 302" with
// "CAP * LS :multi-prefix" and holds the registration until CAP END. Asked
// for multi-prefix and a capability it does not offer, the client requests
// multi-prefix alone (ngircd NAKs a whole REQ naming an unknown one),
// which ngircd ACKs; registration completes with exactly {multi-prefix}
// enabled, message-tags is not, so SendTagged refuses, and with
// multi-prefix NAMES shows both of a user's prefixes.
func TestClientCapsNgircd(t *testing.T) {
	srv := newNgircd(t)
	srv.start()
	log := &capLog{recorder: newRecorder(), names: make(chan string, 10)}
	c := signOnWith(t, srv, Config{Nick: "weftcap", Caps: []string{"multi-prefix", "weft.example/unknown"}}, log, log.recorder)
	if got := c.Caps(); !reflect.DeepEqual(got, map[string]string{"multi-prefix": ""}) {
		t.Errorf("Caps() = %#v, want exactly {multi-prefix}", got)
	}
	log.mu.Lock()
	got := strings.Join(log.cap, " | ")
	log.mu.Unlock()
	if want := "LS multi-prefix | ACK multi-prefix"; got != want {
		t.Errorf("ngircd's CAP answers: %q, want %q", got, want)
	}
	if err := c.SendTagged(map[string]string{"+typing": "active"}, "TAGMSG", "#weft"); !errors.Is(err, ErrTagsNotEnabled) {
		t.Errorf("SendTagged without message-tags: %v, want ErrTagsNotEnabled", err)
	}
	// multi-prefix at work: the channel's creator, opped, voices itself;
	// NAMES then lists it as "@+weftcap" (without the capability, "@").
	if err := c.Join("#weft"); err != nil {
		t.Fatal(err)
	}
	log.expect(t, "joined #weft")
	alice := dialPeer(t, srv.addr, "alice")
	alice.send("JOIN #weft")
	alice.waitFor(" 366 ")
	if err := c.Send(Message{Command: "MODE", Params: []string{"#weft", "+v", "weftcap"}}); err != nil {
		t.Fatal(err)
	}
	alice.waitFor("MODE #weft +v")
	for len(log.names) > 0 { // the NAMES of the JOIN
		<-log.names
	}
	if err := c.Send(Message{Command: "NAMES", Params: []string{"#weft"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case names := <-log.names:
		if !slices.Contains(strings.Fields(names), "@+weftcap") {
			t.Errorf("NAMES with multi-prefix: %q, want @+weftcap in it", names)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no NAMES reply")
	}
	alice.send("NAMES #weft")
	if line := alice.waitFor(" 353 "); !strings.Contains(line, " @weftcap") {
		t.Errorf("NAMES to a client without multi-prefix: %q, want @weftcap", line)
	}
}
