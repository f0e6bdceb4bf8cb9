package weft_test

import (
	"io"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestStartTLSWhilePaused: StartTLS from a posted function while reading is
// paused (the goroutine engine's reader waits for ResumeReading) still sends
// the output queued before it in clear text and switches, and reading stays
// paused over TLS until ResumeReading.
func TestStartTLSWhilePaused(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tc := range transports[:2] {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := newRecorder(t)
			r.onMade = func(t weft.Transport) { t.PauseReading() }
			conn := weft.NewConn(s, r, nil)
			done := make(chan error, 1)
			go func() { done <- conn.Serve() }()
			tr := waitMade(t, r)
			errc := make(chan error, 1)
			conn.Post(clearThenTLS(tr, cfg, errc, nil))
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			tc := readClearThenTLS(t, c, pool)
			got := make([]byte, len("secret\n"))
			if _, err := io.ReadFull(tc, got); err != nil || string(got) != "secret\n" {
				t.Fatalf("over TLS %q, %v", got, err)
			}
			go tc.Write([]byte("ping"))       // net.Pipe: blocks until read
			time.Sleep(50 * time.Millisecond) // not synchronization: gives a wrong delivery a chance
			if d := r.received(); len(d) != 0 {
				t.Fatalf("delivered while paused: %q", d)
			}
			tr.ResumeReading()
			if got := r.waitReceived("ping"); got != "ping" {
				t.Fatalf("after resume %q", got)
			}
			tc.Close()
			<-done
		})
	}
}

// TestStartTLSThenLoseWhilePaused: StartTLS, then LoseConnection, from a
// posted function while reading is paused: the clear-text output, then the
// TLS output, are sent and the connection closes (Serve returned nothing and
// hung with the output queued: the paused reader saw the close first and
// never switched, and nothing else sends output waiting for a switch).
func TestStartTLSThenLoseWhilePaused(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tc := range transports[:2] {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := newRecorder(t)
			r.onMade = func(t weft.Transport) { t.PauseReading() }
			conn := weft.NewConn(s, r, nil)
			done := make(chan error, 1)
			go func() { done <- conn.Serve() }()
			tr := waitMade(t, r)
			errc := make(chan error, 1)
			conn.Post(clearThenTLS(tr, cfg, errc, tr.LoseConnection))
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			tc := readClearThenTLS(t, c, pool)
			got, err := io.ReadAll(tc)
			if string(got) != "secret\n" {
				t.Fatalf("over TLS %q, %v", got, err)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return")
			}
		})
	}
}
