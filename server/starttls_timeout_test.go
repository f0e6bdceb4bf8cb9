package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// stGreeter answers "STARTTLS\r\n" with "220 go\r\n" and StartTLS.
type stGreeter struct {
	cfg  *tls.Config
	t    weft.Transport
	lost chan error
}

func (g *stGreeter) ConnectionMade(t weft.Transport) { g.t = t }
func (g *stGreeter) DataReceived(d []byte) {
	if rest, ok := bytes.CutPrefix(d, []byte("STARTTLS\r\n")); ok {
		g.t.Write([]byte("220 go\r\n"))
		weft.StartTLS(g.t, g.cfg, rest)
	}
}
func (g *stGreeter) ConnectionLost(err error) { g.lost <- err }

// A client that asks for STARTTLS and never handshakes is cut at the
// server's HandshakeTimeout (DefaultHandshakeTimeout when zero), as a TLS
// listener's client would be, not held until IdleTimeout or for ever.
func TestStartTLSHandshakeTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  time.Duration
		want time.Duration
	}{
		{"default", 0, DefaultHandshakeTimeout},
		{"3s", 3 * time.Second, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg, _ := testTLS(t)
				lost := make(chan error, 1)
				s := &Server{Factory: factoryOf(func() *stGreeter { return &stGreeter{cfg: cfg, lost: lost} }), HandshakeTimeout: tc.set}
				pl := newPipeListener()
				done := make(chan error, 1)
				go func() { done <- s.Serve(pl) }()
				defer func() { s.Close(); <-done }()
				c := pl.Dial()
				defer c.Close()
				c.Write([]byte("STARTTLS\r\n"))
				reply := make([]byte, len("220 go\r\n"))
				if _, err := io.ReadFull(c, reply); err != nil {
					t.Fatal(err)
				}
				time.Sleep(tc.want - time.Millisecond)
				synctest.Wait()
				select {
				case err := <-lost:
					t.Fatalf("closed %v before the handshake timeout: %v", tc.want-time.Millisecond, err)
				default:
				}
				time.Sleep(2 * time.Millisecond)
				synctest.Wait()
				select {
				case err := <-lost:
					if !errors.Is(err, weft.ErrHandshakeTimeout) {
						t.Errorf("ConnectionLost(%v), want ErrHandshakeTimeout", err)
					}
				default:
					t.Fatalf("a stalled StartTLS handshake outlived the server's HandshakeTimeout (%v)", tc.want)
				}
			})
		})
	}
}

// A Protocol's StartTLS handshake takes one of the MaxHandshakes slots, as a
// TLS listener's handshake does: with every slot taken (here, by another
// client's StartTLS that stalls), a StartTLS is refused (the connection
// closes with ErrRejected, counted in Rejected["max handshakes"]) instead of
// running handshakes without bound. Once the slot is free again, a StartTLS
// handshake runs to the end, and the slot is given back after it.
func TestStartTLSMaxHandshakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, ccfg := testTLS(t)
		lost := make(chan error, 3)
		s := &Server{Factory: factoryOf(func() *stGreeter { return &stGreeter{cfg: cfg, lost: lost} }), MaxHandshakes: 1}
		pl := newPipeListener()
		done := make(chan error, 1)
		go func() { done <- s.Serve(pl) }()
		defer func() { s.Close(); <-done }()
		ask := func() net.Conn {
			c := pl.Dial()
			c.Write([]byte("STARTTLS\r\n"))
			reply := make([]byte, len("220 go\r\n"))
			if _, err := io.ReadFull(c, reply); err != nil {
				t.Fatal(err)
			}
			return c
		}
		staller := ask() // holds the only slot: it never handshakes
		defer staller.Close()
		synctest.Wait()
		if n := s.Snapshot().Handshaking; n != 1 {
			t.Fatalf("Handshaking = %d during a StartTLS handshake, want 1", n)
		}
		refused := ask()
		defer refused.Close()
		if n, err := refused.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("refused client read (%d, %v), want the end of stream, no TLS byte", n, err)
		}
		synctest.Wait() // ConnectionLost follows the socket's close
		select {
		case err := <-lost:
			if !errors.Is(err, weft.ErrRejected) {
				t.Errorf("refused StartTLS: ConnectionLost(%v), want ErrRejected", err)
			}
		default:
			t.Fatal("a StartTLS beyond MaxHandshakes was not refused")
		}
		if got := s.Snapshot().Rejected["max handshakes"]; got != 1 {
			t.Errorf(`Rejected["max handshakes"] = %d, want 1`, got)
		}
		staller.Close()
		if err := <-lost; err == nil {
			t.Error("the stalled StartTLS ended cleanly")
		}
		synctest.Wait()
		if n := s.Snapshot().Handshaking; n != 0 {
			t.Fatalf("Handshaking = %d after the handshake failed, want 0 (slot given back)", n)
		}
		c := ask()
		defer c.Close()
		tc := tls.Client(c, ccfg)
		if err := tc.Handshake(); err != nil {
			t.Fatalf("StartTLS with a free slot: %v", err)
		}
		synctest.Wait()
		if n := s.Snapshot().Handshaking; n != 0 {
			t.Errorf("Handshaking = %d after a handshake, want 0", n)
		}
		tc.Close()
		<-lost
	})
}

// startGreeter serves stGreeter on the readiness engine e over loopback TCP
// (the descriptor accept path), with set applied to the Server first.
func startGreeter(t *testing.T, e *weft.Engine, set func(*Server)) (s *Server, addr string, lost chan error, clientCfg *tls.Config) {
	t.Helper()
	cfg, clientCfg := testTLS(t)
	lost = make(chan error, 8)
	s = &Server{Engine: e, Factory: factoryOf(func() *stGreeter { return &stGreeter{cfg: cfg, lost: lost} })}
	set(s)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() { s.Close(); <-done })
	return s, l.Addr().String(), lost, clientCfg
}

// askStartTLS sends STARTTLS on a new connection to addr and reads the
// clear-text reply.
func askStartTLS(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("STARTTLS\r\n"))
	reply := make([]byte, len("220 go\r\n"))
	if _, err := io.ReadFull(c, reply); err != nil || string(reply) != "220 go\r\n" {
		t.Fatalf("reply to STARTTLS %q, %v", reply, err)
	}
	return c
}

// TestStartTLSHandshakeTimeoutEngine: TestStartTLSHandshakeTimeout on the
// readiness engine, where the switch hands the connection to a goroutine,
// in real time: the handshake is cut at the server's HandshakeTimeout (1 s
// here), not before it and within 10 s.
func TestStartTLSHandshakeTimeoutEngine(t *testing.T) {
	e := engines(t)["engine"](t) // the goroutine engine is TestStartTLSHandshakeTimeout's, in fake time
	const hsTO = time.Second
	s, addr, lost, _ := startGreeter(t, e, func(s *Server) { s.HandshakeTimeout = hsTO })
	start := time.Now() // the handshake begins after this
	askStartTLS(t, addr)
	select {
	case err := <-lost:
		if el := time.Since(start); el < hsTO {
			t.Errorf("cut %v after STARTTLS, before HandshakeTimeout %v", el, hsTO)
		}
		if !errors.Is(err, weft.ErrHandshakeTimeout) {
			t.Errorf("ConnectionLost(%v), want ErrHandshakeTimeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a stalled StartTLS handshake outlived the server's HandshakeTimeout (%v) by 9 s", hsTO)
	}
	wantFDPath(t, s)
}

// TestStartTLSMaxHandshakesEngine: TestStartTLSMaxHandshakes on the
// readiness engine: a StartTLS beyond MaxHandshakes is refused (ErrRejected,
// Rejected["max handshakes"]), and a slot given back serves the next one.
func TestStartTLSMaxHandshakesEngine(t *testing.T) {
	e := engines(t)["engine"](t) // the goroutine engine is TestStartTLSMaxHandshakes's, in fake time
	s, addr, lost, ccfg := startGreeter(t, e, func(s *Server) { s.MaxHandshakes = 1 })
	staller := askStartTLS(t, addr) // holds the only slot: it never handshakes
	waitFor(t, "one handshake", func() bool { return s.Snapshot().Handshaking == 1 })
	refused := askStartTLS(t, addr)
	if n, err := refused.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("refused client read (%d, %v), want the end of stream, no TLS byte", n, err)
	}
	select {
	case err := <-lost:
		if !errors.Is(err, weft.ErrRejected) {
			t.Errorf("refused StartTLS: ConnectionLost(%v), want ErrRejected", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a StartTLS beyond MaxHandshakes was not refused")
	}
	if got := s.Snapshot().Rejected["max handshakes"]; got != 1 {
		t.Errorf(`Rejected["max handshakes"] = %d, want 1`, got)
	}
	staller.Close()
	select {
	case err := <-lost:
		if err == nil {
			t.Error("the stalled StartTLS ended cleanly")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stalled StartTLS did not end after its client closed")
	}
	waitFor(t, "no handshake", func() bool { return s.Snapshot().Handshaking == 0 })
	tc := tls.Client(askStartTLS(t, addr), ccfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("StartTLS with a free slot: %v", err)
	}
	waitFor(t, "no handshake", func() bool { return s.Snapshot().Handshaking == 0 })
	tc.Close()
	<-lost
	wantFDPath(t, s)
}
