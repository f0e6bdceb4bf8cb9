package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
)

// peer runs a program no one here wrote, bounded in time.
func peer(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v\nstdout: %s\nstderr: %s", name, args, err, out, stderr.String())
	}
	return string(out)
}

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}

func TestNetcatReadsQOTDAndDaytime(t *testing.T) {
	nc := testenv.LookPath(t, "nc", "netcat-openbsd")
	for _, tc := range []struct {
		proto string
		want  *regexp.Regexp
	}{
		{"qotd", regexp.MustCompile(`^An apple a day keeps the doctor away\r\n$`)},
		{"daytime", regexp.MustCompile(`^\w+, \w+ \d{1,2}, \d{4} \d\d:\d\d:\d\d-UTC\r\n$`)},
	} {
		p := startServe(t, 1, tc.proto, "--listen", "tcp:0:interface=127.0.0.1")
		host, port := hostPort(t, p.addrs[0])
		// -d: do not read stdin; nc exits when the server closes.
		if got := peer(t, "", nc, "-d", "-w", "10", host, port); !tc.want.MatchString(got) {
			t.Errorf("%s via nc: %q", tc.proto, got)
		}
		p.stop(t, syscall.SIGTERM)
	}
}

func TestTwistedEchoFramings(t *testing.T) {
	py := testenv.Twisted(t)
	for _, tc := range []struct {
		framing string
		frames  int // the frames twisted_echo.py sends and checks
	}{{"line", 6}, {"netstring", 5}, {"int32", 5}} {
		t.Run(tc.framing, func(t *testing.T) {
			p := startServe(t, 1, "echo", "--codec", tc.framing, "--listen", "tcp:0:interface=127.0.0.1")
			_, port := hostPort(t, p.addrs[0])
			if out, want := peer(t, "", py, "testdata/twisted_echo.py", port, tc.framing), fmt.Sprintf("OK %d\n", tc.frames); out != want {
				t.Errorf("twisted: %q, want %q", out, want)
			}
			p.stop(t, syscall.SIGTERM)
		})
	}
}

func TestTwistedChatTranscript(t *testing.T) {
	py := testenv.Twisted(t)
	p := startServe(t, 1, "chat", "--listen", "tcp:0:interface=127.0.0.1")
	_, port := hostPort(t, p.addrs[0])
	if out := peer(t, "", py, "testdata/twisted_chat.py", port); out != "OK 33\n" {
		t.Errorf("twisted chat: %q", out)
	}
	p.stop(t, syscall.SIGTERM)
}

func TestGetPoetryEndToEnd(t *testing.T) {
	a := startServe(t, 1, "poetry", "--file", "../../testdata/poems/hope.txt", "--chunk", "100", "--delay", "1ms",
		"--listen", "tcp:0:interface=127.0.0.1")
	b := startServe(t, 1, "poetry", "--listen", "tcp:0:interface=127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, weftBinary(t), "get", "poetry", "tcp:"+a.addrs[0], "tcp:"+b.addrs[0])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("weft get: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(string(out), `"Hope" is the thing`) || !strings.Contains(string(out), "O Rose thou art sick.") {
		t.Errorf("stdout: %q", out)
	}
	if !strings.Contains(stderr.String(), "poem 1 from tcp:"+a.addrs[0]+": done") {
		t.Errorf("stderr: %s", stderr.String())
	}
	// One dead server: exit status 1, the other poem still printed.
	b.stop(t, syscall.SIGTERM)
	cmd = exec.CommandContext(ctx, weftBinary(t), "get", "poetry", "tcp:"+a.addrs[0], "tcp:"+b.addrs[0])
	stderr.Reset()
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.HasPrefix(string(out), `"Hope"`) ||
		strings.Contains(string(out), "O Rose") {
		t.Errorf("with a dead server: %v, %q", err, out)
	}
	if s := stderr.String(); !strings.Contains(s, "poem 2 failed: ") || !strings.Contains(s, "weft: 1 of 2 downloads failed") {
		t.Errorf("with a dead server, stderr: %s", s)
	}
	a.stop(t, syscall.SIGTERM)
}

func TestConnectLineEcho(t *testing.T) {
	p := startServe(t, 1, "echo", "--codec", "netstring", "--listen", "tcp:0:interface=127.0.0.1")
	out := peer(t, "one\ntwo words\n\nlast\n", weftBinary(t), "connect", "tcp:"+p.addrs[0], "--codec", "netstring", "--wait", "2s")
	if out != "one\ntwo words\n\nlast\n" {
		t.Errorf("connect printed %q", out)
	}
	p.stop(t, syscall.SIGTERM)
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		name string // what stderr must name
	}{
		{[]string{}, "usage"},
		{[]string{"frobnicate"}, `"frobnicate"`},
		{[]string{"serve"}, "PROTOCOL"},
		{[]string{"serve", "gopher", "--listen", "tcp:0"}, `"gopher"`},
		{[]string{"serve", "echo"}, "--listen"},
		{[]string{"serve", "echo", "--listen", "tcp:notaport"}, `"tcp:notaport"`},
		{[]string{"serve", "echo", "--listen", "tcp:0", "--codec", "xml"}, "--codec"},
		{[]string{"serve", "echo", "--listen", "tcp:0", "--overflow", "drop"}, "--overflow"},
		{[]string{"serve", "echo", "--listen", "tcp:0", "--max-conns", "-1"}, "-max-conns"},
		{[]string{"serve", "echo", "--listen", "tcp:0", "--max-conns", "x"}, "-max-conns"},
		{[]string{"serve", "qotd", "--listen", "tcp:0", "--codec", "line"}, "--codec"},
		{[]string{"serve", "qotd", "--listen", "tcp:0", "--max-frame", "10"}, "--max-frame"},
		// Given explicitly, even at their defaults, these are mistakes too.
		{[]string{"serve", "qotd", "--listen", "tcp:0", "--codec", "raw"}, "--codec"},
		{[]string{"serve", "chat", "--listen", "tcp:0", "--chunk", "0"}, "--chunk"},
		{[]string{"serve", "echo", "--listen", "tcp:0", "--quote", "hi"}, "--quote"},
		{[]string{"serve", "qotd", "--listen", "tcp:0", "--quote", "hi", "--quote", strings.Repeat("q", 512)}, "--quote 2: 512 bytes"},
		{[]string{"serve", "echo", "--listen", "tcp:0", "--chunk", "5"}, "--chunk"},
		{[]string{"serve", "chat", "--listen", "tcp:0", "--delay", "1s"}, "--delay"},
		{[]string{"serve", "daytime", "--listen", "tcp:0", "--file", "poem.txt"}, "--file"},
		{[]string{"serve", "echo", "--listen", "tcp:0", "--stats", "-1s"}, "--stats"},
		{[]string{"serve", "echo", "--listen", "tcp:0", "--close-timeout", "-1s"}, "--close-timeout"},
		{[]string{"serve", "echo", "--bogus"}, "-bogus"},
		{[]string{"serve", "echo", "--listen", "tcp:0", "--log-level", "loud"}, "--log-level"},
		{[]string{"serve", "poetry", "--listen", "tcp:0", "--file", "/nonexistent/poem"}, "--file"},
		{[]string{"get", "poetry"}, "ENDPOINT"},
		{[]string{"get", "poetry", "gopher:x"}, `"gopher:x"`},
		{[]string{"connect"}, "ENDPOINT"},
		{[]string{"connect", "tcp"}, `"tcp"`},
		{[]string{"connect", "tcp:127.0.0.1:1", "--codec", "morse"}, "--codec"},
		{[]string{"serve", "echo", "--listen", "tcp:0", "--max-frame", "10"}, "--max-frame"}, // raw has no frames
		{[]string{"serve", "echo", "--listen", "tcp:0", "--max-frame", "-1", "--codec", "line"}, "--max-frame"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, strings.NewReader(""), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.name) {
			t.Errorf("weft %q: exit %d, stderr %q; want 2 naming %s", tc.args, code, errb.String(), tc.name)
		}
	}
}

func TestServeShutdownWithIdleClient(t *testing.T) {
	p := startServe(t, 1, "chat", "--listen", "tcp:0:interface=127.0.0.1", "--shutdown-timeout", "3s")
	c := dial(t, p.addrs[0])
	if _, err := io.ReadFull(c, make([]byte, len("What's your name?\r\n"))); err != nil {
		t.Fatal(err)
	}
	p.stop(t, syscall.SIGTERM) // exit status 0 even with a client still connected
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("client after shutdown: %v", err)
	}
}
