package codec_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// frameEcho sends every frame back.
type frameEcho struct{ t codec.FrameTransport }

func (e *frameEcho) ConnectionMade(t codec.FrameTransport) { e.t = t }
func (e *frameEcho) FrameReceived(f []byte)                { e.t.SendFrame(f) }
func (e *frameEcho) ConnectionLost(error)                  {}

// BenchmarkFramedEcho echoes frames through codec.NewProtocol over loopback
// TCP on both engines, 16 frames in flight, and reports allocations per
// echoed frame (the whole process, client included: the client allocates
// nothing in the loop). The goal is 0 in steady state.
func BenchmarkFramedEcho(b *testing.B) {
	cases := []struct {
		name string
		c    codec.Codec
		size int
	}{
		{"line-64B", &codec.Line{}, 64},
		{"netstring-4KiB", codec.Netstring{}, 4 << 10},
		{"int32-64B", codec.Int32(), 64},
	}
	eng, err := weft.NewEngine()
	if err != nil {
		eng = nil
	}
	defer func() {
		if eng != nil {
			eng.Close()
		}
	}()
	for _, tc := range cases {
		for _, engine := range []string{"goroutine", "epoll"} {
			if engine == "epoll" && eng == nil {
				continue
			}
			b.Run(tc.name+"/"+engine, func(b *testing.B) {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				done := make(chan error, 1)
				go func() {
					s, err := l.Accept()
					if err != nil {
						done <- err
						return
					}
					opts := &weft.Options{}
					if engine == "epoll" {
						opts.Engine = eng
					}
					done <- weft.NewConn(s, codec.NewProtocol(tc.c, &frameEcho{}), opts).Serve()
				}()
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				const inflight = 16
				frame, _ := tc.c.AppendFrame(nil, bytes.Repeat([]byte("p"), tc.size))
				if _, ok := tc.c.(*codec.Line); ok {
					frame = append(bytes.TrimSuffix(frame, []byte("\r\n")), '\n')
				}
				batch := bytes.Repeat(frame, inflight)
				echoed, _ := tc.c.AppendFrame(nil, bytes.Repeat([]byte("p"), tc.size))
				back := make([]byte, len(echoed)*inflight)
				round := func() {
					if _, err := c.Write(batch); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c, back); err != nil {
						b.Fatal(err)
					}
				}
				for range 100 { // warm the pools
					round()
				}
				if !bytes.Equal(back[:len(echoed)], echoed) {
					b.Fatalf("echo %q, want %q", back[:min(len(back), 20)], echoed[:min(len(echoed), 20)])
				}
				measure(b, len(batch), inflight, round)
				c.Close()
				<-done
			})
		}
	}
}
