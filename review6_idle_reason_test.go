package weft_test

import (
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// errReview6Own is the reason the Protocol closes with in the review6 tests.
var errReview6Own = errors.New("review6: the protocol's own reason")

// TestReview6IdleCutsReasonedClose: an idle timeout that cuts a graceful
// close made with LoseConnectionWithReason (its output discarded, the
// peer reading none of it) ends the connection with ErrIdleTimeout,
// wrapping the close's reason, as CloseTimeout does (ErrCloseTimeout
// wraps it): the Protocol, and the server's ReasonOf, must see that the
// idle timer acted and the output was lost. It got the close's reason
// alone, as if the close had finished (found by TestPropertyContract,
// tls-tcp and tls-epoll, seed 17, with the IdleTimeout draws).
func TestReview6IdleCutsReasonedClose(t *testing.T) {
	check := func(t *testing.T, err error, elapsed, idle time.Duration) {
		t.Helper()
		if !errors.Is(err, weft.ErrIdleTimeout) || !errors.Is(err, errReview6Own) {
			t.Errorf("ConnectionLost(%v) after an idle timeout cut LoseConnectionWithReason's close, want ErrIdleTimeout wrapping the close's reason", err)
		}
		if elapsed < idle {
			t.Errorf("closed after %v, IdleTimeout %v", elapsed, idle)
		}
	}
	made := func(out int) func(weft.Transport) {
		return func(tr weft.Transport) {
			if _, err := tr.Write(make([]byte, out)); err != nil {
				t.Errorf("Write = %v", err)
			}
			weft.LoseConnectionWithReason(tr, errReview6Own)
		}
	}
	t.Run("pipe", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, c := net.Pipe() // the peer reads nothing
			defer c.Close()
			lost := make(chan error, 1)
			p := &funcProto{made: made(1000), lost: func(err error) { lost <- err }}
			start := time.Now()
			done := serve(s, p, &weft.Options{IdleTimeout: 10 * time.Second})
			err := <-lost
			check(t, err, time.Since(start), 10*time.Second)
			if serr := <-done; !sameErr(serr, err) {
				t.Errorf("Serve = %v, ConnectionLost got %v", serr, err)
			}
		})
	})
	for _, tr := range tcpAndEngine {
		// Real time: the readiness engine cannot run in a bubble. The
		// output (8 MiB) is more than the sockets hold: the close waits.
		t.Run(tr.name, func(t *testing.T) {
			s, c := tr.pair(t)
			defer c.Close()
			lost := make(chan error, 1)
			p := &funcProto{made: made(8 << 20), lost: func(err error) { lost <- err }}
			const idle = 50 * time.Millisecond
			start := time.Now()
			done := serve(s, p, &weft.Options{IdleTimeout: idle})
			select {
			case err := <-lost:
				check(t, err, time.Since(start), idle)
			case <-time.After(10 * time.Second):
				t.Fatal("the connection did not end within 10 s")
			}
			<-done
		})
	}
}
