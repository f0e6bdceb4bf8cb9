package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestLongLineGets500: a command line over the 998-byte limit gets "500 Line
// too long" before the connection is closed, as an SMTP server answers.
// Before, the connection was closed without a word.
func TestLongLineGets500(t *testing.T) {
	addr, _ := startServer(t, nil)
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
	if _, err := c.Write([]byte("EHLO " + strings.Repeat("x", 2000) + "\r\n")); err != nil {
		t.Fatal(err)
	}
	l, err := rd.ReadString('\n')
	if l != "500 Line too long\r\n" {
		t.Fatalf("after an over-long line: %q (%v), want %q", l, err, "500 Line too long\r\n")
	}
	if rest, err := io.ReadAll(rd); len(rest) > 0 || err != nil {
		t.Errorf("after the 500: %q (%v), want the connection closed", rest, err)
	}
}

// TestLongDomain501: an EHLO argument too long to be echoed in the 250 reply
// gets "501 Domain name too long". Before, the "250-weft greets ..." line was
// over the limit and silently not sent, leaving a broken "250 STARTTLS" reply
// alone.
func TestLongDomain501(t *testing.T) {
	addr, _ := startServer(t, nil)
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
	if _, err := c.Write([]byte("EHLO " + strings.Repeat("x", 990) + "\r\nQUIT\r\n")); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rd)
	if want := "501 Domain name too long\r\n221 Bye\r\n"; string(rest) != want || err != nil {
		t.Errorf("got %q (%v), want %q", rest, err, want)
	}
}
