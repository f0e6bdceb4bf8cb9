package irc

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// fakeServer is the server side of a net.Pipe: the test reads the client's
// lines and writes server lines.
type fakeServer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	done chan error // Serve's result
}

// startFake runs p over a net.Pipe with weft.Serve.
func startFake(t *testing.T, p weft.Protocol) *fakeServer {
	t.Helper()
	cli, srv := net.Pipe()
	fs := &fakeServer{t: t, conn: srv, r: bufio.NewReader(srv), done: make(chan error, 1)}
	go func() { fs.done <- weft.Serve(cli, p, nil) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-fs.done:
		case <-time.After(10 * time.Second):
			t.Error("weft.Serve did not return after the peer closed")
		}
	})
	return fs
}

// registeringClient makes a Client with cfg (no Password or RealName)
// reporting to h, runs it against a fake server, and reads its NICK and
// USER lines.
func registeringClient(t *testing.T, cfg Config, h Handler) (*Client, *fakeServer) {
	t.Helper()
	c, err := NewClient(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	fs := startFake(t, c)
	fs.expect("NICK " + cfg.Nick)
	fs.expect("USER " + cfg.Nick + " 0 * " + cfg.Nick)
	return c, fs
}

// joiningLogBot runs a log bot (nick logbot, channel, the fixed clock)
// against a fake server up to its JOIN of #weft, and returns its log.
func joiningLogBot(t *testing.T, channel string) (*syncBuffer, *fakeServer) {
	t.Helper()
	log := &syncBuffer{}
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: channel, Log: log, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	fs := startFake(t, bot.BuildProtocol(nil))
	fs.expect("NICK logbot")
	fs.expect("USER logbot 0 * logbot")
	fs.send(":s 001 logbot :hi")
	fs.expect("JOIN #weft")
	return log, fs
}

// expect reads the next line from the client and compares it.
func (fs *fakeServer) expect(want string) {
	fs.t.Helper()
	_ = fs.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := fs.r.ReadString('\n')
	if err != nil {
		fs.t.Fatalf("reading client line (want %q): %v", want, err)
	}
	if got := strings.TrimSuffix(line, "\r\n"); got != want {
		fs.t.Fatalf("client sent %q, want %q", got, want)
	}
}

// send writes server lines, each followed by CRLF.
func (fs *fakeServer) send(lines ...string) {
	fs.t.Helper()
	_ = fs.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for _, l := range lines {
		if _, err := fmt.Fprintf(fs.conn, "%s\r\n", l); err != nil {
			fs.t.Fatalf("writing %q: %v", l, err)
		}
	}
}

// hangUp closes the server side and waits for the client to end.
func (fs *fakeServer) hangUp() error {
	fs.conn.Close()
	select {
	case err := <-fs.done:
		fs.done <- err // for Cleanup
		return err
	case <-time.After(10 * time.Second):
		fs.t.Fatal("client did not end after hang-up")
		return nil
	}
}

// recorder records Handler events as strings.
type recorder struct {
	BaseHandler
	ev chan string
}

func newRecorder() *recorder { return &recorder{ev: make(chan string, 100)} }

func (r *recorder) SignedOn(c *Client)          { r.ev <- "signedon " + c.Nick() }
func (r *recorder) Joined(_ *Client, ch string) { r.ev <- "joined " + ch }
func (r *recorder) Left(_ *Client, ch string)   { r.ev <- "left " + ch }
func (r *recorder) UserJoined(_ *Client, u, ch string) {
	r.ev <- "userjoined " + u + " " + ch
}
func (r *recorder) UserLeft(_ *Client, u, ch string) { r.ev <- "userleft " + u + " " + ch }
func (r *recorder) Kicked(_ *Client, ch, by, why string) {
	r.ev <- "kicked " + ch + " by " + by + " " + why
}
func (r *recorder) UserKicked(_ *Client, u, ch, by, why string) {
	r.ev <- "userkicked " + u + " " + ch + " by " + by + " " + why
}
func (r *recorder) UserQuit(_ *Client, u, why string) { r.ev <- "quit " + u + " " + why }
func (r *recorder) NickChanged(c *Client, o, n string) {
	r.ev <- "nick " + o + " " + n + " me=" + c.Nick()
}
func (r *recorder) Privmsg(_ *Client, u, tg, x string) { r.ev <- "privmsg " + u + " " + tg + " " + x }
func (r *recorder) Noticed(_ *Client, u, tg, x string) { r.ev <- "notice " + u + " " + tg + " " + x }
func (r *recorder) Action(_ *Client, u, tg, x string)  { r.ev <- "action " + u + " " + tg + " " + x }
func (r *recorder) NickUnavailable(_ *Client, err error) {
	r.ev <- "unavailable " + err.Error()
}
func (r *recorder) ConnectionLost(_ *Client, err error) { r.ev <- fmt.Sprint("lost ", err) }

func (r *recorder) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-r.ev:
			if got != w {
				t.Fatalf("event %q, want %q", got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event, want %q", w)
		}
	}
}
