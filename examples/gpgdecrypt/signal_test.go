//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/weftkit/weft/internal/testenv"
)

// TestSIGTERMKillsChild runs main in a child process (this test binary)
// with a -gpg program that hangs, and sends it SIGTERM: the program is
// killed, not left running, and main reports the failure (exit status 1).
// Before, the signal killed main at once and the hung program ran on,
// orphaned.
func TestSIGTERMKillsChild(t *testing.T) {
	if prog := os.Getenv("WEFT_GPGDECRYPT_MAIN"); prog != "" {
		os.Args = []string{"gpgdecrypt", "-gpg", prog, "-passphrase-file", os.Getenv("WEFT_GPGDECRYPT_PASS")}
		main()
		return
	}
	dir := t.TempDir()
	hang, waitPID := testenv.HangingProgram(t, dir)
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := testenv.StartSelf(t, "TestSIGTERMKillsChild", strings.NewReader("not really OpenPGP\n"), nil, &stderr, "WEFT_GPGDECRYPT_MAIN="+hang, "WEFT_GPGDECRYPT_PASS="+passFile)
	pid := waitPID()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testenv.WantExit(t, cmd.Wait(), 1, stderr.String())
	if !strings.HasPrefix(stderr.String(), "gpgdecrypt: ") {
		t.Errorf("stderr does not say why it ended:\n%s", stderr.String())
	}
	testenv.WaitGone(t, pid, "the -gpg program")
}
