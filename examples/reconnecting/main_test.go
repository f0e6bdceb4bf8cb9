package main

import (
	"bufio"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft/client"
	"github.com/weftkit/weft/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is an output buffer safe for a writer and a reader.
type syncBuffer = testenv.SyncBuffer

// waitCount waits (bounded) until want occurs n times in the output.
func waitCount(t *testing.T, out *syncBuffer, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(out.String(), want) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%q not seen %d times within 10 s; output:\n%s", want, n, out)
}

// oneLineServer echoes one line per connection, then hangs up: the client has
// to reconnect for every line.
func oneLineServer(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func TestReconnectingLineClient(t *testing.T) {
	port := oneLineServer(t)
	in, stdin := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	b := &client.Exponential{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Multiplier: 2}
	// StableAfter 0 (-stable 0): this server hangs up after each line, and
	// every connection made counts as a success, restarting the backoff.
	go func() { done <- run(t.Context(), "tcp:127.0.0.1:"+port, b, 0, in, &out) }()

	waitCount(t, &out, "connected to 127.0.0.1:"+port, 1)
	stdin.Write([]byte("one\n"))
	waitCount(t, &out, "< one", 1)
	waitCount(t, &out, "connection lost: closed cleanly; reconnecting in 10ms", 1)
	waitCount(t, &out, "connected to 127.0.0.1:"+port, 2)
	stdin.Write([]byte("two\n"))
	waitCount(t, &out, "< two", 1)
	waitCount(t, &out, "connected to 127.0.0.1:"+port, 3) // connected when the input ends
	endInput(t, stdin, done)
	want := []string{"connecting (attempt 1)", "connected to", "< one", "connection lost: closed cleanly; reconnecting in 10ms",
		"connecting (attempt 1)", "connected to", "< two"}
	lines := strings.Split(out.String(), "\n")
	for i, w := range want {
		if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
			t.Fatalf("line %d: want %q; output:\n%s", i, w, out.String())
		}
	}
	// The end of input stops the client while it is connected: the
	// connection's end says so plainly (it read "reconnecting giving up"
	// before).
	if last := lines[len(lines)-2]; last != "connection lost: closed cleanly; giving up" {
		t.Errorf("last line %q, want \"connection lost: closed cleanly; giving up\"; output:\n%s", last, out.String())
	}
}

func TestReconnectingGivesUpOnBadEndpoint(t *testing.T) {
	if err := run(t.Context(), "tcp:nohost", nil, defaultStableAfter, strings.NewReader(""), io.Discard); err == nil {
		t.Error("run accepted an endpoint without a port")
	}
}

// TestReconnectingLongInputLine: an input line too long to send is dropped
// with a message saying so, and the lines after it are still sent. Before,
// a line over 64 KiB ended the input silently (bufio.Scanner's limit: the
// rest of the input was lost and the exit status was 0), and one over the
// line codec's 16 KiB was reported as "not connected".
func TestReconnectingLongInputLine(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(c, c)
	}()
	defer func() { ln.Close(); <-srvDone }()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	in, stdin := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(t.Context(), "tcp:127.0.0.1:"+port, nil, defaultStableAfter, in, &out) }()
	waitCount(t, &out, "connected to 127.0.0.1:"+port, 1)
	go func() {
		stdin.Write([]byte(strings.Repeat("b", 70000) + "\nshort\n" + strings.Repeat("a", 20000) + "\r\nafter\n" +
			strings.Repeat("c", 16384) + "\r\n"))
	}()
	waitCount(t, &out, "< after", 1)
	waitCount(t, &out, "< ccc", 1)
	endInput(t, stdin, done)
	got := out.String()
	if n := strings.Count(got, "! line over 16384 bytes: line dropped\n"); n != 2 || !strings.Contains(got, "< short\n") ||
		strings.Contains(got, "not connected") || !strings.Contains(got, "< "+strings.Repeat("c", 16384)+"\n") {
		t.Errorf("output:\n%.2000s", got)
	}
}

// TestReconnectingDropsLinesWhileDisconnected: a line read while no
// connection is up is dropped with "! not connected: line dropped".
func TestReconnectingDropsLinesWhileDisconnected(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close() // nothing listens there now
	in, stdin := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	b := &client.Exponential{Initial: time.Hour, Max: time.Hour, Multiplier: 2}
	go func() { done <- run(t.Context(), "tcp:127.0.0.1:"+port, b, defaultStableAfter, in, &out) }()
	waitCount(t, &out, "connection failed: ", 1) // then an hour until the next attempt
	if _, err := stdin.Write([]byte("lost\n")); err != nil {
		t.Fatal(err)
	}
	waitCount(t, &out, "! not connected: line dropped\n", 1)
	endInput(t, stdin, done)
}

// endInput closes run's input and checks that run returns nil.
func endInput(t *testing.T, stdin io.Closer, done <-chan error) {
	t.Helper()
	stdin.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return at the end of input")
	}
}

// TestReconnectingSlowServerLosesNothing: input read faster than the server
// takes it waits for the connection's write buffer to drain (weft.Gate)
// instead of overflowing it. Before, every line was queued at once: past
// MaxWriteBuffer the connection was closed as a slow consumer and the lines
// after it were dropped.
func TestReconnectingSlowServerLosesNothing(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const lines, lineLen = 16 << 10, 1000
	got := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		time.Sleep(500 * time.Millisecond) // not reading yet
		n := 0
		r := bufio.NewReader(c)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				break
			}
			n++
		}
		got <- n
	}()
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	in, stdin := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(t.Context(), "tcp:127.0.0.1:"+port, nil, defaultStableAfter, in, &out) }()
	waitCount(t, &out, "connected to 127.0.0.1:"+port, 1)
	go func() {
		line := []byte(strings.Repeat("x", lineLen-1) + "\n")
		for range lines {
			if _, err := stdin.Write(line); err != nil {
				return
			}
		}
		stdin.Close()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return at the end of input")
	}
	if n := <-got; n != lines {
		t.Errorf("server got %d lines, want %d; output:\n%.2000s", n, lines, out.String())
	}
	if s := out.String(); strings.Contains(s, "dropped") || strings.Contains(s, "slow consumer") {
		t.Errorf("output:\n%.2000s", s)
	}
}

// hangUpServer accepts every connection and closes it at once, as a server
// over its connection limit (or a proxy before a dead backend) does.
func hangUpServer(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestReconnectingBacksOffFromHangUpServer: against a server that accepts
// and hangs up at once, the connections count as failed attempts
// (client.Reconnecting.StableAfter): the attempt number and the delay grow
// up to the backoff's cap. Before, StableAfter was not set: every such
// connection counted as a success, the backoff restarted after each, and
// the client reconnected every Initial delay for ever.
func TestReconnectingBacksOffFromHangUpServer(t *testing.T) {
	port := hangUpServer(t)
	in, stdin := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	b := &client.Exponential{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond, Multiplier: 2}
	go func() { done <- run(t.Context(), "tcp:127.0.0.1:"+port, b, defaultStableAfter, in, &out) }()
	waitCount(t, &out, "; reconnecting in 80ms\n", 2)
	endInput(t, stdin, done)
	var delays, attempts []string
	for _, l := range strings.Split(out.String(), "\n") {
		if _, d, ok := strings.Cut(l, "; reconnecting in "); ok && strings.HasPrefix(l, "connection lost: ") {
			delays = append(delays, d)
		}
		if a, ok := strings.CutPrefix(l, "connecting (attempt "); ok {
			attempts = append(attempts, strings.TrimSuffix(a, ")"))
		}
	}
	if want := []string{"10ms", "20ms", "40ms", "80ms", "80ms"}; len(delays) < len(want) || !slices.Equal(delays[:len(want)], want) {
		t.Errorf("delays after each hang-up: %q, want %q first; output:\n%s", delays, want, out.String())
	}
	if want := []string{"1", "2", "3", "4", "5"}; len(attempts) < len(want) || !slices.Equal(attempts[:len(want)], want) {
		t.Errorf("attempts: %q, want %q first; output:\n%s", attempts, want, out.String())
	}
}
