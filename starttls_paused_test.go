package weft_test

import (
	"io"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestStartTLSWhilePaused: StartTLS from a posted function while reading is
// paused (the goroutine engine's reader waits for ResumeReading; the
// readiness engine hands the connection over all the same) still sends
// the output queued before it in clear text and switches, and reading stays
// paused over TLS until ResumeReading.
func TestStartTLSWhilePaused(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			run := postedStartTLS(t, tc.pair, true, false, nil)
			run.readSecret(t)
			wrote := make(chan error, 1)
			go func() { // net.Pipe: blocks until read
				_, err := run.client.Write([]byte("ping"))
				wrote <- err
			}()
			time.Sleep(50 * time.Millisecond) // not synchronization: gives a wrong delivery a chance
			if d := run.r.received(); len(d) != 0 {
				t.Fatalf("delivered while paused: %q", d)
			}
			run.tr.ResumeReading()
			if got := run.r.waitReceived("ping"); got != "ping" {
				t.Fatalf("after resume %q", got)
			}
			// The Write must have returned: a tls.Conn closed during a
			// Write sends no close_notify (the server then rightly
			// reports ErrTLSTruncated), and on net.Pipe the Write may
			// still be under way after the server read its bytes.
			if err := <-wrote; err != nil {
				t.Fatalf("writing ping: %v", err)
			}
			run.client.Close()
			if err := waitServe(t, run.done); err != nil {
				t.Errorf("Serve = %v after the peer's close_notify, want nil", err)
			}
		})
	}
}

// TestStartTLSThenLoseWhilePaused: StartTLS, then LoseConnection, from a
// posted function while reading is paused: the clear-text output, then the
// TLS output, are sent and the connection closes (Serve returned nothing and
// hung with the output queued: the paused reader saw the close first and
// never switched, and nothing else sends output waiting for a switch).
func TestStartTLSThenLoseWhilePaused(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			run := postedStartTLS(t, tc.pair, true, false, weft.Transport.LoseConnection)
			got, err := io.ReadAll(run.client)
			if string(got) != "secret\n" || err != nil {
				t.Fatalf("over TLS %q, %v; want \"secret\\n\", then close_notify", got, err)
			}
			if err := waitServe(t, run.done); err != nil {
				t.Errorf("Serve = %v, want nil (a clean close)", err)
			}
		})
	}
}
