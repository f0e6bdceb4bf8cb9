package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// TestShutdownTellsQueued: a graceful Shutdown ends a queued client's wait
// like a rejection does: the RejectMessage, then a clean end of stream
// (FIN), although the client had sent bytes the server never read; without
// a RejectMessage, the end of stream alone. The server half-closes and
// discards what the client sends, so that the unread bytes do not turn the
// close into a reset (before, Shutdown closed the queued socket at once:
// no message, and the client read "connection reset by peer").
func TestShutdownTellsQueued(t *testing.T) {
	const msg = "Too many connections, try later\r\n"
	for _, want := range []string{msg, ""} {
		for name, engine := range engines(t) {
			t.Run(map[bool]string{true: "message", false: "no-message"}[want != ""]+"/"+name, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO,
					RejectMessage: []byte(want), Engine: engine(t)}
				addr := serve(t, s)
				a := dial(t, addr)
				roundTrip(t, a, "A")
				c := dial(t, addr)
				sendSmall(t, c, pattern('C', 10<<10)) // never read by the server
				waitFor(t, "C queued", func() bool { return s.Snapshot().Queued == 1 })

				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				shut := make(chan error, 1)
				go func() { shut <- s.Shutdown(ctx) }()
				if got := string(readToEOF(t, c)); got != want {
					t.Fatalf("queued client received %q at shutdown, want %q then EOF", got, want)
				}
				// Still lingering: what the client sends now is read and
				// discarded (a reset would fail this write).
				if _, err := c.Write([]byte("more")); err != nil {
					t.Fatalf("write after the end of stream: %v; want the server reading and discarding", err)
				}
				c.Close() // ends the linger
				if got := string(readToEOF(t, a)); got != "" {
					t.Errorf("running client got %q at shutdown, want EOF", got)
				}
				if err := <-shut; err != nil {
					t.Fatalf("Shutdown = %v, want nil (everything ended)", err)
				}
				snap := s.Snapshot()
				if snap.Closed["shutdown"] != 1 || snap.Closed["clean"] != 1 || snap.Lingering != 0 {
					t.Errorf("closed %v, lingering %d; want one shutdown, one clean, none lingering", snap.Closed, snap.Lingering)
				}
				if len(snap.Rejected) != 0 {
					for r, n := range snap.Rejected {
						if n != 0 {
							t.Errorf("Rejected[%s] = %d: a queued client told at shutdown is no rejection", r, n)
						}
					}
				}
			})
		}
	}
}

// TestShutdownDeadlineCutsQueuedLinger: Shutdown's ctx bounds the linger of
// the queued clients it tells: a client that neither reads the message nor
// hangs up is closed when ctx ends (before RejectLinger), and Shutdown then
// reports ctx's error (fake time, over pipes, where the message's write
// blocks until the client reads).
func TestShutdownDeadlineCutsQueuedLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO, RejectMessage: []byte("bye\r\n")}
		a, c, done := twoClients(t, s)
		synctest.Wait()
		if n := s.Snapshot().Queued; n != 1 {
			t.Fatalf("%d queued, want 1", n)
		}
		go func() { // A leaves when told: only C is left
			io.Copy(io.Discard, a)
			a.Close()
		}()
		const deadline = RejectLinger / 4
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want context.DeadlineExceeded (the queued client was cut)", err)
		}
		if d := time.Since(start); d != deadline {
			t.Errorf("Shutdown took %v, want its deadline %v", d, deadline)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
		if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
			t.Errorf("cut client read %q, %v; want EOF (its message was never taken)", b, err)
		}
		if snap := s.Snapshot(); snap.Lingering != 0 || snap.Closed["shutdown"] != 1 {
			t.Errorf("lingering %d, closed %v; want 0 and one shutdown", snap.Lingering, snap.Closed)
		}
	})
}

// TestCloseQueuedAtOnce: Close (not graceful) closes a queued client at
// once, without the RejectMessage and without lingering.
func TestCloseQueuedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO, RejectMessage: []byte("bye\r\n")}
		_, c, done := twoClients(t, s)
		synctest.Wait()
		if n := s.Snapshot().Queued; n != 1 {
			t.Fatalf("%d queued, want 1", n)
		}
		read := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(c); read <- b }()
		start := time.Now()
		s.Close()
		if d := time.Since(start); d != 0 {
			t.Errorf("Close took %v, want no wait", d)
		}
		if b := <-read; len(b) != 0 {
			t.Errorf("queued client read %q at Close, want nothing", b)
		}
		<-done
		if snap := s.Snapshot(); snap.Lingering != 0 || snap.Closed["shutdown"] != 2 {
			t.Errorf("lingering %d, closed %v; want 0 and two shutdown", snap.Lingering, snap.Closed)
		}
	})
}

// TestShutdownLetsRejectedLinger: a rejected client lingering after the
// RejectMessage when Shutdown begins keeps its linger (what it sends is
// still read and discarded, so no reset can destroy the message); Shutdown
// returns once it hung up (before, Shutdown closed it at once).
func TestShutdownLetsRejectedLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const msg = "busy\r\n"
		s := &Server{Factory: echoFactory(), MaxConns: 1, RejectMessage: []byte(msg)}
		a, c, done := twoClients(t, s)
		b := make([]byte, len(msg))
		if !readWithin(t, c, b) || string(b) != msg {
			t.Fatalf("rejected client read %q, want %q", b, msg)
		}
		synctest.Wait()
		if n := s.Snapshot().Lingering; n != 1 {
			t.Fatalf("Lingering = %d, want 1", n)
		}
		go func() { io.Copy(io.Discard, a); a.Close() }()
		shut := make(chan error, 1)
		go func() { shut <- s.Shutdown(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned %v with a rejected client lingering", err)
		default:
		}
		if _, err := c.Write([]byte("more")); err != nil {
			t.Fatalf("write during the linger: %v; want the server reading and discarding", err)
		}
		c.Close()
		if err := <-shut; err != nil {
			t.Errorf("Shutdown = %v, want nil", err)
		}
		<-done
	})
}

// TestShutdownQueuedTLS: a queued TLS client told at Shutdown reads the
// RejectMessage inside TLS, then the end of stream.
func TestShutdownQueuedTLS(t *testing.T) {
	const msg = "bye\r\n"
	srvTLS, cliTLS := testTLS(t)
	s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO, RejectMessage: []byte(msg)}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(tls.NewListener(l, srvTLS)) }()
	defer func() { s.Close(); <-done }()
	tlsDial := func() net.Conn {
		c := dial(t, l.Addr().String())
		tc := tls.Client(c, cliTLS)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		return tc
	}
	a := tlsDial()
	roundTrip(t, a, "A")
	c := tlsDial()
	c.Write([]byte("C waits"))
	waitFor(t, "C queued", func() bool { return s.Snapshot().Queued == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	if got := string(readToEOF(t, c)); got != msg {
		t.Errorf("queued TLS client received %q at shutdown, want %q then EOF", got, msg)
	}
	c.Close()
	readAll(t, a)
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}

// TestQueueTimeoutNoMessageCleanEnd: a queued client whose QueueTimeout
// passes, with no RejectMessage set, gets a clean end of stream although it
// had sent bytes the server never read (before, the socket was closed at
// once and the unread bytes turned the close into a reset).
func TestQueueTimeoutNoMessageCleanEnd(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO,
				QueueTimeout: 200 * time.Millisecond, Engine: engine(t)}
			addr := serve(t, s)
			a := dial(t, addr)
			roundTrip(t, a, "A")
			c := dial(t, addr)
			sendSmall(t, c, pattern('C', 10<<10)) // never read by the server
			if got := string(readToEOF(t, c)); got != "" {
				t.Fatalf("timed-out client received %q, want EOF", got)
			}
			c.Close()
			waitFor(t, "the queue timeout counted", func() bool {
				return s.Snapshot().Closed["queue timeout"] == 1 && s.Snapshot().Lingering == 0
			})
		})
	}
}

// twoClients serves s on an in-memory listener and dials it twice: a is
// served (s has MaxConns 1), c queued or rejected. done receives Serve's
// result; both clients are closed when the test ends.
func twoClients(t *testing.T, s *Server) (a, c net.Conn, done chan error) {
	t.Helper()
	l := newPipeListener()
	done = make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	a = l.Dial()
	t.Cleanup(func() { a.Close() })
	c = l.Dial()
	t.Cleanup(func() { c.Close() })
	return a, c, done
}
