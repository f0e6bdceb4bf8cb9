package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
)

// weft serve under systemd-socket-activate, systemd's own tool for socket
// activation: it listens, and on the first connection execs the command with
// the listening socket as descriptor 3 (LISTEN_FDS, LISTEN_FDNAMES,
// LISTEN_PID), as a .socket unit does.
func TestServeSystemdSocketActivate(t *testing.T) {
	sa := testenv.LookPath(t, "systemd-socket-activate", "systemd")
	tl, err := net.Listen("tcp4", "127.0.0.1:0") // a free port for the tool, which takes no port 0
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr := tl.Addr().String()
	tl.Close()
	sock := filepath.Join(t.TempDir(), "echo.sock")
	tests := []struct {
		name, network, addr, listen, want string
	}{
		{"tcp by name", "tcp", tcpAddr, "systemd:domain=INET:name=echo", "listening on tcp " + tcpAddr},
		{"unix by index", "unix", sock, "systemd:domain=UNIX:index=0", "listening on unix " + sock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, sa, "-l", tt.addr, "--fdname=echo",
				weftBinary(t), "serve", "echo", "--codec", "line", "--listen", tt.listen)
			stderr := new(syncBuffer)
			cmd.Stderr = stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			// The tool listens a moment after it starts; the first
			// connection makes it exec weft, which then accepts it.
			var c net.Conn
			for deadline := time.Now().Add(10 * time.Second); ; {
				if c, err = net.Dial(tt.network, tt.addr); err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("dial %s: %v; stderr:\n%s", tt.addr, err, stderr)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(15 * time.Second))
			if _, err := io.WriteString(c, "activated\n"); err != nil {
				t.Fatal(err)
			}
			if line, err := bufio.NewReader(c).ReadString('\n'); line != "activated\r\n" { // the line codec answers with CRLF, Twisted's delimiter
				t.Fatalf("echo: %q, %v; stderr:\n%s", line, err, stderr)
			}
			sc := bufio.NewScanner(out)
			if !sc.Scan() || sc.Text() != tt.want {
				t.Errorf("first output line %q, want %q", sc.Text(), tt.want)
			}
			// The tool exec'd weft: its PID is weft's, which ends cleanly.
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			go func() { _, _ = io.Copy(io.Discard, out) }()
			if err := cmd.Wait(); err != nil {
				t.Errorf("weft serve after SIGTERM: %v; stderr:\n%s", err, stderr)
			}
		})
	}
}

// weft serve --listen stdio: as an inetd service, under
// systemd-socket-activate --accept --inetd: every connection runs its own
// weft process with the connected socket as standard input and output
// (systemd's Accept=yes with StandardInput=socket). Two clients at once
// each get their own echo, and each process ends with status 0 when its
// client hangs up.
func TestServeStdioInetd(t *testing.T) {
	sa := testenv.LookPath(t, "systemd-socket-activate", "systemd")
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := tl.Addr().String()
	tl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sa, "-l", addr, "--accept", "--inetd",
		weftBinary(t), "serve", "echo", "--codec", "line", "--listen", "stdio:")
	stderr := new(syncBuffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var conns []net.Conn
	for i := range 2 {
		var c net.Conn
		for deadline := time.Now().Add(10 * time.Second); ; {
			if c, err = net.Dial("tcp4", addr); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("dial %s: %v; stderr:\n%s", addr, err, stderr)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := fmt.Fprintf(c, "client %d\n", i); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); line != fmt.Sprintf("client %d\r\n", i) {
			t.Fatalf("client %d read %q, %v; stderr:\n%s", i, line, err, stderr)
		}
		c.(*net.TCPConn).CloseWrite() // the end of input ends that process
		if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
			t.Errorf("client %d after its end: %q, %v; want the server's end of stream", i, rest, err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); strings.Count(stderr.String(), "died with code 0") < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("two weft processes did not end with status 0; stderr:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
