package main

import (
	"bufio"
	"errors"
	"fmt"
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

// freePort returns a loopback port that nothing listens on (until
// listenOn).
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// lineSink listens on port and sends on the returned channel the lines of
// the first connection, once the client closes it.
func lineSink(t *testing.T, port string) <-chan []string {
	ln, err := net.Listen("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	got, done := make(chan []string, 1), make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		var lines []string
		defer func() { got <- lines }()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		sc := bufio.NewScanner(c)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
	}()
	return got
}

// waitDisconnected waits (bounded) until run has failed to connect once,
// and fails the test if run returns first.
func waitDisconnected(t *testing.T, out *syncBuffer, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "connection failed: ") {
		select {
		case err := <-done:
			t.Fatalf("run = %v before a server listened; output:\n%s", err, out)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed connection within 10 s; output:\n%s", out)
		}
	}
}

// TestReconnectingSendsInputReadWhileDisconnected: input read before the
// first connection (`echo hi | reconnecting` with the server not up yet)
// is kept and sent, in order, once a connection is made; at the end of
// input run waits for it to be sent. Before, each such line was dropped
// with "! not connected: line dropped" and run returned at once.
func TestReconnectingSendsInputReadWhileDisconnected(t *testing.T) {
	port := freePort(t)
	var out syncBuffer
	done := make(chan error, 1)
	b := &client.Exponential{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Multiplier: 2}
	go func() {
		done <- run(t.Context(), "tcp:127.0.0.1:"+port, b, defaultStableAfter, strings.NewReader("hi\nthere\n"), &out)
	}()
	waitDisconnected(t, &out, done)
	got := lineSink(t, port)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("run did not return once its input was sent; output:\n%s", out.String())
	}
	if lines := <-got; !slices.Equal(lines, []string{"hi", "there"}) {
		t.Errorf("server got %q, want [\"hi\" \"there\"]; output:\n%s", lines, out.String())
	}
	if s := out.String(); strings.Contains(s, "dropped") {
		t.Errorf("output:\n%s", s)
	}
}

// TestReconnectingBoundsInputWhileDisconnected: while disconnected, input
// lines are kept up to 1 MiB; a line beyond that is dropped with a message
// naming the limit, and the lines kept are sent once connected. (This test
// replaces TestReconnectingDropsLinesWhileDisconnected, which asserted the
// old "! not connected: line dropped" for every such line: input the user
// typed was lost, where weft connect --reconnect keeps it.)
func TestReconnectingBoundsInputWhileDisconnected(t *testing.T) {
	port := freePort(t)
	in, stdin := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	b := &client.Exponential{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Multiplier: 2}
	go func() { done <- run(t.Context(), "tcp:127.0.0.1:"+port, b, defaultStableAfter, in, &out) }()
	waitDisconnected(t, &out, done)
	const lineLen, kept = 1 << 14, (1 << 20) / (1 << 14) // 64 lines of 16 KiB fill 1 MiB
	var input []string
	for i := range kept + 2 {
		input = append(input, fmt.Sprintf("%05d", i)+strings.Repeat("x", lineLen-5))
	}
	go func() {
		for _, line := range input {
			if _, err := stdin.Write([]byte(line + "\n")); err != nil {
				return
			}
		}
	}()
	const msg = "! input waiting for a connection would exceed 1048576 bytes: line dropped\n"
	waitCount(t, &out, msg, 2)
	got := lineSink(t, port)
	endInput(t, stdin, done)
	if lines := <-got; !slices.Equal(lines, input[:kept]) {
		t.Errorf("server got %d lines, want the first %d; output:\n%.2000s", len(lines), kept, out.String())
	}
	if n := strings.Count(out.String(), "dropped"); n != 2 {
		t.Errorf("%d lines dropped, want 2; output:\n%.2000s", n, out.String())
	}
}

// TestReconnectingGivesUpWithUnsentInput: when the client gives up (its
// Backoff returns client.GiveUp), input that waits for a connection can no
// longer be sent: run returns an error saying so instead of waiting for
// ever. Before, the input was dropped and run returned nil.
func TestReconnectingGivesUpWithUnsentInput(t *testing.T) {
	port := freePort(t)
	in, stdin := io.Pipe()
	read := make(chan struct{})
	go func() {
		stdin.Write([]byte("hi\n"))
		stdin.Write([]byte("there\n")) // returns once run has taken "hi"
		close(read)
		stdin.Close()
	}()
	// It gives up at the first failure, once run has taken "hi".
	giveUp := client.BackoffFunc(func(int) time.Duration { <-read; return client.GiveUp })
	var out syncBuffer
	err := run(t.Context(), "tcp:127.0.0.1:"+port, giveUp, defaultStableAfter, in, &out)
	if !errors.Is(err, client.ErrGaveUp) || !strings.Contains(err.Error(), "(lines not sent: ") {
		t.Errorf("run = %v, want client.ErrGaveUp and \"(lines not sent: N)\"; output:\n%s", err, out.String())
	}
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
