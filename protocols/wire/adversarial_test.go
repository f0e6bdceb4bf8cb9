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
// Shutdown does) while the echo holds bytes for a client that has not read
// yet. The close completes once the client reads (no hang, no error), the
// client gets a prefix of what it sent, and MaxWriteBuffer is not passed.
//
// The client does not get back every byte the server read: once a close
// began the runtime takes no Write (weft.ErrClosed), and Conn.Shutdown calls
// LoseConnection right after the Protocol's Shutdown hook, in which the echo
// sends only what fits (TestEchoShutdownSendsWhatFits); the rest is dropped
// with the bytes not yet read, as documented on Echo and FramedEcho.
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
					spy := &notifySpy{bufferSpy{Protocol: tc.f.BuildProtocol(nil)}}
					conn := weft.NewConn(s, spy, opts)
					done := make(chan error, 1)
					go func() { done <- conn.Serve() }()
					line := append(bytes.Repeat([]byte("s"), 1022), "\r\n"...)
					msg := bytes.Repeat(line, 32) // 32 KiB
					// Two writes, so that the second is read while the echo
					// of the first waits for the client: it is held.
					read := make(chan int, 1)
					go func() {
						n, _ := c.Write(msg[:3<<10])
						m, _ := c.Write(msg[3<<10:])
						read <- n + m
					}()
					synctest.Wait()
					time.Sleep(10 * weft.GateRetry)
					synctest.Wait()
					spy.sample()
					conn.Shutdown()
					synctest.Wait()
					spy.sample()
					got, err := io.ReadAll(c)
					if err != nil {
						t.Fatalf("client read: %v", err)
					}
					c.Close()
					n := <-read
					if err := <-done; err != nil {
						t.Fatalf("serve: %v, want a clean graceful close", err)
					}
					if len(got) == 0 || !bytes.HasPrefix(msg[:n], got) {
						t.Fatalf("the echo (%d bytes) is not a prefix of the %d bytes read", len(got), n)
					}
					// The first write's echo went into an empty buffer, whole.
					if bound := int64(max(opts.MaxWriteBuffer, 3<<10)); spy.max.Load() > bound {
						t.Errorf("%d bytes buffered, want at most %d", spy.max.Load(), bound)
					}
					t.Logf("echoed %d of the %d bytes read", len(got), n)
				})
			})
		}
	}
}

// TestEchoShutdownSendsWhatFits: a graceful close (the runtime's
// Conn.Shutdown: the Protocol's Shutdown hook, then LoseConnection) while
// the echo holds bytes and the client has taken some of its output, before
// the echo's resume (at the low-water mark) or look (after weft.GateRetry)
// came. Once the close began, the transport takes no Write, so the hook
// sends what is held that fits below MaxWriteBuffer (Raw: what fits; a
// frame: whole, if it fits): the client gets it, and MaxWriteBuffer is not
// passed. (What does not fit is dropped: see TestEchoShutdownWhileHeld.)
// Driven over modelTransport, step by step.
func TestEchoShutdownSendsWhatFits(t *testing.T) {
	line := append(bytes.Repeat([]byte("s"), 1022), "\r\n"...)
	msg := bytes.Repeat(line, 32) // 32 KiB
	const first = 3 << 10
	for _, tc := range []struct {
		name  string
		f     weft.Factory
		frame bool // held whole: one frame (a line) is held
	}{
		{"echo", wire.Echo{}, false},
		{"framed raw", wire.FramedEcho{}, false},
		{"framed line", wire.FramedEcho{Codec: codec.Line{}}, true},
		{"framed custom line", wire.FramedEcho{Codec: customLine{}}, true},
	} {
		for _, equal := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/MaxWriteBuffer==HighWater %v", tc.name, equal), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					m := &modelTransport{High: 4 << 10, Low: 1 << 10, Max: 8 << 10}
					if equal {
						m.Max = m.High // no pause: the echo looks every GateRetry
					}
					p := tc.f.BuildProtocol(nil)
					p.ConnectionMade(m)
					runAll := func() {
						for m.runNext() {
						}
					}
					p.DataReceived(bytes.Clone(msg[:first])) // into an empty buffer
					runAll()
					p.DataReceived(bytes.Clone(msg[first:])) // cut to the room, the rest held
					runAll()
					if !m.paused() {
						t.Fatalf("nothing held: %s", m.state())
					}
					before := m.echoed()
					m.take(first) // above LowWater: no resume; no look yet
					runAll()
					if m.echoed() != before {
						t.Fatalf("sent before the Shutdown: %s", m.state())
					}
					sn, ok := p.(weft.ShutdownNotifier)
					if !ok {
						t.Fatalf("%T is not a weft.ShutdownNotifier", p)
					}
					sn.Shutdown()
					m.LoseConnection()
					want := first + m.Max // Raw: the buffer filled up
					if tc.frame {
						want = before + len(line)
					}
					if got := m.echoed(); got != want {
						t.Errorf("echoed %d bytes, want %d (what is held that fits sent on Shutdown)", got, want)
					}
					// The close proceeds: the client takes everything, looks
					// and resumes come and write nothing more.
					for range 3 {
						m.take(m.Buffered())
						runAll()
						time.Sleep(2 * weft.GateRetry)
						synctest.Wait()
						runAll()
					}
					m.lose(p)
					if got := m.output(); !bytes.HasPrefix(msg, got) || len(got) != want {
						t.Errorf("the echo (%d bytes) is not the %d bytes of the input's start", len(got), want)
					}
					if err := m.failed(); err != nil {
						t.Errorf("aborted: %v", err)
					}
					if bound := max(m.Max, first); m.maxBuf > bound {
						t.Errorf("%d bytes buffered, want at most %d", m.maxBuf, bound)
					}
					if m.lateWrites > 0 {
						t.Errorf("%d Writes after ConnectionLost", m.lateWrites)
					}
				})
			})
		}
	}
}

// notifySpy is a bufferSpy that forwards a graceful shutdown's notice.
type notifySpy struct{ bufferSpy }

func (s *notifySpy) Shutdown() {
	if n, ok := s.Protocol.(weft.ShutdownNotifier); ok {
		n.Shutdown()
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
