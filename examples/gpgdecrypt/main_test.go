package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/process"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gpgHome makes a gpg home directory and stops the gpg-agent that gpg starts
// in it when the test ends.
func gpgHome(t *testing.T) (gpg, home string) {
	t.Helper()
	gpg = testenv.LookPath(t, "gpg", "gpg")
	gpgconf := testenv.LookPath(t, "gpgconf", "gpgconf")
	home = t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command(gpgconf, "--homedir", home, "--kill", "gpg-agent").Run() })
	return gpg, home
}

// encrypt uses gpg itself, without weft, as the oracle.
func encrypt(t *testing.T, gpg, home, passphrase string, plaintext []byte) []byte {
	t.Helper()
	cmd := exec.Command(gpg, "--homedir", home, "--batch", "--pinentry-mode", "loopback", "--no-symkey-cache",
		"--passphrase", passphrase, "--symmetric", "--output", "-")
	cmd.Stdin = bytes.NewReader(plaintext)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg --symmetric: %v: %s", err, stderr.String())
	}
	return out
}

func TestDecrypt(t *testing.T) {
	gpg, home := gpgHome(t)
	cfg := Config{GPG: gpg, HomeDir: home}
	tests := []struct {
		name string
		msg  []byte
	}{
		{"short", []byte("Beware the Jabberwock, my son!\n")},
		{"empty", []byte{}},
		{"binary 2 MiB", bytes.Repeat([]byte{0, 1, 2, 0xff, '\n', 'x'}, 2<<20/6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := encrypt(t, gpg, home, "correct horse", tt.msg)
			res, err := Decrypt(context.Background(), cfg, []byte("correct horse"), ct)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(res.Plaintext, tt.msg) {
				t.Errorf("plaintext: %d bytes, want %d", len(res.Plaintext), len(tt.msg))
			}
			if !res.HasStatus("DECRYPTION_OKAY") || !res.HasStatus("END_DECRYPTION") {
				t.Errorf("status lines %q: want DECRYPTION_OKAY and END_DECRYPTION", res.Status)
			}
		})
	}
}

func TestWrongPassphrase(t *testing.T) {
	gpg, home := gpgHome(t)
	ct := encrypt(t, gpg, home, "correct horse", []byte("top secret\n"))
	res, err := Decrypt(context.Background(), Config{GPG: gpg, HomeDir: home}, []byte("battery staple"), ct)
	if !errors.Is(err, ErrDecryptionFailed) || !errors.Is(err, process.ErrProcessTerminated) {
		t.Fatalf("Decrypt = %v, want ErrDecryptionFailed and a process.ProcessTerminated", err)
	}
	if code, _ := process.ExitStatus(err); code == 0 {
		t.Errorf("exit code 0 for a wrong passphrase")
	}
	if res == nil {
		t.Fatal("no Result: want gpg's status lines")
	}
	if !res.HasStatus("DECRYPTION_FAILED") && !res.HasStatus("BAD_PASSPHRASE") {
		t.Fatalf("status lines %q: want DECRYPTION_FAILED or BAD_PASSPHRASE", res.Status)
	}
	if len(res.Plaintext) != 0 || res.HasStatus("DECRYPTION_OKAY") {
		t.Errorf("wrong passphrase produced plaintext %q / status %q", res.Plaintext, res.Status)
	}
}

func TestDecryptBadInput(t *testing.T) {
	gpg, home := gpgHome(t)
	cfg := Config{GPG: gpg, HomeDir: home}
	res, err := Decrypt(context.Background(), cfg, []byte("pw"), []byte("this is not OpenPGP data\n"))
	if !errors.Is(err, ErrDecryptionFailed) || res == nil || len(res.Status) == 0 {
		t.Errorf("garbage input: %v, result %+v", err, res)
	}
	for _, pass := range []string{"two\nlines", "nul\x00byte"} {
		if _, err := Decrypt(context.Background(), cfg, []byte(pass), nil); !errors.Is(err, ErrBadPassphrase) {
			t.Errorf("passphrase %q: %v, want ErrBadPassphrase", pass, err)
		}
	}
	if _, err := Decrypt(context.Background(), Config{GPG: gpg, MaxOutput: -1}, nil, nil); err == nil || !strings.Contains(err.Error(), "Config.MaxOutput") {
		t.Errorf("negative MaxOutput: %v", err)
	}
	ct := encrypt(t, gpg, home, "pw", bytes.Repeat([]byte("a"), 100000))
	if _, err := Decrypt(context.Background(), Config{GPG: gpg, HomeDir: home, MaxOutput: 1000}, []byte("pw"), ct); !errors.Is(err, ErrOutputTooLarge) {
		t.Errorf("output over MaxOutput: %v, want ErrOutputTooLarge", err)
	}
}

func TestRun(t *testing.T) {
	gpg, home := gpgHome(t)
	dir := t.TempDir()
	passFile := filepath.Join(dir, "pass")
	ctFile := filepath.Join(dir, "msg.gpg")
	if err := os.WriteFile(passFile, []byte("frabjous day\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ct := encrypt(t, gpg, home, "frabjous day", []byte("Callooh! Callay!\n"))
	if err := os.WriteFile(ctFile, ct, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"-gpg", gpg, "-homedir", home, "-passphrase-file", passFile, "-status", ctFile}, nil, &out, &errOut)
	if code != 0 || out.String() != "Callooh! Callay!\n" || !strings.Contains(errOut.String(), "[GNUPG:] DECRYPTION_OKAY") {
		t.Errorf("run(file) = %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	out.Reset()
	code = run([]string{"-gpg", gpg, "-homedir", home, "-passphrase-file", passFile}, bytes.NewReader(ct), &out, &errOut)
	if code != 0 || out.String() != "Callooh! Callay!\n" {
		t.Errorf("run(stdin) = %d, stdout %q", code, out.String())
	}
	if err := os.WriteFile(passFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"-gpg", gpg, "-homedir", home, "-passphrase-file", passFile, ctFile}, nil, &out, &errOut); code != 1 {
		t.Errorf("run(wrong passphrase) = %d, want 1", code)
	}
	if code := run([]string{ctFile}, nil, &out, &errOut); code != 2 {
		t.Errorf("run without -passphrase-file = %d, want 2", code)
	}
}

// TestRunPassphraseFileCRLF: the first line of a passphrase file ending in
// "\r\n" (written on Windows) is the passphrase without the "\r". Before,
// the "\r" was sent to gpg as part of the passphrase and decryption failed.
func TestRunPassphraseFileCRLF(t *testing.T) {
	gpg, home := gpgHome(t)
	dir := t.TempDir()
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte("frabjous day\r\nsecond line\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ct := encrypt(t, gpg, home, "frabjous day", []byte("Callooh! Callay!\n"))
	var out, errOut bytes.Buffer
	code := run([]string{"-gpg", gpg, "-homedir", home, "-passphrase-file", passFile}, bytes.NewReader(ct), &out, &errOut)
	if code != 0 || out.String() != "Callooh! Callay!\n" {
		t.Errorf("run = %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

// TestDecryptStatusOverMaxOutput: status lines count against MaxOutput, as
// its doc says. Before, only an unfinished status line (or one read larger
// than MaxOutput) did: a gpg that printed complete status lines one at a
// time grew Result.Status without bound.
func TestDecryptStatusOverMaxOutput(t *testing.T) {
	sh := testenv.LookPath(t, "sh", "sh")
	fake := filepath.Join(t.TempDir(), "fakegpg")
	// One line at a time, so that no single read passes MaxOutput.
	script := "#!" + sh + "\ni=0\nwhile [ $i -lt 150 ]; do echo '[GNUPG:] PROGRESS endless' >&4 || exit 1; sleep 0.005; i=$((i+1)); done\n"
	if err := os.WriteFile(fake, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := Decrypt(ctx, Config{GPG: fake, MaxOutput: 1000}, []byte("pw"), []byte("x"))
	if !errors.Is(err, ErrOutputTooLarge) {
		t.Errorf("Decrypt = %v, want ErrOutputTooLarge", err)
	}
	if res != nil && len(strings.Join(res.Status, "\n")) > 1000 {
		t.Errorf("%d status lines kept with MaxOutput 1000", len(res.Status))
	}
}
