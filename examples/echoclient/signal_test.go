package main

import (
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

// TestSIGTERMEndsCleanly runs main in a child process (this test binary)
// against a server that never answers, and sends it SIGTERM once its
// message has arrived: the client closes its connection and reports it
// ("Lost connection. Reason: ...", exit status 1), as for an interrupt.
// Before, only os.Interrupt was caught: SIGTERM killed it silently.
func TestSIGTERMEndsCleanly(t *testing.T) {
	if ep := os.Getenv("WEFT_ECHOCLIENT_MAIN"); ep != "" {
		os.Args = []string{"echoclient", "-endpoint", ep, "-message", "hello", "-timeout", "0"}
		main()
		return
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout bytes.Buffer
	cmd := testenv.StartSelf(t, "TestSIGTERMEndsCleanly", nil, &stdout, nil, "WEFT_ECHOCLIENT_MAIN=tcp:"+ln.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, len("hello"))); err != nil {
		t.Fatalf("the message did not arrive: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testenv.WantExit(t, cmd.Wait(), 1, stdout.String())
	if !strings.Contains(stdout.String(), "Lost connection. Reason: ") {
		t.Errorf("output lacks the lost connection:\n%s", stdout.String())
	}
	// The client aborted its connection (as on a timeout): the server
	// reads a reset or the end of stream, no byte.
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("server read %d bytes, %v after the client ended; want the connection closed", n, err)
	}
}
