package codec_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// A LineReceiver not made by NewLineReceiver has no handler: served, it
// closes its connection with ErrConfig saying so, instead of a nil-pointer
// panic in ConnectionMade that the runtime turned into ErrProtocolPanic;
// its ConnectionLost alone does not panic either.
func TestZeroLineReceiver(t *testing.T) {
	s, c := net.Pipe()
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- weft.Serve(s, &codec.LineReceiver{MaxLength: 100}, nil) }()
	c.Write([]byte("hello\r\n"))
	select {
	case err := <-done:
		if !errors.Is(err, codec.ErrConfig) || errors.Is(err, weft.ErrProtocolPanic) {
			t.Errorf("Serve = %v, want ErrConfig (no handler), not a panic", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a LineReceiver without a handler kept its connection")
	}
	var r codec.LineReceiver
	r.ConnectionLost(nil) // never made: nothing to tell, no panic
}
