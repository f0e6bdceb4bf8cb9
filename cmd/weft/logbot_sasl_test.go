package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// saslSecret is the password of the logbot SASL tests: it must never be
// printed nor logged.
const saslSecret = "hunter2-cmd-secret"

// writePassFile writes content to a new file and returns its path.
func writePassFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sasl.pass")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLogbotSASLUsageErrors: --sasl-user without --sasl-password-file (or
// the reverse), --sasl-required without them, and a password file that is
// missing, a directory or has an empty first line are usage errors (exit
// 2) naming the flag and the file, before any connection, and never
// printing what the file holds.
func TestLogbotSASLUsageErrors(t *testing.T) {
	log := filepath.Join(t.TempDir(), "bot.log")
	base := []string{"logbot", "--server", "tcp:127.0.0.1:1", "--channel", "#weft", "--log", log}
	good := writePassFile(t, saslSecret+"\n")
	missing := filepath.Join(t.TempDir(), "no-such.pass")
	empty := writePassFile(t, "")
	blankFirst := writePassFile(t, "\r\n"+saslSecret+"\n")
	nul := writePassFile(t, saslSecret+"\x00\n")
	dir := t.TempDir()
	long := writePassFile(t, saslSecret+strings.Repeat("x", 5000)+"\n")
	tests := []struct {
		name string
		args []string
		want []string // what stderr must name
	}{
		{"user without file", []string{"--sasl-user", "acct"}, []string{"--sasl-user", "--sasl-password-file"}},
		{"file without user", []string{"--sasl-password-file", good}, []string{"--sasl-password-file", "--sasl-user"}},
		{"required alone", []string{"--sasl-required"}, []string{"--sasl-required"}},
		{"missing file", []string{"--sasl-user", "acct", "--sasl-password-file", missing}, []string{"--sasl-password-file", missing, "no such file"}},
		{"empty file", []string{"--sasl-user", "acct", "--sasl-password-file", empty}, []string{"--sasl-password-file", empty, "empty"}},
		{"empty first line", []string{"--sasl-user", "acct", "--sasl-password-file", blankFirst}, []string{"--sasl-password-file", blankFirst, "empty"}},
		{"directory", []string{"--sasl-user", "acct", "--sasl-password-file", dir}, []string{"--sasl-password-file", dir}},
		{"first line too long", []string{"--sasl-user", "acct", "--sasl-password-file", long}, []string{"--sasl-password-file", long, "over 4096 bytes"}},
		{"endless file", []string{"--sasl-user", "acct", "--sasl-password-file", "/dev/zero"}, []string{"--sasl-password-file", "/dev/zero", "over 4096 bytes"}},
		{"NUL in password", []string{"--sasl-user", "acct", "--sasl-password-file", nul}, []string{"--sasl-password-file", "NUL"}},
	}
	// A cancelled context: a command that got past its checks returns at
	// once (exit 0) instead of connecting.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range tests {
		var out, errb bytes.Buffer
		args := append(append([]string(nil), base...), tc.args...)
		code := run(ctx, args, strings.NewReader(""), &out, &errb)
		if code != 2 {
			t.Errorf("%s: exit %d, stderr %q; want 2", tc.name, code, errb.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%s: stderr %q does not name %q", tc.name, errb.String(), w)
			}
		}
		if strings.Contains(out.String()+errb.String(), saslSecret) {
			t.Errorf("%s: the password was printed: stdout %q, stderr %q", tc.name, out.String(), errb.String())
		}
	}
	// The good file with its user passes the checks (exit 0 on the
	// cancelled context).
	var out, errb bytes.Buffer
	if code := run(ctx, append(base, "--sasl-user", "acct", "--sasl-password-file", good, "--sasl-required"),
		strings.NewReader(""), &out, &errb); code != 0 {
		t.Errorf("good SASL flags: exit %d, stderr %q; want 0", code, errb.String())
	}
}

// saslPlain is the base64 of the SASL PLAIN message for user and pass.
func saslPlain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// TestLogbotSASL: with --sasl-user and --sasl-password-file the bot
// authenticates with the file's first line (its CRLF stripped, the lines
// after it ignored) before CAP END, then registers and joins; the log
// says it logged in, without the password.
func TestLogbotSASL(t *testing.T) {
	f := newIRCFake(t)
	log := filepath.Join(t.TempDir(), "bot.log")
	pass := writePassFile(t, saslSecret+"\r\nsecond line\n")
	stop := runLogbot(t, "--server", "tcp:"+f.ln.Addr().String(), "--channel", "#weft", "--log", log,
		"--sasl-user", "acct", "--sasl-password-file", pass)
	f.accept()
	f.expect("CAP LS 302")
	f.expect("NICK logbot")
	f.expect("USER logbot 0 * logbot")
	f.send(":s CAP * LS :multi-prefix sasl=PLAIN")
	f.expect("CAP REQ sasl")
	f.send(":s CAP * ACK sasl")
	f.expect("AUTHENTICATE PLAIN")
	f.send("AUTHENTICATE +")
	f.expect("AUTHENTICATE " + saslPlain("acct", saslSecret))
	f.send(":s 900 logbot logbot!u@h acct :You are now logged in as acct", ":s 903 logbot :SASL authentication successful")
	f.expect("CAP END")
	f.send(":s 001 logbot :hi")
	f.expect("JOIN #weft")
	f.send(":logbot!u@h JOIN #weft", "PING sync")
	f.expect("PONG sync")
	code, stderr := stop()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || stderr != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if !strings.Contains(string(data), "[SASL: logged in as acct]") || strings.Contains(string(data), saslSecret) {
		t.Errorf("log:\n%s\nwant the SASL login, without the password", data)
	}
}

// TestLogbotSASLRequiredFailure: with --sasl-required a refused
// authentication ends the connection; stderr says why (the server's 904)
// and that the bot reconnects after a wait, and it comes back; neither
// stderr nor the log holds the password.
func TestLogbotSASLRequiredFailure(t *testing.T) {
	f := newIRCFake(t)
	log := filepath.Join(t.TempDir(), "bot.log")
	pass := writePassFile(t, saslSecret+"\n")
	stop := runLogbot(t, "--server", "tcp:"+f.ln.Addr().String(), "--channel", "#weft", "--log", log,
		"--sasl-user", "acct", "--sasl-password-file", pass, "--sasl-required", "--retry", "1ms")
	f.accept()
	f.expect("CAP LS 302")
	f.expect("NICK logbot")
	f.expect("USER logbot 0 * logbot")
	f.send(":s CAP * LS :sasl", ":s CAP * ACK sasl")
	f.expect("CAP REQ sasl")
	f.expect("AUTHENTICATE PLAIN")
	f.send("AUTHENTICATE +")
	f.expect("AUTHENTICATE " + saslPlain("acct", saslSecret))
	f.send(":s 904 logbot :SASL authentication failed")
	if line, err := f.r.ReadString('\n'); err == nil {
		t.Fatalf("bot sent %q after the 904, want the connection closed", line)
	}
	f.accept() // the bot comes back, after its wait
	f.expect("CAP LS 302")
	code, stderr := stop()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := "connection lost (irc: SASL authentication failed: 904 SASL authentication failed); reconnecting in "
	if code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant 0 and a line with %q", code, stderr, want)
	}
	if strings.Contains(stderr, saslSecret) || strings.Contains(string(data), saslSecret) {
		t.Errorf("the password was reported: stderr:\n%s\nlog:\n%s", stderr, data)
	}
	if !strings.Contains(string(data), "[SASL failed (irc: SASL authentication failed: 904 SASL authentication failed); disconnecting]") {
		t.Errorf("log:\n%s\nwant the SASL failure", data)
	}
}
