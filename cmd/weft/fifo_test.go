//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLogbotFIFOLogInterrupted: "weft logbot --log FIFO" waits in open(2)
// for a reader of the FIFO that may never come; a SIGINT or SIGTERM then
// (ctx done) ends the run with status 0, its normal stop, as "weft serve
// poetry --file FIFO" does (TestServePoetryFIFOInterrupted). Before, the
// open ignored the signal: only a second one, or a reader, ended it.
func TestLogbotFIFOLogInterrupted(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the signal came during start-up
	done := make(chan int, 1)
	var out, errb syncBuffer
	go func() {
		done <- run(ctx, []string{"logbot", "--server", "tcp:127.0.0.1:1", "--channel", "#weft", "--log", fifo}, strings.NewReader(""), &out, &errb)
	}()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d, stderr %q; want 0", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("weft logbot --log FIFO still starting 10s after the signal")
		// Let the open end: a reader comes (and goes) until run returns.
		for {
			if r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
				time.Sleep(time.Millisecond)
				r.Close()
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}
}
