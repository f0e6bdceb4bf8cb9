package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/protocols/wire"
)

// TestEchoManyFramesOneRead: one read that holds many frames, a
// MaxWriteBuffer far below it and a client that does not read. The codec
// stops delivering the read's frames once one is held (PauseReading), so
// the buffer stays within MaxWriteBuffer plus one frame (raw: the read,
// one frame written into an empty buffer), the client is not
// dropped as a slow consumer, and everything comes back once it reads.
func TestEchoManyFramesOneRead(t *testing.T) {
	payload := bytes.Repeat([]byte("x"), 90)
	for _, tc := range []struct {
		name string
		c    codec.Codec
	}{
		{"raw", codec.Raw{}},
		{"line", codec.Line{}},
		{"netstring", codec.Netstring{}},
		{"int8", codec.Int8()},
		{"custom line", customLine{}},
	} {
		for _, max := range []int{1, 64, 100, 250} {
			t.Run(fmt.Sprintf("%s/max %d", tc.name, max), func(t *testing.T) {
				var msg []byte
				for range 400 {
					msg, _ = tc.c.AppendFrame(msg, payload)
				}
				synctest.Test(t, func(t *testing.T) {
					c, s := net.Pipe()
					defer c.Close()
					spy := &bufferSpy{Protocol: wire.FramedEcho{Codec: tc.c}.BuildProtocol(nil)}
					opts := &weft.Options{HighWater: max, MaxWriteBuffer: max, ReadBufferSize: 64 << 10}
					done := make(chan error, 1)
					go func() { done <- weft.Serve(s, spy, opts) }()
					go func() { _, _ = c.Write(msg) }() // one read: the pipe hands it whole
					for range 20 {
						synctest.Wait()
						spy.sample()
						time.Sleep(weft.GateRetry) // the echo's looks; the client reads nothing
					}
					select {
					case err := <-done:
						t.Fatalf("server ended while the client did not read: %v", err)
					default:
					}
					got := make([]byte, len(msg))
					if n, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("echoed %d of %d bytes: %v", n, len(msg), err)
					}
					bound := int64(max + len(payload) + 22)
					if tc.name == "raw" {
						bound = int64(len(msg)) // a raw frame is the whole read, written into an empty buffer
					}
					if spy.max.Load() > bound {
						t.Errorf("%d bytes buffered, want at most %d", spy.max.Load(), bound)
					}
					c.Close()
					<-done
				})
			})
		}
	}
}

// TestEchoShutdownWhileHeld: a graceful close (Conn.Shutdown, as a server's
// Shutdown does) while the echo holds bytes for a client that does not
// read. The close completes once the client reads (no hang, no error), the
// client gets a prefix of what it sent, and what the echo held is dropped,
// as LoseConnection drops bytes not yet read — the documented behaviour.
func TestEchoShutdownWhileHeld(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    weft.Factory
	}{
		{"echo", wire.Echo{}},
		{"framed raw", wire.FramedEcho{}},
		{"framed line", wire.FramedEcho{Codec: codec.Line{}}},
		{"framed custom line", wire.FramedEcho{Codec: customLine{}}},
	} {
		for _, equal := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/MaxWriteBuffer==HighWater %v", tc.name, equal), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					c, s := net.Pipe()
					defer c.Close()
					opts := &weft.Options{HighWater: 4 << 10, MaxWriteBuffer: 8 << 10, ReadBufferSize: 64 << 10}
					if equal {
						opts.MaxWriteBuffer = opts.HighWater
					}
					conn := weft.NewConn(s, tc.f.BuildProtocol(nil), opts)
					done := make(chan error, 1)
					go func() { done <- conn.Serve() }()
					line := append(bytes.Repeat([]byte("s"), 1022), "\r\n"...)
					msg := bytes.Repeat(line, 32) // 32 KiB: 2 reads at most
					go func() { _, _ = c.Write(msg) }()
					synctest.Wait()
					time.Sleep(10 * weft.GateRetry)
					synctest.Wait()
					conn.Shutdown()
					synctest.Wait()
					got, err := io.ReadAll(c)
					if err != nil {
						t.Fatalf("client read: %v", err)
					}
					if !bytes.HasPrefix(msg, got) {
						t.Fatalf("the echo (%d bytes) is not a prefix of what was sent", len(got))
					}
					if len(got) == 0 {
						t.Fatalf("nothing echoed")
					}
					if err := <-done; err != nil {
						t.Fatalf("serve: %v, want a clean graceful close", err)
					}
					t.Logf("echoed %d of %d bytes before the graceful close", len(got), len(msg))
				})
			})
		}
	}
}

// TestEchoFlowControlEnginesRandom: the property of
// TestEchoFlowControlProperty over loopback TCP, on both engines, with
// random Options, random frame sizes and a client that reads in random
// pieces: every byte comes back, and the connection is not dropped. Real
// time, bounded by a deadline; a few runs.
func TestEchoFlowControlEnginesRandom(t *testing.T) {
	eng, _ := weft.NewEngine()
	if eng != nil {
		defer eng.Close()
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	runs := 3
	if testing.Short() {
		runs = 1
	}
	for _, tc := range echoCases {
		for _, engine := range []string{"goroutine", "epoll"} {
			t.Run(tc.name+"/"+engine, func(t *testing.T) {
				if engine == "epoll" && eng == nil {
					t.Skip("no readiness engine on this platform")
				}
				for i := range runs {
					r := rand.New(rand.NewPCG(seed, uint64(i)))
					opts := randomOptions(r)
					if engine == "epoll" {
						opts.Engine = eng
					}
					msg, _ := tc.build(r, 64<<10+r.IntN(512<<10))
					t.Logf("run %d: %d bytes, HighWater %d, LowWater %d, MaxWriteBuffer %d, ReadBufferSize %d",
						i, len(msg), opts.HighWater, opts.LowWater, opts.MaxWriteBuffer, opts.ReadBufferSize)
					echoOverTCPRandom(t, tc.f, opts, msg, r.Uint64())
				}
			})
		}
	}
}

func echoOverTCPRandom(t *testing.T, f weft.Factory, opts *weft.Options, msg []byte, seed uint64) {
	t.Helper()
	wr := rand.New(rand.NewPCG(seed, 1))
	var pieces []int
	for n := 0; n < len(msg); {
		k := min(len(msg)-n, 1+wr.IntN(96<<10))
		pieces = append(pieces, k)
		n += k
	}
	rr := rand.New(rand.NewPCG(seed, 2))
	echoOverTCPPaced(t, f, opts, msg, pieces, func() int { return 1 + rr.IntN(64<<10) })
}

// roomNoPost is a Transport wrapper (middleware, a test double) that
// reports WriteRoom but has no Post: nothing it offers runs work
// serialized with the callbacks.
type roomNoPost struct{ weft.Transport }

func (r roomNoPost) WriteRoom() int { return r.Transport.(weft.WriteRoomer).WriteRoom() }

// wrapNoPost gives p's callbacks a roomNoPost.
type wrapNoPost struct{ weft.Protocol }

func (w wrapNoPost) ConnectionMade(t weft.Transport) { w.Protocol.ConnectionMade(roomNoPost{t}) }

// TestFramedEchoNoPost: over a Transport that can tell its WriteRoom but
// cannot Post, the echoes cannot hold output (nothing would run their
// looks serialized with the callbacks), so each write is whole (the
// documented fallback: a client that lags is dropped as a slow consumer).
// Before the fix FramedEcho held frames anyway, since codec's
// FrameTransport always has a Post (it runs work at once when the
// Transport under it has none): its look then ran on the timer's goroutine,
// concurrently with the callbacks ("framed raw": DATA RACE under -race),
// and the codec's frames buffered while paused were never delivered
// ("framed line": deadlock, all goroutines in the bubble blocked).
func TestFramedEchoNoPost(t *testing.T) {
	for name, f := range map[string]weft.Factory{"framed line": wire.FramedEcho{Codec: codec.Line{}}, "framed raw": wire.FramedEcho{}, "echo": wire.Echo{}} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, s := net.Pipe()
				defer c.Close()
				opts := &weft.Options{HighWater: 1 << 10, MaxWriteBuffer: 1 << 10, ReadBufferSize: 64 << 10}
				done := make(chan error, 1)
				go func() { done <- weft.Serve(s, wrapNoPost{f.BuildProtocol(nil)}, opts) }()
				line := append(bytes.Repeat([]byte("p"), 510), "\r\n"...)
				msg := bytes.Repeat(line, 256) // 128 KiB
				go func() { _, _ = c.Write(msg) }()
				got := make([]byte, 0, len(msg))
				buf := make([]byte, 700)
				for len(got) < len(msg) {
					time.Sleep(weft.GateRetry / 2) // a slow reader: the echo's looks run meanwhile
					n, err := c.Read(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
				}
				if !bytes.HasPrefix(msg, got) {
					t.Fatal("the echo differs from what was sent")
				}
				c.Close()
				err := <-done
				if len(got) < len(msg) && !errors.Is(err, weft.ErrSlowConsumer) {
					t.Fatalf("echoed %d of %d bytes; server: %v, want the whole echo or weft.ErrSlowConsumer", len(got), len(msg), err)
				}
			})
		})
	}
}
