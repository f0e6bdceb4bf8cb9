package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLogbotNamesJoinedChannel: "weft logbot --channel weft" joins and logs
// "#weft" (a name without a channel prefix gets "#"), and its first line
// on stdout names that channel. Before, it said "logging weft on ...",
// a channel it never joined.
func TestLogbotNamesJoinedChannel(t *testing.T) {
	log := filepath.Join(t.TempDir(), "bot.log")
	for channel, want := range map[string]string{"weft": "#weft", "#weft": "#weft", "&local": "&local"} {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"logbot", "--server", "tcp:127.0.0.1:1", "--channel", channel, "--log", log}, strings.NewReader(""), &out, &errb)
		}()
		waitFor(t, &out, "\n")
		cancel()
		line := "logging " + want + " on tcp:127.0.0.1:1 to " + log + "\n"
		if code := <-done; code != 0 || out.String() != line {
			t.Errorf("--channel %s: exit %d, stdout %q, stderr %q; want 0 and %q", channel, code, out.String(), errb.String(), line)
		}
	}
}

// TestGetPrintsEachPoemWhenReady: "weft get poetry A B" prints A's poem as
// soon as it is complete, while B's is still coming (so that an interrupt
// then keeps it, TestGetInterrupted), and B's after it, never before: the
// poems stay in the order of the endpoints. Before, nothing was printed
// until every download had ended.
func TestGetPrintsEachPoemWhenReady(t *testing.T) {
	first := poetryServer(t, "first poem\n", true)
	second := poetryServer(t, "second ", false) // the rest never comes
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"get", "poetry", "tcp:" + first.addr, "tcp:" + second.addr}, strings.NewReader(""), &stdout, &stderr)
	}()
	<-first.done
	waitFor(t, &stderr, "poem 2 from tcp:"+second.addr+": 7 bytes")
	for deadline := time.Now().Add(10 * time.Second); stdout.String() != "first poem\n"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("stdout %q while the second poem is still coming, want the first poem", stdout.String())
			break
		}
	}
	cancel()
	if code := <-done; code != 130 {
		t.Errorf("exit %d, want 130; stderr:\n%s", code, stderr.String())
	}
}

// TestConnectServerFrameTooLargeHint: a frame from the server over the
// codec's limit ends "weft connect" with status 1 and an error that names
// the flag raising the limit, as a stdin line over it does
// (TestConnectLineTooLong). Before, it said only "frame too large ...
// longer than MaxLength 16384", a field the user cannot set.
func TestConnectServerFrameTooLargeHint(t *testing.T) {
	ln, _ := sink(t, "small\n"+strings.Repeat("y", 20000)+"\nafter\n")
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, []string{"connect", "tcp:" + ln.Addr().String(), "--codec", "line"}, strings.NewReader(""), &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "frame too large") || !strings.Contains(stderr.String(), "--max-frame") {
		t.Errorf("exit %d, stderr %q; want 1, the codec's error and --max-frame", code, stderr.String())
	}
	if stdout.String() != "small\n" {
		t.Errorf("stdout %q, want the frame before the long one", stdout.String())
	}
}

// TestConnectRawBinary: with --codec raw every byte value passes unchanged
// both ways (NUL, "\r", "\n", invalid UTF-8, 0xff), in a stream larger
// than the 64 KiB stdin pieces, as through nc.
func TestConnectRawBinary(t *testing.T) {
	var b strings.Builder
	for i := range 300_000 {
		b.WriteByte(byte(i*7 + i/256))
	}
	blob := b.String()
	ln, got := sink(t, blob)
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, []string{"connect", "tcp:" + ln.Addr().String(), "--codec", "raw", "--wait", "200ms"}, strings.NewReader(blob), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if s := <-got; s != blob {
		t.Errorf("server received %d bytes, not the %d sent unchanged", len(s), len(blob))
	}
	if s := stdout.String(); s != blob {
		t.Errorf("printed %d bytes, not the %d received unchanged", len(s), len(blob))
	}
}

// TestGetDownloadsAtOnce: "weft get poetry A B" connects to both servers at
// once: here A sends its poem only once B has a connection, and B only
// once A has one (a download at a time would wait for ever).
func TestGetDownloadsAtOnce(t *testing.T) {
	var lns [2]net.Listener
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		lns[i] = ln
	}
	var both sync.WaitGroup
	both.Add(2)
	for i, ln := range lns {
		go func() {
			c, err := ln.Accept()
			both.Done()
			if err != nil {
				return
			}
			defer c.Close()
			both.Wait()
			c.Write([]byte("poem " + strconv.Itoa(i+1) + "\n"))
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	code := run(ctx, []string{"get", "poetry", "tcp:" + lns[0].Addr().String(), "tcp:" + lns[1].Addr().String()}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 || stdout.String() != "poem 1\npoem 2\n" {
		t.Errorf("exit %d (130: still waiting after 20 s), stdout %q; want 0 and both poems in order; stderr:\n%s", code, stdout.String(), stderr.String())
	}
}

// TestLogbotLogCannotBeOpened: a --log that cannot be opened ends "weft
// logbot" with status 1 and an error naming the flag and the file, before
// any connection.
func TestLogbotLogCannotBeOpened(t *testing.T) {
	log := filepath.Join(t.TempDir(), "no-such-dir", "bot.log")
	var out, errb syncBuffer
	code := run(context.Background(), []string{"logbot", "--server", "tcp:127.0.0.1:1", "--channel", "#weft", "--log", log}, strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "--log") || !strings.Contains(errb.String(), log) || out.String() != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and an error naming --log and %s", code, out.String(), errb.String(), log)
	}
}

// TestConnectRawSendsWithoutNewline: with --codec raw, bytes from stdin are
// sent as soon as they are read, newline or not, as nc sends them: a
// binary request without "\n" gets its reply while stdin stays open.
// Before, stdin was read up to a "\n" (or 64 KiB, or its end): the request
// waited, and a client waiting for the reply before writing more waited
// for ever.
func TestConnectRawSendsWithoutNewline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // echo
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		_, _ = io.Copy(c, c)
	}()
	in := stepReader{make(chan string, 1)}
	in.ch <- "\x00\x01req" // no newline; stdin stays open
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"connect", "tcp:" + ln.Addr().String(), "--codec", "raw", "--wait", "100ms"}, in, &stdout, &stderr)
	}()
	for deadline := time.Now().Add(10 * time.Second); stdout.String() != "\x00\x01req"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("stdout %q 10 s after the request went to stdin, want its echo %q", stdout.String(), "\x00\x01req")
			break
		}
	}
	close(in.ch) // end of stdin
	if code := <-done; code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, stderr.String())
	}
}
