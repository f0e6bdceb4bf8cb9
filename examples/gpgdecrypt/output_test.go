package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftkit/weft/internal/testenv"
)

// failWriter fails every write, as stdout on a full disk (/dev/full) or a
// closed pipe does.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestRunOutputError: when the plaintext cannot be written to stdout, run
// says so and exits with status 1. Before, the write's error was ignored:
// "gpgdecrypt ... > /dev/full" lost the plaintext and exited 0.
func TestRunOutputError(t *testing.T) {
	sh := testenv.LookPath(t, "sh", "sh")
	cat := testenv.LookPath(t, "cat", "coreutils")
	dir := t.TempDir()
	fake := filepath.Join(dir, "fakegpg")
	// A gpg that takes its input and "decrypts" it to a fixed plaintext.
	if err := os.WriteFile(fake, []byte("#!"+sh+"\n"+cat+" >/dev/null\necho 'Callooh! Callay!'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-gpg", fake, "-passphrase-file", passFile}
	var out, errOut bytes.Buffer
	if code := run(args, strings.NewReader("ciphertext"), &out, &errOut); code != 0 || out.String() != "Callooh! Callay!\n" {
		t.Fatalf("run = %d, stdout %q, stderr %q; want the fake's plaintext", code, out.String(), errOut.String())
	}
	errOut.Reset()
	if code := run(args, strings.NewReader("ciphertext"), failWriter{}, &errOut); code != 1 || !strings.Contains(errOut.String(), "no space left on device") {
		t.Errorf("run with a failing stdout = %d, stderr %q; want 1 and the write error", code, errOut.String())
	}
}
