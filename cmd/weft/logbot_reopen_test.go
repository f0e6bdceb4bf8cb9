//go:build unix

package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hupGuard takes SIGHUP for the whole test binary, so that a bot without
// the handler fails its test instead of killing the test binary, and so
// that the SIGHUP a test sends itself (hangup) cannot end the binary if it
// is delivered after the test (the Go runtime ends a process on a SIGHUP
// no channel wants). Seen once in a loaded loop, with the guard stopped at
// the end of each test: "signal: hangup" for the whole package.
var hupGuard = make(chan os.Signal, 16)

func init() { signal.Notify(hupGuard, syscall.SIGHUP) }

// startLogbotHUP runs "weft logbot" in this process, as runLogbot does,
// and waits for its "logging ..." line: from then on it takes SIGHUP.
func startLogbotHUP(t *testing.T, args ...string) (stop func() (int, string)) {
	t.Helper()
	stop, out := runLogbotOut(t, args...)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "logging "); {
		if time.Now().After(deadline) {
			_, stderr := stop()
			t.Fatalf("weft logbot did not start; stderr:\n%s", stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return stop
}

// hangup sends SIGHUP to this process.
func hangup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// TestLogbotReopensLogOnSIGHUP: after logrotate renames the log and sends
// SIGHUP, "weft logbot" writes the later lines to a new file at --log
// (created 0600), the earlier ones staying in the renamed file. Before, it
// kept writing to the renamed file (and SIGHUP's default action ended it).
func TestLogbotReopensLogOnSIGHUP(t *testing.T) {
	f := newIRCFake(t)
	log := filepath.Join(t.TempDir(), "bot.log")
	stop := startLogbotHUP(t, "--server", "tcp:"+f.ln.Addr().String(), "--channel", "#weft", "--log", log)
	f.accept()
	f.expect("NICK logbot")
	f.expect("USER logbot 0 * logbot")
	f.send(":s 001 logbot :hi")
	f.expect("JOIN #weft")
	f.send(":logbot!u@h JOIN #weft", ":alice!a@h PRIVMSG #weft :before rotation", "PING sync1")
	f.expect("PONG sync1") // the PRIVMSG is logged before the PING is read

	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	hangup(t)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(log); err == nil {
			break
		}
		if time.Now().After(deadline) {
			code, stderr := stop()
			t.Fatalf("no new log at --log 10s after SIGHUP (exit %d, stderr %q)", code, stderr)
		}
	}
	f.send(":alice!a@h PRIVMSG #weft :after rotation", "PING sync2")
	f.expect("PONG sync2")

	old, err := os.ReadFile(log + ".1")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(old), "<alice> before rotation") || strings.Contains(string(old), "after rotation") {
		t.Errorf("rotated log:\n%s\nwant the line before rotation only", old)
	}
	if !strings.Contains(string(cur), "<alice> after rotation") || strings.Contains(string(cur), "before rotation") {
		t.Errorf("new log:\n%s\nwant the line after rotation only", cur)
	}
	fi, err := os.Stat(log)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&^0o600 != 0 {
		t.Errorf("reopened log created %v, want at most -rw-------", fi.Mode())
	}
	code, stderr := stop()
	f.expect("QUIT :weft logbot stopping")
	if code != 0 || strings.Contains(stderr, "reopen") {
		t.Errorf("exit %d, stderr %q; want 0 and no reopen error", code, stderr)
	}
}

// TestLogbotSIGHUPFIFOLog: with a FIFO as --log, SIGHUP reopens nothing
// (nothing renames a FIFO, and opening it again would wait for a reader):
// the bot keeps logging to the reader it has, and says no error.
func TestLogbotSIGHUPFIFOLog(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// The reader: opened without waiting, kept open for the whole test.
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f := newIRCFake(t)
	stop := startLogbotHUP(t, "--server", "tcp:"+f.ln.Addr().String(), "--channel", "#weft", "--log", fifo)
	f.accept()
	f.expect("NICK logbot")
	f.expect("USER logbot 0 * logbot")
	hangup(t)
	f.send(":s 001 logbot :hi")
	f.expect("JOIN #weft")
	f.send(":logbot!u@h JOIN #weft", ":alice!a@h PRIVMSG #weft :after the hangup", "PING sync")
	f.expect("PONG sync")
	// Opened O_NONBLOCK, r reads through the runtime's poller: the
	// deadline holds (the bot, the writer, opened the FIFO before its
	// "logging" line).
	_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(got.String(), "<alice> after the hangup") {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("reading the FIFO: %v; read %q", err, got.String())
		}
		got.Write(buf[:n])
	}
	code, stderr := stop()
	if code != 0 || strings.Contains(stderr, "reopen") {
		t.Errorf("exit %d, stderr %q; want 0 and no reopen error", code, stderr)
	}
}

// TestLogFileReopenRace: Reopen while goroutines write loses no write and
// splits none: each write lands whole, once, in one of the files.
func TestLogFileReopenRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bot.log")
	f, err := openLog(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	l := &logFile{ctx: context.Background(), path: path, f: f}
	defer l.close()
	const writers, lines, rotations = 4, 200, 50
	done := make(chan struct{})
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range lines {
				if _, err := l.Write([]byte(strings.Repeat(string(rune('a'+w)), 64) + " " + strconv.Itoa(i) + "\n")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for r := range rotations {
		if err := os.Rename(path, path+"."+strconv.Itoa(r)); err != nil {
			t.Fatal(err)
		}
		if err := l.Reopen(); err != nil {
			t.Fatal(err)
		}
	}
	for range writers {
		<-done
	}
	seen := map[string]int{}
	files, _ := filepath.Glob(path + "*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if line != "" {
				seen[line]++
			}
		}
	}
	if len(seen) != writers*lines {
		t.Fatalf("%d distinct lines, want %d", len(seen), writers*lines)
	}
	for line, n := range seen {
		if n != 1 || len(line) < 66 {
			t.Fatalf("line %q seen %d times", line, n)
		}
	}
}
