package weft

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// closer writes reply in ConnectionMade, then closes gracefully: with
// LoseConnectionWithReason when reason is set (as a codec does after a
// decode error), else with LoseConnection.
type closer struct {
	reply  []byte
	reason error
	lost   chan error
}

func (p *closer) ConnectionMade(t Transport) {
	t.Write(p.reply)
	if p.reason != nil {
		LoseConnectionWithReason(t, p.reason)
	} else {
		t.LoseConnection()
	}
}
func (p *closer) DataReceived([]byte)      {}
func (p *closer) ConnectionLost(err error) { p.lost <- err }

// closeTimer returns c's close timer, nil if it never had one.
func closeTimer(c *Conn) *time.Timer {
	x := c.x.Load()
	if x == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return x.closeT
}

// checkTimerStopped fails the test if c's close timer (if any) still runs
// after the connection ended.
func checkTimerStopped(t *testing.T, c *Conn) {
	t.Helper()
	if tm := closeTimer(c); tm != nil && tm.Stop() {
		t.Error("the close timer is still armed after ConnectionLost")
	}
}

// TestCloseTimeoutNonReaderPipe: a peer that never reads after the server's
// LoseConnection is aborted CloseTimeout later (goroutine engine, net.Pipe,
// fake time); ConnectionLost and Serve get ErrCloseTimeout, wrapping the
// close's own reason when it had one (a codec's decode error); the timer
// does not outlive the connection.
func TestCloseTimeoutNonReaderPipe(t *testing.T) {
	codecErr := errors.New("codec: malformed frame")
	for _, reason := range []error{nil, codecErr} {
		t.Run(reasonName(reason), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, peer := net.Pipe()
				defer peer.Close()
				p := &closer{reply: []byte("ERR bad line\r\n"), reason: reason, lost: make(chan error, 1)}
				c := NewConn(s, p, &Options{CloseTimeout: 10 * time.Second})
				start := time.Now()
				err := c.Serve()
				if waited := time.Since(start); waited != 10*time.Second {
					t.Errorf("Serve returned after %v of fake time, want 10s", waited)
				}
				if !errors.Is(err, ErrCloseTimeout) {
					t.Errorf("Serve = %v, want ErrCloseTimeout", err)
				}
				if reason != nil && !errors.Is(err, reason) {
					t.Errorf("Serve = %v, want it to wrap the close's reason %v too", err, reason)
				}
				if errors.Is(err, ErrIdleTimeout) || errors.Is(err, ErrAborted) {
					t.Errorf("Serve = %v matches ErrIdleTimeout or ErrAborted", err)
				}
				if lost := <-p.lost; lost != err {
					t.Errorf("ConnectionLost got %v, Serve returned %v", lost, err)
				}
				// Pending output was discarded: the peer reads nothing.
				if n, rerr := peer.Read(make([]byte, 64)); n != 0 || rerr == nil {
					t.Errorf("peer read %d bytes, %v; want none and an error", n, rerr)
				}
				synctest.Wait()
				checkTimerStopped(t, c)
			})
		})
	}
}

func reasonName(err error) string {
	if err == nil {
		return "LoseConnection"
	}
	return "LoseConnectionWithReason"
}

// TestCloseTimeoutSlowReaderPipe: the close timeout is a stall timer: a peer
// that reads the final reply slowly but steadily (a byte every 3 s, for 5
// min, with a 10 s CloseTimeout) gets all of it and a clean close.
func TestCloseTimeoutSlowReaderPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, peer := net.Pipe()
		defer peer.Close()
		reply := bytes.Repeat([]byte("0123456789"), 10)
		p := &closer{reply: reply, lost: make(chan error, 1)}
		c := NewConn(s, p, &Options{CloseTimeout: 10 * time.Second})
		done := make(chan error, 1)
		go func() { done <- c.Serve() }()
		var got []byte
		b := make([]byte, 1)
		for {
			time.Sleep(3 * time.Second)
			n, err := peer.Read(b)
			got = append(got, b[:n]...)
			if err != nil {
				if err != io.EOF {
					t.Errorf("peer read error %v after %d bytes", err, len(got))
				}
				break
			}
		}
		if !bytes.Equal(got, reply) {
			t.Errorf("peer got %d bytes, want the %d of the reply", len(got), len(reply))
		}
		if err := <-done; err != nil {
			t.Errorf("Serve = %v, want nil (a slow reader is not cut)", err)
		}
		synctest.Wait()
		checkTimerStopped(t, c)
	})
}

// TestCloseTimeoutDrainedInTime: a peer that reads the final reply within
// CloseTimeout gets all of it and a clean close; the timer that was armed
// while the reply waited is stopped and never fires (fake time goes on for
// an hour after the end).
func TestCloseTimeoutDrainedInTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, peer := net.Pipe()
		defer peer.Close()
		reply := bytes.Repeat([]byte("x"), 1000)
		p := &closer{reply: reply, lost: make(chan error, 1)}
		c := NewConn(s, p, &Options{CloseTimeout: 10 * time.Second})
		done := make(chan error, 1)
		go func() { done <- c.Serve() }()
		time.Sleep(9 * time.Second) // the reply waits: the timer runs
		synctest.Wait()
		if closeTimer(c) == nil {
			t.Fatal("no close timer while the reply waits for the peer")
		}
		got, err := io.ReadAll(peer)
		if err != nil || !bytes.Equal(got, reply) {
			t.Errorf("peer read %d bytes, %v; want %d, EOF", len(got), err, len(reply))
		}
		if err := <-done; err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
		synctest.Wait()
		checkTimerStopped(t, c)
		time.Sleep(time.Hour)
		synctest.Wait()
	})
}

// TestCloseTimeoutNoTimerWithoutClose: a connection with CloseTimeout that
// is never closed gracefully while output waits has no close timer: an echo whose peer closes after reading its
// replies, on both engines (and in synctest, fake time then runs on with
// no timer to fire); and a LoseConnection whose reply leaves at once
// (a socket) arms none either.
func TestCloseTimeoutNoTimerWithoutClose(t *testing.T) {
	echoThenPeerCloses := func(t *testing.T, s, peer net.Conn, opts *Options, bubble bool) {
		t.Helper()
		p := &echoProto{lost: make(chan error, 1)}
		c := NewConn(s, p, opts)
		done := make(chan error, 1)
		c.Start(func(err error) { done <- err })
		for range 3 {
			if _, err := peer.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(peer, make([]byte, 4)); err != nil {
				t.Fatal(err)
			}
		}
		if bubble {
			// The pipe's flusher goroutine has ended: a close now has
			// nothing on its way. (While it has, the bytes the peer
			// just took are not yet counted as gone, and the peer's
			// close may arm the timer, stopped when the connection
			// ends.)
			synctest.Wait()
		}
		peer.Close()
		if err := <-done; err != nil {
			t.Errorf("reason %v, want nil", err)
		}
		if tm := closeTimer(c); tm != nil {
			t.Error("a close timer was armed for a connection never closed gracefully while output waited")
		}
	}
	t.Run("pipe", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, peer := net.Pipe()
			echoThenPeerCloses(t, s, peer, &Options{CloseTimeout: time.Second}, true)
		})
	})
	t.Run("tcp", func(t *testing.T) {
		s, peer := socketPair(t)
		echoThenPeerCloses(t, s, peer, &Options{CloseTimeout: time.Second}, false)
	})
	e, err := NewEngine()
	if err != nil {
		t.Skip(err)
	}
	defer e.Close()
	t.Run("engine", func(t *testing.T) {
		s, peer := socketPair(t)
		echoThenPeerCloses(t, s, peer, &Options{CloseTimeout: time.Second, Engine: e}, false)
	})
	for _, eng := range []*Engine{nil, e} {
		name := "tcp-small-reply"
		if eng != nil {
			name = "engine-small-reply"
		}
		t.Run(name, func(t *testing.T) {
			s, peer := socketPair(t)
			p := &closer{reply: []byte("bye\r\n"), lost: make(chan error, 1)}
			c := NewConn(s, p, &Options{CloseTimeout: time.Second, Engine: eng})
			done := make(chan error, 1)
			c.Start(func(err error) { done <- err })
			if err := <-done; err != nil {
				t.Errorf("reason %v, want nil", err)
			}
			if got, err := io.ReadAll(peer); string(got) != "bye\r\n" || err != nil {
				t.Errorf("peer read %q, %v; want the reply and EOF", got, err)
			}
			if tm := closeTimer(c); tm != nil {
				t.Error("a close timer was armed for a reply the socket took at once")
			}
		})
	}
}

// echoProto writes back what it receives.
type echoProto struct {
	t    Transport
	lost chan error
}

func (p *echoProto) ConnectionMade(t Transport)  { p.t = t }
func (p *echoProto) DataReceived(b []byte)       { p.t.Write(b) }
func (p *echoProto) ConnectionLost(reason error) { p.lost <- reason }

// TestCloseTimeoutSockets: on a real socket, on the goroutine engine and on
// the readiness engine, a peer that reads nothing of a reply larger than
// the socket buffers is aborted after CloseTimeout (ErrCloseTimeout), and a
// peer that reads it slowly but steadily, for longer than CloseTimeout in
// all, gets all of it. The socket buffers are made small (64 KiB), so that
// the kernel cannot take most of the reply and close early. Real time: the
// engine's workers and poller are not in a synctest bubble, and a socket's
// readiness is not something fake time can wait for, so the timeout is
// short and the bounds generous.
func TestCloseTimeoutSockets(t *testing.T) {
	e, err := NewEngine()
	if err != nil {
		t.Skip(err)
	}
	defer e.Close()
	for _, eng := range []*Engine{nil, e} {
		name := "goroutine"
		if eng != nil {
			name = "engine"
		}
		t.Run(name+"/non-reader", func(t *testing.T) {
			const timeout = 300 * time.Millisecond
			s, peer := smallBufferPair(t)
			p := &closer{reply: make([]byte, 4<<20), lost: make(chan error, 1)}
			c := NewConn(s, p, &Options{CloseTimeout: timeout, Engine: eng})
			done := make(chan error, 1)
			start := time.Now()
			c.Start(func(err error) { done <- err })
			select {
			case err := <-done:
				if waited := time.Since(start); waited < timeout {
					t.Errorf("aborted after %v, before CloseTimeout %v", waited, timeout)
				}
				if !errors.Is(err, ErrCloseTimeout) {
					t.Errorf("reason %v, want ErrCloseTimeout", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("a peer that reads nothing still holds the connection 20 s after LoseConnection")
			}
			checkTimerStopped(t, c)
			// A reset, not a FIN after the reply: reading ends in an
			// error, and not after all 4 MiB.
			peer.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, err := io.Copy(io.Discard, peer)
			if err == nil || !strings.Contains(err.Error(), "reset") || n >= 4<<20 {
				t.Errorf("peer read %d bytes, %v; want a reset before the whole reply", n, err)
			}
		})
		t.Run(name+"/slow-reader", func(t *testing.T) {
			const timeout = time.Second
			const size = 12 << 20
			s, peer := smallBufferPair(t)
			p := &closer{reply: bytes.Repeat([]byte("0123456789abcdef"), size/16), lost: make(chan error, 1)}
			c := NewConn(s, p, &Options{CloseTimeout: timeout, Engine: eng})
			done := make(chan error, 1)
			start := time.Now()
			c.Start(func(err error) { done <- err })
			// 256 KiB every 40 ms: about 2 s for the whole reply, twice
			// CloseTimeout, with progress every 40 ms.
			b := make([]byte, 256<<10)
			total := 0
			peer.SetReadDeadline(time.Now().Add(60 * time.Second))
			for {
				time.Sleep(40 * time.Millisecond)
				n, err := io.ReadFull(peer, b)
				total += n
				if err != nil {
					if err != io.EOF && err != io.ErrUnexpectedEOF {
						t.Errorf("peer read error %v after %d bytes", err, total)
					}
					break
				}
			}
			if total != size {
				t.Errorf("peer got %d bytes, want %d", total, size)
			}
			if err := <-done; err != nil {
				t.Errorf("reason %v, want nil (a slow reader is not cut)", err)
			}
			if waited := time.Since(start); waited < timeout {
				t.Logf("the slow read took only %v (CloseTimeout %v): the test proved little", waited, timeout)
			}
			checkTimerStopped(t, c)
		})
	}
}

// smallBufferPair is socketPair with 64 KiB socket buffers (the server
// end's send buffer, the peer's receive buffer), set before any byte moves.
func smallBufferPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	s, peer := socketPair(t)
	if err := s.(*net.TCPConn).SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if err := peer.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	return s, peer
}

// TestCloseTimeoutValidate: a negative CloseTimeout is refused, naming the
// field; a Conn made with it is ended from the start (Serve returns the
// error at once).
func TestCloseTimeoutValidate(t *testing.T) {
	opts := &Options{CloseTimeout: -time.Second}
	err := opts.Validate()
	if err == nil || !strings.Contains(err.Error(), "Options.CloseTimeout -1s is negative") {
		t.Fatalf("Validate = %v, want an error naming Options.CloseTimeout", err)
	}
	s, peer := net.Pipe()
	defer peer.Close()
	if serr := Serve(s, &closer{lost: make(chan error, 1)}, opts); serr == nil || serr.Error() != err.Error() {
		t.Errorf("Serve = %v, want %v", serr, err)
	}
	if err := (&Options{CloseTimeout: time.Second}).Validate(); err != nil {
		t.Errorf("Validate(CloseTimeout 1s) = %v", err)
	}
}
