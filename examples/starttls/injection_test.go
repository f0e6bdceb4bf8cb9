package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestNoCommandInjection: commands pipelined in clear text after STARTTLS
// (the STARTTLS command-injection attack, CVE-2011-0411 in Postfix) are not
// run: they belong to the TLS stream, where they are no handshake, so the
// connection ends without a "221 Bye" or any other clear-text reply after
// "220 Go ahead".
func TestNoCommandInjection(t *testing.T) {
	engines(t, noCommandInjection)
}

func noCommandInjection(t *testing.T, e *weft.Engine) {
	addr, _ := startServer(t, e)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound, not a timing
	rd := bufio.NewReader(c)
	if l, err := rd.ReadString('\n'); l != "220 weft ESMTP ready\r\n" {
		t.Fatalf("greeting %q (%v)", l, err)
	}
	if _, err := c.Write([]byte("STARTTLS\r\nNOOP\r\nQUIT\r\n")); err != nil {
		t.Fatal(err)
	}
	if l, err := rd.ReadString('\n'); l != "220 Go ahead\r\n" {
		t.Fatalf("after STARTTLS: %q (%v)", l, err)
	}
	rest, _ := io.ReadAll(rd) // a TLS alert, then the end (or a reset)
	if s := string(rest); strings.Contains(s, "250") || strings.Contains(s, "221") {
		t.Errorf("the commands pipelined after STARTTLS were answered in clear text: %q", s)
	}
}
