package wire_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
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
				c, s := net.Pipe()
				defer c.Close()
				done := make(chan error, 1)
				opts := &weft.Options{HighWater: 16 << 10, MaxWriteBuffer: 16 << 10}
				go func() { done <- weft.Serve(s, tc.f.BuildProtocol(nil), opts) }()
				line := append(bytes.Repeat([]byte("e"), 1022), "\r\n"...)
				msg := bytes.Repeat(line, 1<<10) // 1 MiB
				wrote := make(chan error, 1)
				go func() {
					_, err := c.Write(msg)
					wrote <- err
				}()
				synctest.Wait()
				got := make([]byte, len(msg))
				n, err := io.ReadFull(c, got)
				if err != nil || !bytes.Equal(got, msg) {
					select {
					case e := <-done:
						err = fmt.Errorf("%v; server: %v", err, e)
					default:
					}
					t.Fatalf("echoed %d of %d bytes: %v", n, len(msg), err)
				}
				if err := <-wrote; err != nil {
					t.Fatalf("client write: %v", err)
				}
				c.Close()
				<-done
			})
		})
	}
}
