package chat_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/protocols/chat"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// room serves a chat.Server on loopback TCP with plain weft.Serve.
type room struct {
	srv  chat.Server
	ln   net.Listener
	opts *weft.Options
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func newRoom(t *testing.T, opts *weft.Options) *room {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &room{ln: ln, opts: opts}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *room) serve(c net.Conn) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := weft.Serve(c, r.srv.BuildProtocol(c.RemoteAddr()), r.opts)
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}()
}

type user struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func (r *room) join(t *testing.T) *user {
	t.Helper()
	c, err := net.Dial("tcp", r.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &user{t: t, c: c, rd: bufio.NewReader(c)}
}

func (u *user) say(line string) {
	u.t.Helper()
	if _, err := u.c.Write([]byte(line)); err != nil {
		u.t.Fatal(err)
	}
}

// expect reads the next lines and checks them, "\r\n" included.
func (u *user) expect(lines ...string) {
	u.t.Helper()
	_ = u.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range lines {
		got, err := u.rd.ReadString('\n')
		if got != want+"\r\n" {
			u.t.Fatalf("got %q (%v), want %q", got, err, want+"\r\n")
		}
	}
}

func (u *user) expectEOF() {
	u.t.Helper()
	_ = u.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := u.rd.ReadString('\n'); err == nil || got != "" {
		u.t.Fatalf("got %q (%v), want EOF", got, err)
	}
}

// TestTranscript holds the whole conversation of the spec with three clients.
func TestTranscript(t *testing.T) {
	r := newRoom(t, nil)
	a := r.join(t)
	a.expect("What's your name?")
	a.say("\r\n")
	a.expect("What's your name?")
	a.say("alice\n")
	a.expect("Welcome, alice!")

	b := r.join(t)
	b.expect("What's your name?")
	b.say("alice\r\n")
	b.expect("Name taken, please choose another.")
	b.say("bob\r\n")
	b.expect("Welcome, bob!")
	a.expect("bob has joined.")

	c := r.join(t)
	c.expect("What's your name?")
	c.say("carol\n")
	c.expect("Welcome, carol!")
	a.expect("carol has joined.")
	b.expect("carol has joined.")

	a.say("hello all\r\n")
	b.expect("<alice> hello all")
	c.expect("<alice> hello all")

	b.say("/who\n")
	b.expect("Online: alice, bob, carol")

	c.say("/NAME dave\r\n")
	for _, u := range []*user{a, b, c} {
		u.expect("carol is now known as dave.")
	}
	a.say("/name bob\n")
	a.expect("Name taken, please choose another.")
	a.say("/name\n") // no name: the usage
	a.expect(chat.MsgNameUsage)
	a.say(" \r\n") // an empty line is not relayed: b and c get nothing
	a.say("/Frob x\n")
	a.expect("Unknown command /frob.") // (so the empty line was handled)
	c.say("still here\n")
	a.expect("<dave> still here")
	b.expect("<dave> still here")

	b.say("/QUIT\r\n")
	b.expect("Bye.")
	b.expectEOF()
	a.expect("bob has left.")
	c.expect("bob has left.")

	c.say("/who\n")
	c.expect("Online: alice, dave")
	c.c.Close()
	a.expect("dave has left.")

	a.say("/Exit\n")
	a.expect("Bye.")
	a.expectEOF()
	if n := r.srv.Names(); len(n) != 0 {
		t.Errorf("room still holds %q", n)
	}
}

// TestSlowClientDropped: a client that stops reading is dropped by the
// write-buffer limit, and the others receive every line meanwhile.
// TestSlowClientDropped runs on both engines: on the readiness engine the
// broadcast to the fast readers is deferred to the engine's workers (writes
// from outside their callbacks), which must not make a fast reader look slow.
func TestSlowClientDropped(t *testing.T) {
	for _, engine := range []string{"goroutine", "epoll"} {
		t.Run(engine, func(t *testing.T) {
			opts := &weft.Options{HighWater: 4 << 10, MaxWriteBuffer: 256 << 10}
			if engine == "epoll" {
				e, err := weft.NewEngine()
				if err != nil {
					t.Skipf("no readiness engine here: %v", err)
				}
				t.Cleanup(func() { e.Close() })
				opts.Engine = e
			}
			testSlowClientDropped(t, opts)
		})
	}
}

func testSlowClientDropped(t *testing.T, opts *weft.Options) {
	r := newRoom(t, opts)
	a, b := r.join(t), r.join(t)
	a.expect("What's your name?")
	a.say("alice\n")
	a.expect("Welcome, alice!")
	b.expect("What's your name?")
	b.say("bob\n")
	b.expect("Welcome, bob!")
	a.expect("bob has joined.")

	// slow joins over a pipe (no kernel buffer) and never reads after "Welcome".
	sc, ss := net.Pipe()
	defer sc.Close()
	r.serve(ss)
	slow := &user{t: t, c: sc, rd: bufio.NewReader(sc)}
	slow.expect("What's your name?")
	slow.say("slow\n")
	slow.expect("Welcome, slow!")
	a.expect("slow has joined.")
	b.expect("slow has joined.")

	const n = 700 // 700 KB for slow: past MaxWriteBuffer
	text := strings.Repeat("x", 1000)
	go func() {
		for i := range n {
			if _, err := a.c.Write(fmt.Appendf(nil, "%d %s\n", i, text)); err != nil {
				return
			}
		}
	}()
	_ = b.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	left, got := false, 0
	for got < n || !left {
		line, err := b.rd.ReadString('\n')
		if err != nil {
			t.Fatalf("bob after %d lines: %v", got, err)
		}
		switch {
		case line == "slow has left.\r\n":
			left = true
		case line == fmt.Sprintf("<alice> %d %s\r\n", got, text):
			got++
		default:
			t.Fatalf("bob got %.40q, want line %d", line, got)
		}
	}
	sc.Close()
	r.ln.Close()
	a.c.Close()
	b.c.Close()
	r.wg.Wait()
	slowDropped := false
	for _, err := range r.errs {
		slowDropped = slowDropped || errors.Is(err, weft.ErrSlowConsumer)
	}
	if !slowDropped {
		t.Errorf("no connection ended with ErrSlowConsumer: %v", r.errs)
	}
}

// TestLongLines: every line the server accepts is relayed in full, however
// long; the server's own messages (the name, "<NAME> " and so on added) are
// not held to the input line limit, so nothing is silently dropped.
func TestLongLines(t *testing.T) {
	long := strings.Repeat("n", chat.MaxNameLength)         // the longest name accepted
	text := strings.Repeat("t", codec.DefaultMaxLineLength) // the longest line accepted
	long2 := strings.Repeat("m", chat.MaxNameLength)
	r := newRoom(t, nil)
	a, b := r.join(t), r.join(t)
	a.expect("What's your name?")
	a.say(long + "\n")
	a.expect("Welcome, " + long + "!")
	b.expect("What's your name?")
	b.say("bob\n")
	b.expect("Welcome, bob!")
	a.expect("bob has joined.")

	for _, tc := range []struct {
		say  string
		a, b []string // the lines alice and bob get
	}{
		{text + "\n", nil, []string{"<" + long + "> " + text}},
		{"/who\n", []string{"Online: bob, " + long}, nil},
		{"/name " + long2 + "\n",
			[]string{long + " is now known as " + long2 + "."},
			[]string{long + " is now known as " + long2 + "."}},
	} {
		a.say(tc.say)
		a.expect(tc.a...)
		b.expect(tc.b...)
	}
}

// A message to the room is encoded once, not once per recipient: the
// allocations of one chat line do not grow with the number of listeners.
func TestBroadcastEncodesOnce(t *testing.T) {
	allocs := func(n int) float64 {
		var srv chat.Server
		ps := make([]weft.Protocol, n)
		for i := range ps {
			ps[i] = srv.BuildProtocol(nil)
			ps[i].ConnectionMade(&testenv.LateTransport{})
			ps[i].DataReceived(fmt.Appendf(nil, "user%d\r\n", i))
		}
		line := []byte("hello, everyone\r\n")
		return testing.AllocsPerRun(100, func() { ps[0].DataReceived(line) })
	}
	few, many := allocs(2), allocs(200)
	if many > few+1 {
		t.Errorf("one line to 199 listeners: %.0f allocations, to 1: %.0f; want no growth", many, few)
	}
}

// TestCommandsBeforeName: before a client has a name, "/quit" quits and
// "/name NEW" chooses the name; before the fix both were taken as names
// ("Welcome, /quit!"), so a client could not leave before naming itself
// and the room held a client named like a command.
func TestCommandsBeforeName(t *testing.T) {
	r := newRoom(t, nil)
	a := r.join(t)
	a.expect("What's your name?")
	a.say("/who\n")
	a.expect("Online: ")
	a.say("/name ann\n")
	a.expect("Welcome, ann!")

	b := r.join(t)
	b.expect("What's your name?")
	b.say("/name\n")
	b.expect(chat.MsgNameUsage)
	b.say("/name ann\n")
	b.expect(chat.MsgNameTaken)
	b.say("/frob\n")
	b.expect("Unknown command /frob.")
	b.say("/quit\n")
	b.expect(chat.MsgBye)
	b.expectEOF()
	if n := r.srv.Names(); len(n) != 1 || n[0] != "ann" {
		t.Errorf("room holds %q, want [ann]", n)
	}
}

// TestNameEmpty: "/name" without a name is answered with the usage, not
// with "Name taken" (no name is taken), and changes nothing.
func TestNameEmpty(t *testing.T) {
	r := newRoom(t, nil)
	a := r.join(t)
	a.expect("What's your name?")
	a.say("ann\n")
	a.expect("Welcome, ann!")
	for _, l := range []string{"/name\n", "/name   \r\n", "/NAME\t\n"} {
		a.say(l)
		a.expect(chat.MsgNameUsage)
	}
	a.say("/who\n")
	a.expect("Online: ann")
}

// TestLineTooLongExplained: a line over the limit closes the connection as
// before (the reason stays codec.ErrFrameTooLarge), but the client is told
// why first; before, it was only disconnected.
func TestLineTooLongExplained(t *testing.T) {
	r := newRoom(t, nil)
	a := r.join(t)
	a.expect("What's your name?")
	a.say("ann\n")
	a.expect("Welcome, ann!")
	go func() { _, _ = a.c.Write([]byte(strings.Repeat("x", codec.DefaultMaxLineLength+100))) }()
	a.expect(fmt.Sprintf("Line too long: the limit is %d bytes. Bye.", codec.DefaultMaxLineLength))
	a.expectEOF()
	a.c.Close()
	r.ln.Close()
	r.wg.Wait()
	if len(r.errs) != 1 || !errors.Is(r.errs[0], codec.ErrFrameTooLarge) {
		t.Errorf("close reasons %v, want codec.ErrFrameTooLarge", r.errs)
	}
}
