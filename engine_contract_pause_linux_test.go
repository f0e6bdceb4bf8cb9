//go:build linux && !386

package weft_test

import (
	"fmt"
	"testing"
	"time"
)

// TestPauseReadingFromOtherGoroutineEngines: PauseReading called from
// another goroutine while the runtime waits for data stops delivery: bytes
// that arrive afterwards wait for ResumeReading, then come, none lost. The
// real-time version, over loopback TCP on both engines, of
// TestPauseReadingFromOtherGoroutine (fake time over net.Pipe). The
// readiness engine cannot run in a synctest bubble: its poller waits in
// epoll through the netpoller, which is not a durable block, so fake time
// never advances, and the shared test engine's workers, started from a
// goroutine of the bubble, would join it and outlive it. So what must
// happen is given 10 s, and what must not (a delivery while paused) is
// watched for 300 ms after the bytes reached the server's socket (the
// kernel's count), where a broken runtime delivers at once. Three rounds:
// right after ConnectionMade, and twice after a delivery, when the runtime
// is back waiting for data.
func TestPauseReadingFromOtherGoroutineEngines(t *testing.T) {
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue // TestPauseReadingFromOtherGoroutine, in fake time
		}
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			probe := dupSocket(t, s)
			r := newRecorder(t)
			done := serve(s, r, nil)
			tr := waitMade(t, r)
			var want string
			var sent int64
			for round := range 3 {
				if round > 0 {
					// A delivery first: the runtime then waits again.
					msg := fmt.Sprintf("open %d;", round)
					want += msg
					if _, err := c.Write([]byte(msg)); err != nil {
						t.Fatal(err)
					}
					sent += int64(len(msg))
					if got := r.waitReceived(want); got != want {
						t.Fatalf("round %d: got %q, want %q", round, got, want)
					}
					time.Sleep(10 * time.Millisecond) // back to waiting
				}
				tr.PauseReading()
				msg := fmt.Sprintf("while paused %d;", round)
				if _, err := c.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				sent += int64(len(msg))
				deadline := time.Now().Add(10 * time.Second)
				for bytesReceived(t, probe) < sent {
					if time.Now().After(deadline) {
						t.Fatalf("round %d: the bytes did not reach the server's socket", round)
					}
					time.Sleep(time.Millisecond)
				}
				time.Sleep(300 * time.Millisecond)
				if got := string(r.received()); got != want {
					t.Fatalf("round %d: got %q while paused, want %q (nothing more)", round, got, want)
				}
				tr.ResumeReading()
				want += msg
				if got := r.waitReceived(want); got != want {
					t.Fatalf("round %d: after ResumeReading got %q, want %q", round, got, want)
				}
			}
			c.Close()
			if err := r.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			if r.overlaps.Load() != 0 {
				t.Error("callbacks overlapped")
			}
		})
	}
}
