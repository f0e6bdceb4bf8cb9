package wire_test

import (
	"testing"
	"testing/synctest"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/protocols/wire"
)

// TestEchoFlowControlTightBuffer: the echo services' flow control holds
// with any valid Options, here MaxWriteBuffer equal to HighWater (allowed:
// "must be at least HighWater") and reads (64 KiB) larger than both. Before
// the fix echo wrote each read whole, so a read arriving with output still
// queued took the buffer past MaxWriteBuffer and the client was dropped
// ("echoed 0 of 1048576 bytes: EOF; server: weft: slow consumer"); now a
// write is cut to weft.WriteRoomer's room (a frame is held whole) and the
// rest waits, reading paused, until the client takes its output.
func TestEchoFlowControlTightBuffer(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    weft.Factory
	}{
		{"echo", wire.Echo{}},
		{"framed raw", wire.FramedEcho{}},
		{"framed line", wire.FramedEcho{Codec: codec.Line{}}},
		{"framed custom line", wire.FramedEcho{Codec: customLine{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := &weft.Options{HighWater: 16 << 10, MaxWriteBuffer: 16 << 10}
				echoLateReader(t, tc.f, opts, 1<<10) // 1 MiB
			})
		})
	}
}
