package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft/internal/testenv"
)

// TestSIGTERMEndsCleanly runs main in a child process (this test binary),
// and sends it SIGTERM once its first message has arrived: it closes its
// connection (the server reads the end of stream after "Hello") and says
// why on stderr, exit status 1, as for an interrupt. Before, only
// os.Interrupt was caught: SIGTERM killed it silently.
func TestSIGTERMEndsCleanly(t *testing.T) {
	if ep := os.Getenv("WEFT_GREETER_MAIN"); ep != "" {
		os.Args = []string{"greeter", "-endpoint", ep, "-delay", "1h"}
		main()
		return
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stderr bytes.Buffer
	cmd := testenv.StartSelf(t, "TestSIGTERMEndsCleanly", nil, nil, &stderr, "WEFT_GREETER_MAIN=tcp:"+ln.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); line != "MESSAGE Hello\n" {
		t.Fatalf("first message %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testenv.WantExit(t, cmd.Wait(), 1, stderr.String())
	if !strings.HasPrefix(stderr.String(), "greeter: ") {
		t.Errorf("stderr does not say why it ended:\n%s", stderr.String())
	}
	if rest, err := io.ReadAll(r); len(rest) != 0 || err != nil {
		t.Errorf("server read %q, %v after the signal; want the end of stream", rest, err)
	}
}
