package main

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/weftkit/weft/codec"
)

// TestConnectOwnWaitPartialFrame: the server answers a line with a complete
// frame and the start of another, then sends nothing more and keeps the
// connection open. "weft connect" closes it itself once --wait elapsed; the
// frame it holds incomplete must end the run with an error (exit status 1)
// that says so, with the bytes held and --wait, as when the server closes
// inside a frame (TestConnectServerEndsInsideFrame). Before, the partial
// frame was dropped without a word and the run ended with status 0. With
// --codec raw there are no frames: the bytes are printed and the run ends
// cleanly, as it does after complete frames.
func TestConnectOwnWaitPartialFrame(t *testing.T) {
	for _, tc := range []struct {
		codec, wire, send, out string // wire: "hi\n" from stdin, as sent
		held                   string // "" for no error
	}{
		{"line", "hi\r\n", "ok\r\nabc", "ok\n", "3 bytes"},
		{"netstring", "2:hi,", "2:ok,5:ab", "ok\n", "4 bytes"},
		{"int8", "\x02hi", "\x02ok\x05ab", "ok\n", "3 bytes"},
		{"raw", "hi\n", "ok\r\nabc", "ok\r\nabc", ""},
		{"line", "hi\r\n", "ok\r\n", "ok\n", ""}, // complete: a clean end
	} {
		t.Run(tc.codec, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				conns := pipeServers(t)
				served := make(chan struct{})
				go func() {
					defer close(served)
					srv := <-conns
					defer srv.Close()
					r := bufio.NewReader(srv)
					got := make([]byte, len(tc.wire))
					if _, err := io.ReadFull(r, got); err != nil || string(got) != tc.wire {
						t.Errorf("server received %q (%v), want %q", got, err, tc.wire)
						return
					}
					if _, err := srv.Write([]byte(tc.send)); err != nil {
						return
					}
					io.Copy(io.Discard, r) // until the client closes
				}()
				var stdout, stderr syncBuffer
				err := connect(t.Context(), []string{"tcp:127.0.0.1:1", "--codec", tc.codec, "--wait", "2s"},
					strings.NewReader("hi\n"), &stdout, &stderr)
				<-served
				if got := stdout.String(); got != tc.out {
					t.Errorf("printed %q, want %q", got, tc.out)
				}
				if tc.held == "" {
					if err != nil {
						t.Errorf("connect = %v, want nil", err)
					}
					return
				}
				if !errors.Is(err, codec.ErrTruncated) {
					t.Fatalf("connect = %v, want codec.ErrTruncated", err)
				}
				t.Log(err)
				for _, want := range []string{"incomplete", tc.held, "--wait 2s"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("connect = %q, want it to say %q", err, want)
					}
				}
			})
		})
	}
}
