package weft_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// fdOpen reports whether descriptor fd is open.
func fdOpen(fd int) bool {
	_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	return errno == 0
}

// earlyConn makes a NewConnFD connection on a fresh socket pair, applies
// before to it before Start, and checks that nothing ran: no ConnectionMade
// until Start.
func earlyConn(t *testing.T, before func(*weft.Conn)) (*weft.Conn, *recorder, net.Conn) {
	t.Helper()
	l, c := listenDial(t)
	fd := acceptFD(t, l)
	r := newRecorder(t)
	conn, err := weft.NewConnFD(fd, l.Addr(), c.LocalAddr(), r, &weft.Options{Engine: testEngine})
	if err != nil {
		t.Fatal(err)
	}
	before(conn)
	time.Sleep(50 * time.Millisecond) // a runner scheduled by before has run by now
	r.mu.Lock()
	made := r.made
	r.mu.Unlock()
	if made != 0 {
		t.Error("ConnectionMade called before Start")
	}
	return conn, r, c
}

// TestNewConnFDCloseBeforeStart: a connection made by NewConnFD and closed
// (or written to) before Start runs nothing until Start, closes its
// descriptor exactly once, and ends with the reason it was closed with.
func TestNewConnFDCloseBeforeStart(t *testing.T) {
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	t.Run("close", func(t *testing.T) {
		conn, _, c := earlyConn(t, func(conn *weft.Conn) { conn.Close(weft.ErrServerShutdown) })
		// If fd was closed already, this file takes its number: the
		// connection must not close it again.
		other, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(other)
		done := make(chan error, 2)
		conn.Start(func(err error) { done <- err })
		select {
		case err := <-done:
			if !errors.Is(err, weft.ErrServerShutdown) {
				t.Errorf("reason %v, want ErrServerShutdown", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the connection never ended")
		}
		time.Sleep(20 * time.Millisecond)
		if !fdOpen(other) {
			t.Errorf("descriptor %d, opened after the close, was closed by the connection", other)
		}
		if len(done) != 0 {
			t.Error("done called twice")
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("the peer read a byte, want the close")
		}
	})
	t.Run("write", func(t *testing.T) {
		conn, r, c := earlyConn(t, func(conn *weft.Conn) {
			if _, err := conn.Transport().Write([]byte("early")); err != nil {
				t.Fatal(err)
			}
		})
		done := make(chan error, 1)
		conn.Start(func(err error) { done <- err })
		buf := make([]byte, 5)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "early" {
			t.Errorf("peer read %q, %v; want early", buf, err)
		}
		c.Close()
		if err := r.waitLost(t); err != nil {
			t.Errorf("reason %v, want nil", err)
		}
		<-done
	})
}

// TestCloseRacesStartOnEngine: a close (an idle timeout of 1ns, or Close
// from another goroutine) that comes while Start hands the socket to the
// engine ends the connection once: ConnectionMade and ConnectionLost once
// each, done once, with the close's reason.
func TestCloseRacesStartOnEngine(t *testing.T) {
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	// Idle workers take a queued connection at once: the race is then
	// more likely.
	ws, wc := enginePair(t)
	wr := echoRecorder(t)
	wdone := serve(ws, wr, nil)
	if err := pingPong(wc, 1); err != nil {
		t.Fatal(err)
	}
	wc.Close()
	<-wdone
	for _, mode := range []string{"idle", "close"} {
		t.Run(mode, func(t *testing.T) {
			for range stressN {
				s, _ := tcpPair(t)
				r := newRecorder(t)
				opts := &weft.Options{Engine: testEngine}
				want := weft.ErrServerShutdown
				if mode == "idle" {
					opts.IdleTimeout = time.Nanosecond
					want = weft.ErrIdleTimeout
				}
				conn := weft.NewConn(s, r, opts)
				var wg sync.WaitGroup
				if mode == "close" {
					wg.Add(1)
					go func() {
						defer wg.Done()
						conn.Close(weft.ErrServerShutdown)
					}()
				}
				done := make(chan error, 2)
				conn.Start(func(err error) { done <- err })
				select {
				case err := <-done:
					if !errors.Is(err, want) {
						t.Fatalf("reason %v, want %v", err, want)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the connection never ended")
				}
				wg.Wait()
				time.Sleep(time.Millisecond)
				if len(done) != 0 {
					t.Fatal("done called twice")
				}
				r.mu.Lock()
				made, lost := r.made, r.lost
				r.mu.Unlock()
				if made != 1 || lost != 1 {
					t.Fatalf("ConnectionMade %d times, ConnectionLost %d times; want once each", made, lost)
				}
				if t.Failed() {
					return
				}
			}
		})
	}
}

var stressN = 200
