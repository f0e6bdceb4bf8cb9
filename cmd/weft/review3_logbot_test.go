//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReview3PasswordFileEdges: readPasswordFile takes a first line of
// exactly maxPasswordLine bytes whatever its line end (LF, CRLF, none),
// refuses one byte more (without printing it), refuses a file holding only
// a line end, and an unreadable file (not as root).
func TestReview3PasswordFileEdges(t *testing.T) {
	exact := strings.Repeat("p", maxPasswordLine)
	for _, tc := range []struct {
		name, content, want, err string
	}{
		{"exact LF", exact + "\nnext", exact, ""},
		{"exact CRLF", exact + "\r\nnext", exact, ""},
		{"exact EOF", exact, exact, ""},
		{"exact CR EOF", exact + "\r", exact, ""},
		{"over LF", exact + "q\n", "", "over 4096 bytes"},
		{"over CRLF", exact + "q\r\n", "", "over 4096 bytes"},
		{"over EOF", exact + "q", "", "over 4096 bytes"},
		{"LF only", "\n", "", "empty"},
		{"CRLF", "\r\n", "", "empty"},
		{"short CRLF", "pw\r\n", "pw", ""},
	} {
		got, err := readPasswordFile(context.Background(), writePassFile(t, tc.content))
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("%s: readPasswordFile = %d bytes, %v; want %d bytes", tc.name, len(got), err, len(tc.want))
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "ppp") {
			t.Errorf("%s: readPasswordFile error %v, want %q without the content", tc.name, err, tc.err)
		}
	}
	if os.Geteuid() != 0 {
		path := writePassFile(t, saslSecret+"\n")
		if err := os.Chmod(path, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := readPasswordFile(context.Background(), path); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("unreadable file: error %v, want permission denied", err)
		}
	}
}

// TestReview3PasswordFIFOInterrupted: "weft logbot --sasl-password-file
// FIFO" waits in open(2) for a writer that may never come; a SIGINT or
// SIGTERM then (ctx done) ends the run with status 0, as for "--log FIFO"
// (TestLogbotFIFOLogInterrupted).
func TestReview3PasswordFIFOInterrupted(t *testing.T) {
	log := filepath.Join(t.TempDir(), "bot.log")
	fifoInterrupted(t, "pass", func(fifo string) []string {
		return []string{"logbot", "--server", "tcp:127.0.0.1:1", "--channel", "#weft", "--log", log,
			"--sasl-user", "acct", "--sasl-password-file", fifo}
	})
}

// TestReview3PasswordFIFO: a FIFO with a writer (a shell's process
// substitution) still gives its first line.
func TestReview3PasswordFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pass")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	go func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			_, _ = w.Write([]byte(saslSecret + "\nrest\n"))
			w.Close()
		}
	}()
	got, err := readPasswordFile(context.Background(), fifo)
	if err != nil || !bytes.Equal([]byte(got), []byte(saslSecret)) {
		t.Errorf("readPasswordFile(FIFO) = %d bytes, %v", len(got), err)
	}
}
