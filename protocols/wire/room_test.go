package wire_test

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/protocols/wire"
)

// roomCounter is a Transport that counts WriteRoom calls: each takes the
// connection's lock.
type roomCounter struct {
	weft.Transport
	n *atomic.Int64
}

func (r roomCounter) WriteRoom() int {
	r.n.Add(1)
	return r.Transport.(weft.WriteRoomer).WriteRoom()
}

func (r roomCounter) Post(fn func()) { r.Transport.(interface{ Post(func()) }).Post(fn) }

// countRoom gives p's callbacks a roomCounter.
type countRoom struct {
	weft.Protocol
	n *atomic.Int64
}

func (c countRoom) ConnectionMade(t weft.Transport) {
	c.Protocol.ConnectionMade(roomCounter{t, c.n})
}

// TestEchoAsksRoomOncePerRead: the echo services keep an account of the
// room they were given, so a read of many frames asks the Transport (and
// takes its lock) a couple of times, not once per frame.
func TestEchoAsksRoomOncePerRead(t *testing.T) {
	const frames = 64
	line := []byte("0123456789abcdef0123456789abcdef\r\n")
	msg := bytes.Repeat(line, frames)
	for _, tc := range []struct {
		name string
		f    weft.Factory
	}{
		{"echo", wire.Echo{}},
		{"framed line", wire.FramedEcho{Codec: codec.Line{}}},
		{"framed netstring", wire.FramedEcho{Codec: codec.Netstring{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in := msg
				if tc.name == "framed netstring" {
					in = nil
					for range frames {
						in, _ = codec.Netstring{}.AppendFrame(in, line)
					}
				}
				var n atomic.Int64
				c, s := net.Pipe()
				defer c.Close()
				done := make(chan error, 1)
				go func() { done <- weft.Serve(s, countRoom{tc.f.BuildProtocol(nil), &n}, nil) }()
				go func() { _, _ = c.Write(in) }()
				got := make([]byte, len(in))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, in) {
					t.Fatalf("echo: %v, got %q", err, got)
				}
				c.Close()
				<-done
				if calls := n.Load(); calls > 8 {
					t.Errorf("WriteRoom called %d times for %d frames, want a few", calls, frames)
				}
			})
		})
	}
}

// TestEchoNoPollingAtFullBuffer: with MaxWriteBuffer equal to HighWater,
// the runtime pauses the echo (its Producer) when the buffer is full, so an
// echo holding bytes for a client that lags waits for the resume at the
// low-water mark: it does not look for room every weft.GateRetry while the
// client reads nothing. Everything is echoed once the client reads.
func TestEchoNoPollingAtFullBuffer(t *testing.T) {
	line := append(bytes.Repeat([]byte("q"), 510), "\r\n"...)
	in := bytes.Repeat(line, 32) // 16 KiB
	for _, tc := range []struct {
		name string
		f    weft.Factory
	}{
		{"echo", wire.Echo{}},
		{"framed line", wire.FramedEcho{Codec: codec.Line{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var n atomic.Int64
				c, s := net.Pipe()
				defer c.Close()
				opts := &weft.Options{HighWater: 4 << 10, LowWater: 1 << 10, MaxWriteBuffer: 4 << 10}
				done := make(chan error, 1)
				go func() { done <- weft.Serve(s, countRoom{tc.f.BuildProtocol(nil), &n}, opts) }()
				go func() { _, _ = c.Write(in) }()
				synctest.Wait()
				before := n.Load()
				time.Sleep(time.Second) // the client lags: 1,000 GateRetry periods
				synctest.Wait()
				if asked := n.Load() - before; asked > 4 {
					t.Errorf("WriteRoom asked %d times in a second while the client read nothing: polling", asked)
				}
				got := make([]byte, len(in))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, in) {
					t.Fatalf("echo: %v", err)
				}
				c.Close()
				<-done
			})
		})
	}
}
