package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/process"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCount(t *testing.T) {
	wc := testenv.LookPath(t, "wc", "coreutils")
	tests := []struct {
		name string
		text string
	}{
		{"verse", Verse},
		{"empty", ""},
		{"no final newline", "one two\nthree"},
		{"spaces", "  a\t\tb  \n\n c\n"},
		{"large", strings.Repeat("The vorpal blade went snicker-snack!\n", 20000)},
		// Past the stdin write buffer (1 MiB): fed in pieces through a Gate.
		{"larger than the write buffer", strings.Repeat("One, two! One, two! And through and through\n", 100000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Count(context.Background(), wc, []byte(tt.text))
			if err != nil {
				t.Fatalf("Count: %v", err)
			}
			want := Counts{strings.Count(tt.text, "\n"), len(strings.Fields(tt.text)), len(tt.text)}
			if got != want {
				t.Errorf("Count = %+v, want %+v", got, want)
			}
		})
	}
}

func TestCountErrors(t *testing.T) {
	// cat is not wc: its output (the text itself) is not three counts.
	_, err := Count(context.Background(), testenv.LookPath(t, "cat", "coreutils"), []byte("a b c d\n"))
	if !errors.Is(err, ErrBadOutput) {
		t.Errorf("Count with cat = %v, want ErrBadOutput", err)
	}
	// false exits with status 1.
	_, err = Count(context.Background(), testenv.LookPath(t, "false", "coreutils"), []byte("x"))
	if code, _ := process.ExitStatus(err); code != 1 || !errors.Is(err, process.ErrProcessTerminated) {
		t.Errorf("Count with false = %v, want exit status 1", err)
	}
	_, err = Count(context.Background(), "/nonexistent/wc", nil)
	if err == nil {
		t.Errorf("Count with a missing program succeeded")
	}
}

func TestParse(t *testing.T) {
	for _, bad := range []string{"", "1 2", "1 2 3 4", "a b c", "1 -2 3"} {
		if _, err := parse(bad); !errors.Is(err, ErrBadOutput) {
			t.Errorf("parse(%q) = %v, want ErrBadOutput", bad, err)
		}
	}
	if c, err := parse("      4      23     120\n"); err != nil || c != (Counts{4, 23, 120}) {
		t.Errorf("parse = %+v, %v", c, err)
	}
}

func TestRun(t *testing.T) {
	wc := testenv.LookPath(t, "wc", "coreutils")
	var out, errOut bytes.Buffer
	if code := run([]string{"-wc", wc}, &out, &errOut); code != 0 {
		t.Fatalf("run = %d, stderr %q", code, errOut.String())
	}
	if want := "lines: 4\nwords: 23\nbytes: 128\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}

	file := filepath.Join(t.TempDir(), "poem.txt")
	if err := os.WriteFile(file, []byte("He took his vorpal sword in hand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"-wc", wc, file}, &out, &errOut); code != 0 || out.String() != "lines: 1\nwords: 7\nbytes: 33\n" {
		t.Errorf("run(file) = %d, output %q, stderr %q", code, out.String(), errOut.String())
	}
	if code := run([]string{"-wc", wc, filepath.Join(t.TempDir(), "missing")}, &out, &errOut); code != 1 {
		t.Errorf("run(missing file) = %d, want 1", code)
	}
	if code := run([]string{"-bogus"}, &out, &errOut); code != 2 {
		t.Errorf("run(-bogus) = %d, want 2", code)
	}
}

func ExampleCount() {
	c, err := Count(context.Background(), "wc", []byte(Verse))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d lines, %d words, %d bytes\n", c.Lines, c.Words, c.Bytes)
	// Output: 4 lines, 23 words, 128 bytes
}

// TestCountEndlessOutput: a program that prints without end (yes, given by
// mistake as -wc) is killed once its output cannot be wc's counts, and Count
// fails with ErrBadOutput. Before, all of its output was kept: memory grew
// until ctx ended, or forever with context.Background (as run used).
func TestCountEndlessOutput(t *testing.T) {
	yes := testenv.LookPath(t, "yes", "coreutils")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := Count(ctx, yes, []byte(Verse)); !errors.Is(err, ErrBadOutput) {
		t.Errorf("Count with yes = %v, want ErrBadOutput", err)
	}
}
