// Command gpgdecrypt decrypts a symmetrically encrypted OpenPGP message with
// gpg, driven as a child process over four pipes — the classic demonstration
// of extra descriptors in Twisted's spawnProcess, in weft:
//
//	descriptor 0  ciphertext, written by us
//	descriptor 1  plaintext, read by us
//	descriptor 2  gpg's messages, read by us
//	descriptor 3  the passphrase, written by us (--passphrase-fd 3)
//	descriptor 4  machine-readable status lines (--status-fd 4)
//
// and the exit status checked.
//
// Usage:
//
//	gpgdecrypt -passphrase-file FILE [-gpg PATH] [-homedir DIR] [-status] [CIPHERTEXT]
//
// It reads the ciphertext from the file (or stdin), writes the plaintext to
// stdout, and with -status the status lines to stderr. The pieces: Decrypt,
// Config, Result, and decrypter, the ProcessProtocol.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/weftkit/weft/process"
)

// Sentinel errors.
var (
	// ErrDecryptionFailed: gpg exited with a non-zero status (wrong
	// passphrase, damaged or non-OpenPGP input, ...).
	ErrDecryptionFailed = errors.New("gpgdecrypt: decryption failed")
	// ErrBadPassphrase: the passphrase contains a newline or NUL, which gpg's
	// --passphrase-fd cannot carry.
	ErrBadPassphrase = errors.New("gpgdecrypt: passphrase contains a newline or NUL")
	// ErrOutputTooLarge: gpg wrote more than Config.MaxOutput bytes.
	ErrOutputTooLarge = errors.New("gpgdecrypt: plaintext too large")
)

// DefaultMaxOutput bounds the plaintext kept in memory.
const DefaultMaxOutput = 64 << 20

// maxStderr bounds gpg's messages kept for error reports.
const maxStderr = 64 << 10

// Config says which gpg to run and how.
type Config struct {
	// GPG is the gpg program. Empty means "gpg" from PATH.
	GPG string
	// HomeDir is passed as --homedir. Empty means gpg's default (~/.gnupg).
	HomeDir string
	// MaxOutput bounds the plaintext (and the status lines) kept in memory;
	// past it gpg is killed and Decrypt fails with ErrOutputTooLarge. Zero
	// means DefaultMaxOutput.
	MaxOutput int
}

// Result is what one run of gpg produced.
type Result struct {
	// Plaintext is what gpg wrote to stdout.
	Plaintext []byte
	// Status holds the status lines from descriptor 4, e.g.
	// "[GNUPG:] DECRYPTION_OKAY".
	Status []string
	// Stderr is the start of gpg's human-readable messages.
	Stderr string
}

// HasStatus reports whether a status line with the keyword (e.g.
// "DECRYPTION_FAILED") was received.
func (r *Result) HasStatus(keyword string) bool {
	for _, line := range r.Status {
		f := strings.Fields(strings.TrimPrefix(line, "[GNUPG:] "))
		if len(f) > 0 && f[0] == keyword {
			return true
		}
	}
	return false
}

// decrypter is the ProcessProtocol.
type decrypter struct {
	process.Base
	passphrase, ciphertext []byte
	max                    int
	t                      process.Transport
	res                    Result
	stderr                 bytes.Buffer
	partial                []byte // an unfinished status line
	statusSize             int    // bytes received on descriptor 4
	tooLarge               bool
	writeErr               error
}

func (d *decrypter) ConnectionMade(t process.Transport) {
	d.t = t
	err := t.WriteToChild(3, append(d.passphrase, '\n'))
	err = errors.Join(err, t.CloseChildFD(3))
	_, werr := t.Write(d.ciphertext)
	d.writeErr = errors.Join(err, werr, t.CloseStdin())
}

func (d *decrypter) ChildDataReceived(fd int, data []byte) {
	switch fd {
	case 1:
		if len(d.res.Plaintext)+len(data) > d.max {
			d.fail()
			return
		}
		d.res.Plaintext = append(d.res.Plaintext, data...)
	case 2:
		d.stderr.Write(data[:min(len(data), maxStderr-d.stderr.Len())])
	case 4:
		if d.statusSize+len(data) > d.max {
			d.fail()
			return
		}
		d.statusSize += len(data)
		d.partial = append(d.partial, data...)
		for {
			i := bytes.IndexByte(d.partial, '\n')
			if i < 0 {
				break
			}
			d.res.Status = append(d.res.Status, string(d.partial[:i]))
			d.partial = d.partial[i+1:]
		}
	}
}

func (d *decrypter) fail() {
	if !d.tooLarge {
		d.tooLarge = true
		_ = d.t.Kill()
	}
}

func (d *decrypter) ChildConnectionLost(fd int) {
	if fd == 4 && len(d.partial) > 0 {
		d.res.Status = append(d.res.Status, string(d.partial))
		d.partial = nil
	}
}

// Decrypt runs gpg to decrypt ciphertext with passphrase. On failure the
// Result (when not nil) still holds what gpg said: its status lines tell why.
func Decrypt(ctx context.Context, cfg Config, passphrase, ciphertext []byte) (*Result, error) {
	if bytes.ContainsAny(passphrase, "\n\x00") {
		return nil, ErrBadPassphrase
	}
	if cfg.MaxOutput < 0 {
		return nil, fmt.Errorf("gpgdecrypt: Config.MaxOutput %d is negative", cfg.MaxOutput)
	}
	gpg, maxOut := cfg.GPG, cfg.MaxOutput
	if gpg == "" {
		gpg = "gpg"
	}
	if maxOut == 0 {
		maxOut = DefaultMaxOutput
	}
	args := []string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--no-symkey-cache",
		"--passphrase-fd", "3", "--status-fd", "4", "--decrypt"}
	if cfg.HomeDir != "" {
		args = append([]string{"--homedir", cfg.HomeDir}, args...)
	}
	d := &decrypter{passphrase: passphrase, ciphertext: ciphertext, max: maxOut}
	opts := &process.Options{
		ChildFDs:       map[int]process.Direction{0: process.Write, 1: process.Read, 2: process.Read, 3: process.Write, 4: process.Read},
		MaxWriteBuffer: max(process.DefaultMaxWriteBuffer, len(ciphertext)),
	}
	p, err := process.Start(ctx, exec.Command(gpg, args...), d, opts)
	if err != nil {
		return nil, err
	}
	status := p.Wait()
	d.res.Stderr = d.stderr.String()
	switch {
	case d.tooLarge:
		return &d.res, fmt.Errorf("%w: more than %d bytes", ErrOutputTooLarge, maxOut)
	case status != nil:
		return &d.res, fmt.Errorf("%w: gpg %w (%s)", ErrDecryptionFailed, status, strings.TrimSpace(d.res.Stderr))
	case d.writeErr != nil:
		return &d.res, fmt.Errorf("gpgdecrypt: writing to gpg: %w", d.writeErr)
	}
	return &d.res, nil
}

// run is main without the exit: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gpgdecrypt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.StringVar(&cfg.GPG, "gpg", "gpg", "path of the gpg program")
	fs.StringVar(&cfg.HomeDir, "homedir", "", "gpg home directory (default: gpg's own)")
	passFile := fs.String("passphrase-file", "", "file holding the passphrase (first line)")
	showStatus := fs.Bool("status", false, "print gpg's status lines to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *passFile == "" || fs.NArg() > 1 {
		fmt.Fprintln(stderr, "usage: gpgdecrypt -passphrase-file FILE [-gpg PATH] [-homedir DIR] [-status] [CIPHERTEXT]")
		return 2
	}
	pass, err := os.ReadFile(*passFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	pass, _, _ = bytes.Cut(pass, []byte("\n"))
	pass = bytes.TrimSuffix(pass, []byte("\r")) // a "\r\n" line end
	var ct []byte
	if fs.NArg() == 1 {
		ct, err = os.ReadFile(fs.Arg(0))
	} else {
		ct, err = io.ReadAll(io.LimitReader(stdin, 1<<30))
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// An interrupt or SIGTERM while gpg runs kills it (caught only then:
	// reading the input, the signals keep their default effect).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	res, err := Decrypt(ctx, cfg, pass, ct)
	stop()
	if res != nil && *showStatus {
		for _, line := range res.Status {
			fmt.Fprintln(stderr, line)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if _, err := stdout.Write(res.Plaintext); err != nil {
		fmt.Fprintln(stderr, "gpgdecrypt: writing the plaintext:", err)
		return 1
	}
	return 0
}

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
