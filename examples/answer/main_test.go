package main

import (
	"bufio"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAnswers(t *testing.T) {
	c, s := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- weft.Serve(s, Answerer{Answers: Answers}.BuildProtocol(nil), nil) }()
	defer func() { c.Close(); <-done }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(c)
	for _, tc := range []struct{ q, a string }{
		{"How are you?", "Fine"},
		{"  what is WEFT?  ", "Twisted's protocols, in Go"},
		{"why?", Unknown},
		{"", Unknown},
	} {
		go func() { _, _ = c.Write([]byte(tc.q + "\r\n")) }()
		got, err := rd.ReadString('\n')
		if got != tc.a+"\r\n" {
			t.Errorf("%q: got %q (%v), want %q", tc.q, got, err, tc.a)
		}
	}
}
