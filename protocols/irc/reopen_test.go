package irc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// logBotAt makes a log bot logging to path (LogPath), with the fixed clock.
func logBotAt(t *testing.T, path string) *LogBot {
	t.Helper()
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", LogPath: path, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bot.Close() })
	return bot
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLogBotReopen: after logrotate renames the log, Reopen makes the bot
// write to a new file at LogPath (created 0600): the lines before Reopen
// stay in the renamed file, the lines after it go to the new one. Before,
// the bot had no way to let go of the renamed file.
func TestLogBotReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bot.log")
	bot := logBotAt(t, path)
	if err := bot.log.Log("before"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := bot.log.Log("renamed"); err != nil {
		t.Fatal(err)
	}
	if err := bot.Reopen(); err != nil {
		t.Fatalf("Reopen: %v", err)
	}
	if err := bot.log.Log("after"); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, path+".1"), "[12:34:56] before\n[12:34:56] renamed\n"; got != want {
		t.Errorf("rotated file holds %q, want %q", got, want)
	}
	if got, want := readFile(t, path), "[12:34:56] after\n"; got != want {
		t.Errorf("new file holds %q, want %q", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&^0o600 != 0 {
		t.Errorf("reopened log created %v, want at most -rw-------", fi.Mode())
	}
	// Without a rename, Reopen appends to the same file.
	if err := bot.Reopen(); err != nil {
		t.Fatal(err)
	}
	_ = bot.log.Log("again")
	if got, want := readFile(t, path), "[12:34:56] after\n[12:34:56] again\n"; got != want {
		t.Errorf("file holds %q, want %q", got, want)
	}
	// After Close, Reopen opens nothing.
	if err := bot.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := bot.Reopen(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Reopen after Close: %v, want os.ErrClosed", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Reopen after Close created the log: %v", err)
	}
}

// reopenWriter is a Log writer with a Reopen method.
type reopenWriter struct {
	syncBuffer
	reopened int
}

func (w *reopenWriter) Reopen() error { w.reopened++; return nil }

// TestLogBotReopenLogWriter: with LogBotConfig.Log, Reopen calls the
// writer's Reopen method if it has one, and does nothing otherwise.
func TestLogBotReopenLogWriter(t *testing.T) {
	w := &reopenWriter{}
	bot, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", Log: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := bot.Reopen(); err != nil || w.reopened != 1 {
		t.Errorf("Reopen = %v, writer reopened %d times; want nil, 1", err, w.reopened)
	}
	plain, err := NewLogBot(LogBotConfig{Nick: "logbot", Channel: "#weft", Log: &syncBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Reopen(); err != nil {
		t.Errorf("Reopen of a writer without Reopen: %v, want nil", err)
	}
}

// TestLogBotReopenRace: Reopen while other goroutines log loses no line
// and splits none: every line is whole, in one of the files, exactly once.
// Run with -race.
func TestLogBotReopenRace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bot.log")
	bot := logBotAt(t, path)
	const writers, lines, rotations, maxRotations = 4, 200, 20, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				if err := bot.log.Log(fmt.Sprintf("w%d line %d %s", w, i, strings.Repeat("x", 100))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// Rotate while the writers run (at least rotations times, at most
	// maxRotations).
	for r := 0; r < maxRotations; r++ {
		if r >= rotations {
			select {
			case <-done:
				r = maxRotations
				continue
			default:
			}
		}
		if err := os.Rename(path, fmt.Sprintf("%s.%d", path, r)); err != nil {
			t.Fatal(err)
		}
		if err := bot.Reopen(); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	seen := map[string]int{}
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		for _, l := range strings.Split(strings.TrimSuffix(readFile(t, f), "\n"), "\n") {
			if l == "" {
				continue
			}
			seen[l]++
		}
	}
	for w := range writers {
		for i := range lines {
			l := fmt.Sprintf("[12:34:56] w%d line %d %s", w, i, strings.Repeat("x", 100))
			if seen[l] != 1 {
				t.Fatalf("line %q found %d times", l[:30], seen[l])
			}
			delete(seen, l)
		}
	}
	for l := range seen {
		t.Fatalf("stray line %q", l)
	}
}

// TestLogBotReopenDevice: a LogPath that is not a regular file (a device
// such as /dev/null or /dev/stdout, a FIFO) is not rotated by renaming:
// Reopen keeps the file it has.
func TestLogBotReopenDevice(t *testing.T) {
	bot := logBotAt(t, os.DevNull)
	before := bot.file.current()
	if err := bot.Reopen(); err != nil {
		t.Fatalf("Reopen of %s: %v", os.DevNull, err)
	}
	if bot.file.current() != before {
		t.Errorf("Reopen of %s opened it again", os.DevNull)
	}
}
