package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Cleanup replaces goleak's os.Exit: it must exit with the code given,
	// or a leak would not fail the run.
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if buildDir != "" {
			os.RemoveAll(buildDir)
		}
		os.Exit(code)
	}))
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// weftBinary builds the command once per test run.
func weftBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "weft-cmd-test")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "weft")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// proc is a running "weft serve".
type proc struct {
	cmd    *exec.Cmd
	addrs  []string
	stderr *syncBuffer // read while the command runs
	done   chan error
}

var listeningRE = regexp.MustCompile(`^listening on (tcp|tcp4|tcp6|unix) (\S+)$`)

// startServe runs "weft serve args..." and waits for its n "listening on" lines.
func startServe(t *testing.T, n int, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, weftBinary(t), append([]string{"serve"}, args...)...)
	p := &proc{cmd: cmd, stderr: new(syncBuffer), done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for len(p.addrs) < n && sc.Scan() {
		m := listeningRE.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("unexpected output line %q", sc.Text())
		}
		p.addrs = append(p.addrs, m[2])
	}
	waited := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, out); p.done <- cmd.Wait(); close(waited) }()
	if len(p.addrs) < n {
		<-p.done
		t.Fatalf("got %d listening lines, want %d; stderr:\n%s", len(p.addrs), n, p.stderr)
	}
	t.Cleanup(func() {
		select { // not cmd.ProcessState: Wait sets it on another goroutine
		case <-waited:
		default:
			_ = cmd.Process.Kill()
			<-waited
		}
	})
	return p
}

// stop sends sig and checks the exit status is 0.
func (p *proc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if err := <-p.done; err != nil {
		t.Fatalf("weft serve after %v: %v; stderr:\n%s", sig, err, p.stderr)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestServeEchoEndToEnd(t *testing.T) {
	p := startServe(t, 2, "echo", "--listen", "tcp:0:interface=127.0.0.1", `--listen=tcp6:0:interface=\:\:1`)
	if !strings.HasPrefix(p.addrs[1], "[::1]:") {
		t.Errorf("second listener %q", p.addrs[1])
	}
	for _, a := range p.addrs {
		c := dial(t, a)
		msg := "hello, weft\r\n\x00\xff"
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("echo via %s: %q %v", a, got, err)
		}
		c.Close()
	}
	p.stop(t, syscall.SIGTERM)
}

func TestServeOneShotsAndSIGINT(t *testing.T) {
	tests := []struct {
		args []string
		want *regexp.Regexp
	}{
		{[]string{"qotd"}, regexp.MustCompile(`^An apple a day keeps the doctor away\r\n$`)},
		{[]string{"qotd", "--quote", "first", "--quote", "second"}, regexp.MustCompile(`^first\r\n$`)},
		{[]string{"daytime"}, regexp.MustCompile(`^[A-Z][a-z]+day, [A-Z][a-z]+ \d{1,2}, \d{4} \d\d:\d\d:\d\d-UTC\r\n$`)},
		{[]string{"time"}, nil}, // checked below: 4 bytes, close to now
		{[]string{"poetry", "--file", "../../testdata/poems/hope.txt", "--chunk", "64", "--delay", "1ms"},
			regexp.MustCompile(`(?s)^"Hope" is the thing with feathers.*Emily Dickinson.*\n$`)},
	}
	for _, tc := range tests {
		t.Run(tc.args[0], func(t *testing.T) {
			p := startServe(t, 1, append(tc.args, "--listen", "tcp:0:interface=127.0.0.1")...)
			got, err := io.ReadAll(dial(t, p.addrs[0]))
			if tc.want == nil {
				if len(got) != 4 {
					t.Fatalf("time: got %q", got)
				}
				secs := int64(binary.BigEndian.Uint32(got)) - 2208988800
				if d := time.Since(time.Unix(secs, 0)); d < -time.Minute || d > time.Minute {
					t.Errorf("time: %v is %v away from now", time.Unix(secs, 0), d)
				}
			} else if err != nil || !tc.want.Match(got) {
				t.Errorf("got %q (%v), want %v", got, err, tc.want)
			}
			p.stop(t, os.Interrupt)
		})
	}
}

func TestServeFramedEcho(t *testing.T) {
	tests := []struct{ codec, in, out string }{
		{"line", "a\nbc\r\n", "a\r\nbc\r\n"},
		{"netstring", "3:abc,0:,", "3:abc,0:,"},
		{"int8", "\x02hi", "\x02hi"},
		{"int16", "\x00\x02hi", "\x00\x02hi"},
		{"int32", "\x00\x00\x00\x02hi", "\x00\x00\x00\x02hi"},
	}
	for _, tc := range tests {
		t.Run(tc.codec, func(t *testing.T) {
			p := startServe(t, 1, "echo", "--codec", tc.codec, "--listen", "tcp:0:interface=127.0.0.1")
			c := dial(t, p.addrs[0])
			if _, err := c.Write([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(tc.out))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != tc.out {
				t.Fatalf("got %q (%v), want %q", got, err, tc.out)
			}
			c.Close()
			p.stop(t, syscall.SIGTERM)
		})
	}
}

// TestServeEchoLargestFrame: "weft serve echo" echoes a frame as large as
// the codec allows (1 MiB by default), whose encoding is larger than the
// 1 MiB write buffer: a Write into an empty buffer is taken whatever its
// size. Before, the connection was closed as a slow consumer with nothing
// sent. A larger --max-frame works the same way.
func TestServeEchoLargestFrame(t *testing.T) {
	for _, tc := range []struct {
		n    int
		args []string
	}{
		{1 << 20, nil},
		{3 << 20, []string{"--max-frame", "3145728"}},
	} {
		t.Run(strconv.Itoa(tc.n), func(t *testing.T) {
			args := append([]string{"echo", "--codec", "netstring", "--listen", "tcp:0:interface=127.0.0.1"}, tc.args...)
			p := startServe(t, 1, args...)
			c := dial(t, p.addrs[0])
			frame := append(strconv.AppendInt(nil, int64(tc.n), 10), ':')
			frame = append(append(frame, bytes.Repeat([]byte("w"), tc.n)...), ',')
			go c.Write(frame) // the echo starts before the whole frame is sent
			got := make([]byte, len(frame))
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, frame) {
				t.Fatalf("echo of a %d-byte frame: %v", tc.n, err)
			}
			c.Close()
			p.stop(t, syscall.SIGTERM)
		})
	}
}

func TestServeRejectMessage(t *testing.T) {
	p := startServe(t, 1, "echo", "--listen", "tcp:0:interface=127.0.0.1", "--max-conns", "1",
		"--overflow", "reject", "--reject-message", "Too many connections, try later")
	first := dial(t, p.addrs[0])
	if _, err := first.Write([]byte("x")); err != nil { // make sure it is admitted
		t.Fatal(err)
	}
	if _, err := io.ReadFull(first, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(dial(t, p.addrs[0]))
	if string(got) != "Too many connections, try later\r\n" {
		t.Errorf("refused client got %q (%v)", got, err)
	}
	first.Close()
	p.stop(t, syscall.SIGTERM)
}

// TestServeStats: --stats prints a stats line to stderr every period, with
// the server's counts: here one connection that sent 3 bytes, got them back
// and ended cleanly (every other count is 0).
func TestServeStats(t *testing.T) {
	p := startServe(t, 1, "echo", "--listen", "tcp:0:interface=127.0.0.1", "--stats", "20ms")
	c := dial(t, p.addrs[0])
	if _, err := c.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	want := regexp.MustCompile(`(?m)^stats: accepted=1 active=0 queued=0 rejected=\{([a-z_]+:0,?)*\} closed=\{([a-z_]+:0,)*clean:1(,[a-z_]+:0)*\} bytes_in=3 bytes_out=3 frames_in=0 frames_out=0$`)
	for deadline := time.Now().Add(20 * time.Second); !want.MatchString(p.stderr.String()); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no stats line for the ended connection in 20 s; stderr:\n%s", p.stderr)
		}
	}
	p.stop(t, syscall.SIGTERM)
}

// TestServeLogsToItsStderr: the server's log lines go to the stderr run was
// given, like its other output (they went to the process's os.Stderr).
func TestServeLogsToItsStderr(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	outR, outW := io.Pipe()
	errb := new(syncBuffer)
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"serve", "echo", "--listen", "tcp:0:interface=127.0.0.1", "--log-level", "debug"},
			strings.NewReader(""), outW, errb)
		outW.Close()
	}()
	sc := bufio.NewScanner(outR)
	if !sc.Scan() {
		t.Fatalf("no listening line; stderr: %s", errb)
	}
	m := listeningRE.FindStringSubmatch(sc.Text())
	if m == nil {
		t.Fatalf("unexpected output line %q", sc.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	c := dial(t, m[2])
	if _, err := c.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(errb.String(), "server: accepted") {
		select {
		case <-ctx.Done():
			t.Fatalf("no debug log line in run's stderr: %q", errb)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if got := <-code; got != 0 {
		t.Errorf("exit %d; stderr: %s", got, errb)
	}
}
