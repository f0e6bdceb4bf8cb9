package weft_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestWriteBeforeStartOnEngine: output written before Start, more than the
// socket takes at once, reaches the peer whole when Start is given a
// readiness engine (a flusher goroutine was still writing through the
// net.Conn that the engine's handover set to nil: a nil dereference that
// crashed the process). Such a connection stays with the goroutine engine.
func TestWriteBeforeStartOnEngine(t *testing.T) {
	e, err := weft.NewEngine()
	if err != nil {
		t.Skip(err)
	}
	defer e.Close()
	s, c := tcpPair(t)
	r := newRecorder(t)
	conn := weft.NewConn(s, r, &weft.Options{Engine: e, MaxWriteBuffer: 16 << 20, HighWater: 16 << 20})
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	if _, err := conn.Transport().Write(payload); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	conn.Start(func(err error) { ended <- err })
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("payload corrupted")
	}
	c.Close()
	if err := <-ended; err != nil {
		t.Errorf("the connection ended with %v, want a clean close", err)
	}
}
