package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/protocols/wire"
)

// customLine is codec.Line under a type the codec package does not know:
// its frames go through AppendFrame, and the echo cannot tell its framing's
// size without encoding.
type customLine struct{ codec.Line }

// echoCase is an echo service and a stream it must send back unchanged.
type echoCase struct {
	name  string
	f     weft.Factory
	build func(r *rand.Rand, n int) (msg []byte, maxFrame int)
}

func rawStream(r *rand.Rand, n int) ([]byte, int) {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b, 0
}

// lineStream is lines of up to limit bytes, "\r\n" terminated.
func lineStream(limit int) func(r *rand.Rand, n int) ([]byte, int) {
	return func(r *rand.Rand, n int) ([]byte, int) {
		var b []byte
		big := 0
		for i := 0; len(b) < n; i++ {
			l := r.IntN(limit + 1)
			if r.IntN(8) == 0 {
				l = limit // some lines at the limit
			}
			big = max(big, l+2)
			for j := range l {
				b = append(b, 'a'+byte((i+j)%26))
			}
			b = append(b, '\r', '\n')
		}
		return b, big
	}
}

func netstringStream(r *rand.Rand, n int) ([]byte, int) {
	var b []byte
	big := 0
	for len(b) < n {
		l := r.IntN(48 << 10)
		start := len(b)
		b = strconv.AppendInt(b, int64(l), 10)
		b = append(b, ':')
		for j := range l {
			b = append(b, byte(j))
		}
		b = append(b, ',')
		big = max(big, len(b)-start)
	}
	return b, big
}

func int32Stream(r *rand.Rand, n int) ([]byte, int) {
	var b []byte
	big := 0
	for len(b) < n {
		l := r.IntN(40 << 10)
		b = append(b, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
		for j := range l {
			b = append(b, byte(j*7))
		}
		big = max(big, l+4)
	}
	return b, big
}

var echoCases = []echoCase{
	{"echo", wire.Echo{}, rawStream},
	{"framed raw", wire.FramedEcho{}, rawStream},
	{"framed line", wire.FramedEcho{Codec: codec.Line{}}, lineStream(codec.DefaultMaxLineLength)},
	{"framed delimiter", wire.FramedEcho{Codec: codec.Line{Delimiter: []byte("\r\n")}}, lineStream(codec.DefaultMaxLineLength)},
	{"framed custom line", wire.FramedEcho{Codec: customLine{}}, lineStream(codec.DefaultMaxLineLength)},
	{"framed netstring", wire.FramedEcho{Codec: codec.Netstring{}}, netstringStream},
	{"framed int32", wire.FramedEcho{Codec: codec.Int32()}, int32Stream},
}

// bufferSpy records the most output a connection held.
type bufferSpy struct {
	weft.Protocol
	t   atomic.Pointer[weft.Transport]
	max atomic.Int64
}

func (s *bufferSpy) ConnectionMade(t weft.Transport) {
	s.t.Store(&t)
	s.Protocol.ConnectionMade(t)
}

func (s *bufferSpy) sample() {
	if t := s.t.Load(); t != nil {
		if b := int64((*t).Buffered()); b > s.max.Load() {
			s.max.Store(b)
		}
	}
}

// TestEchoFlowControlProperty: with random valid Options (HighWater,
// LowWater, MaxWriteBuffer, ReadBufferSize) and a client that writes and
// reads in random pieces at a random pace, every echo service sends back
// every byte in order, the connection is not aborted, and the output
// buffered never passes the larger of MaxWriteBuffer and one write (a read,
// or a frame). Before the fix, most draws with MaxWriteBuffer below
// HighWater plus ReadBufferSize ended in weft.ErrSlowConsumer.
func TestEchoFlowControlProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	runs := 12
	if testing.Short() {
		runs = 3
	}
	for _, tc := range echoCases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range runs {
				r := rand.New(rand.NewPCG(seed, uint64(i)))
				opts := randomOptions(r)
				msg, maxFrame := tc.build(r, 64<<10+r.IntN(256<<10))
				name := fmt.Sprintf("run %d (seed %d): %d bytes, HighWater %d, LowWater %d, MaxWriteBuffer %d, ReadBufferSize %d",
					i, seed, len(msg), opts.HighWater, opts.LowWater, opts.MaxWriteBuffer, opts.ReadBufferSize)
				synctest.Test(t, func(t *testing.T) {
					echoRandomClient(t, name, tc.f, opts, msg, maxFrame, r)
				})
			}
		})
	}
}

func randomOptions(r *rand.Rand) *weft.Options {
	o := &weft.Options{HighWater: 1 + r.IntN(64<<10)}
	switch r.IntN(3) {
	case 0:
		o.MaxWriteBuffer = o.HighWater
	case 1:
		o.MaxWriteBuffer = o.HighWater + r.IntN(4<<10)
	default:
		o.MaxWriteBuffer = o.HighWater + r.IntN(256<<10)
	}
	if r.IntN(2) == 0 {
		o.LowWater = r.IntN(o.HighWater + 1)
	}
	o.ReadBufferSize = 256 + r.IntN(128<<10)
	return o
}

func echoRandomClient(t *testing.T, name string, f weft.Factory, opts *weft.Options, msg []byte, maxFrame int, r *rand.Rand) {
	c, s := net.Pipe()
	defer c.Close()
	spy := &bufferSpy{Protocol: f.BuildProtocol(nil)}
	done := make(chan error, 1)
	go func() { done <- weft.Serve(s, spy, opts) }()
	// The writer's randomness is drawn here: r is not safe for two goroutines.
	pieces := []int{}
	for n := 0; n < len(msg); {
		k := min(len(msg)-n, 1+r.IntN(96<<10))
		pieces = append(pieces, k)
		n += k
	}
	wrote := writePieces(c, msg, pieces)
	got := make([]byte, 0, len(msg))
	buf := make([]byte, 96<<10)
	for len(got) < len(msg) {
		if r.IntN(3) == 0 {
			time.Sleep(time.Duration(r.IntN(5000)) * time.Microsecond) // fake time
		}
		if r.IntN(4) == 0 {
			synctest.Wait() // let the server fill what it will
		}
		spy.sample()
		n, err := c.Read(buf[:1+r.IntN(len(buf))])
		got = append(got, buf[:n]...)
		if err != nil {
			select {
			case e := <-done:
				err = fmt.Errorf("%v; server: %v", err, e)
			default:
			}
			t.Fatalf("%s: echoed %d of %d bytes: %v", name, len(got), len(msg), err)
		}
		if !bytes.Equal(got, msg[:len(got)]) {
			t.Fatalf("%s: echo differs within its first %d bytes", name, len(got))
		}
	}
	if err := <-wrote; err != nil {
		t.Fatalf("%s: client write: %v", name, err)
	}
	bound := max(int64(opts.MaxWriteBuffer), int64(opts.ReadBufferSize), int64(maxFrame))
	if m := spy.max.Load(); m > bound {
		t.Errorf("%s: %d bytes buffered, want at most %d", name, m, bound)
	}
	c.Close()
	if err := <-done; err != nil && !isClosedErr(err) {
		t.Errorf("%s: serve after the client hung up: %v, want a clean end", name, err)
	}
}

// TestEchoFlowControlEngines: over loopback TCP, on the goroutine engine and
// on the readiness engine, with MaxWriteBuffer equal to HighWater and far
// below one read, a client that reads in small pieces while it writes gets
// every byte back. Before the fix: weft.ErrSlowConsumer after the first
// reads.
func TestEchoFlowControlEngines(t *testing.T) {
	eng, _ := weft.NewEngine() // nil where there is none
	if eng != nil {
		defer eng.Close()
	}
	for _, tc := range echoCases {
		for _, engine := range []string{"goroutine", "epoll"} {
			t.Run(tc.name+"/"+engine, func(t *testing.T) {
				if engine == "epoll" && eng == nil {
					t.Skip("no readiness engine on this platform")
				}
				opts := &weft.Options{HighWater: 4 << 10, MaxWriteBuffer: 4 << 10, ReadBufferSize: 64 << 10}
				if engine == "epoll" {
					opts.Engine = eng
				}
				msg, _ := tc.build(rand.New(rand.NewPCG(1, 2)), 2<<20)
				echoOverTCP(t, tc.f, opts, msg)
			})
		}
	}
}

func echoOverTCP(t *testing.T, f weft.Factory, opts *weft.Options, msg []byte) {
	echoOverTCPPaced(t, f, opts, msg, []int{len(msg)}, func() int { return 1 << 10 })
}

// echoOverTCPPaced serves one loopback connection with f and opts, writes
// msg to it in pieces of the given sizes while reading reads of readSize()
// bytes at most, and checks that the echo is msg and the server ends
// cleanly once the client hangs up.
func echoOverTCPPaced(t *testing.T, f weft.Factory, opts *weft.Options, msg []byte, pieces []int, readSize func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		if opts.Engine != nil {
			weft.NewConn(s, f.BuildProtocol(nil), opts).Start(func(err error) { done <- err })
			return
		}
		done <- weft.Serve(s, f.BuildProtocol(nil), opts)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wrote := writePieces(c, msg, pieces)
	// A bound, not timing: the echo takes well under a second.
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	got := make([]byte, 0, len(msg))
	buf := make([]byte, 64<<10)
	for len(got) < len(msg) {
		n, err := c.Read(buf[:min(len(buf), readSize())])
		got = append(got, buf[:n]...)
		if err != nil {
			select {
			case e := <-done:
				err = fmt.Errorf("%v; server: %v", err, e)
			default:
			}
			t.Fatalf("echoed %d of %d bytes: %v", len(got), len(msg), err)
		}
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the echo differs from what was sent")
	}
	if err := <-wrote; err != nil {
		t.Fatalf("client write: %v", err)
	}
	c.Close()
	if err := <-done; err != nil && !isClosedErr(err) && !errors.Is(err, net.ErrClosed) {
		t.Errorf("serve after the client hung up: %v, want a clean end", err)
	}
}
