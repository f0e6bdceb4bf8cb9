package wire_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/protocols/wire"
)

// nullTransport takes every Write and counts its bytes; its WriteRoom is a
// constant, as when a runtime's buffer holds some output already. Post runs
// the function at once.
type nullTransport struct{ n int }

func (s *nullTransport) Write(p []byte) (int, error)      { s.n += len(p); return len(p), nil }
func (s *nullTransport) WriteBuffers(b ...[]byte) error   { return nil }
func (s *nullTransport) LoseConnection()                  {}
func (s *nullTransport) Abort()                           {}
func (s *nullTransport) LocalAddr() net.Addr              { return nil }
func (s *nullTransport) RemoteAddr() net.Addr             { return nil }
func (s *nullTransport) PauseReading()                    {}
func (s *nullTransport) ResumeReading()                   {}
func (s *nullTransport) RegisterProducer(p weft.Producer) {}
func (s *nullTransport) UnregisterProducer()              {}
func (s *nullTransport) Buffered() int                    { return 0 }
func (s *nullTransport) Context() context.Context         { return context.Background() }
func (s *nullTransport) StartTLS(*tls.Config) error       { return nil }
func (s *nullTransport) Post(fn func())                   { fn() }
func (s *nullTransport) WriteRoom() int                   { return 1 << 20 }

// BenchmarkFramedEchoLoop measures FramedEcho's per-frame work without a
// socket: an op is a read of 16 frames of 62-byte payloads, decoded, echoed
// (gathered, see codec.NewCoalescingProtocol) and written in one Write to a
// transport that drops it. ns/frame is the codec's and the echo's share of
// the CPU per message of the S1 and S4 benchmarks (docs/benchmarks.md).
func BenchmarkFramedEchoLoop(b *testing.B) {
	for _, c := range []struct {
		name string
		c    codec.Codec
	}{{"line", codec.Line{}}, {"int32", codec.Int32()}} {
		b.Run(c.name, func(b *testing.B) {
			var chunk []byte
			for range 16 {
				chunk, _ = c.c.AppendFrame(chunk, bytes.Repeat([]byte("m"), 62))
			}
			p := wire.FramedEcho{Codec: c.c}.BuildProtocol(nil)
			s := &nullTransport{}
			p.ConnectionMade(s)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p.DataReceived(chunk)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*16), "ns/frame")
			if s.n != b.N*len(chunk) {
				b.Fatalf("wrote %d, want %d", s.n, b.N*len(chunk))
			}
		})
	}
}
