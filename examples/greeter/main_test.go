package main

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestGreeter runs the client against a loopback server that records what it
// receives, and when, until the client closes: the second message comes at
// least one delay after the start, and the close at least two.
func TestGreeter(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type event struct {
		what string // a line received, or "EOF", or an error
		at   time.Time
	}
	got := make(chan []event, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- []event{{what: err.Error()}}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var evs []event
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				evs = append(evs, event{line, time.Now()})
			}
			if err == io.EOF {
				evs = append(evs, event{"EOF", time.Now()})
			} else if err != nil {
				evs = append(evs, event{"ERROR " + err.Error(), time.Now()})
			}
			if err != nil {
				break
			}
		}
		got <- evs
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	const delay = 100 * time.Millisecond
	start := time.Now()
	if err := run(t.Context(), "tcp:127.0.0.1:"+port, delay); err != nil {
		t.Fatal(err)
	}
	evs := <-got
	var whats []string
	for _, e := range evs {
		whats = append(whats, e.what)
	}
	want := []string{"MESSAGE Hello\n", "MESSAGE This is sent in a second\n", "EOF"}
	if strings.Join(whats, "|") != strings.Join(want, "|") {
		t.Fatalf("server received %q, want %q", whats, want)
	}
	// Lower bounds only: a loaded machine makes everything later, never
	// earlier.
	if d := evs[1].at.Sub(start); d < delay {
		t.Errorf("second message %v after the start, want at least %v", d, delay)
	}
	if d := evs[2].at.Sub(start); d < 2*delay {
		t.Errorf("close %v after the start, want at least %v", d, 2*delay)
	}
}

func TestGreeterRefused(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	if err := run(t.Context(), "tcp:127.0.0.1:"+port, time.Millisecond); err == nil {
		t.Error("run succeeded against a closed port")
	}
}

// A server that closes at once gets a clear error (it said "connection lost
// early: <nil>"), and a negative -delay is refused before connecting.
func TestGreeterErrors(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	err = run(t.Context(), "tcp:127.0.0.1:"+port, 10*time.Second)
	// A clean close or a reset, depending on whether "Hello" reached the
	// closed socket first: either way an error that says what happened.
	if err == nil || strings.Contains(err.Error(), "<nil>") {
		t.Errorf("server closed at once: %v", err)
	}
	if err := run(t.Context(), "tcp:127.0.0.1:"+port, -time.Second); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative delay: %v", err)
	}
}
