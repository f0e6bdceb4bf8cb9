package wire_test

import (
	"bytes"
	"net"
	"sync"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/protocols/wire"
)

// BenchmarkEcho measures the echo services over loopback TCP, on the
// goroutine engine (weft.Serve) and on the readiness engine where there is
// one: one client keeps 16 messages of 64 bytes in flight; an op is one
// message echoed. The steady state must not allocate.
func BenchmarkEcho(b *testing.B) {
	eng, _ := weft.NewEngine() // nil (and an error) where there is none
	if eng != nil {
		defer eng.Close()
	}
	for _, svc := range []struct {
		name string
		f    weft.Factory
	}{
		{"echo", wire.Echo{}},
		{"framed-raw", wire.FramedEcho{}},
		{"framed-line", wire.FramedEcho{Codec: codec.Line{}}},
	} {
		for _, engine := range []string{"goroutine", "epoll"} {
			b.Run(svc.name+"/"+engine, func(b *testing.B) {
				if engine == "epoll" && eng == nil {
					b.Skip("no readiness engine on this platform")
				}
				benchEcho(b, svc.f, engine == "epoll", eng)
			})
		}
	}
}

func benchEcho(b *testing.B, f weft.Factory, epoll bool, eng *weft.Engine) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s, err := l.Accept()
		if err != nil {
			return
		}
		if epoll {
			wg.Add(1)
			weft.NewConn(s, f.BuildProtocol(nil), &weft.Options{Engine: eng}).Start(func(error) { wg.Done() })
			return
		}
		_ = weft.Serve(s, f.BuildProtocol(nil), nil)
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	const inflight, size = 16, 64
	msg := append(bytes.Repeat([]byte("m"), size-2), "\r\n"...) // a line the Line codec echoes unchanged
	b.ReportAllocs()
	b.SetBytes(size)
	b.ResetTimer()
	var cwg sync.WaitGroup
	cwg.Add(1)
	sem := make(chan struct{}, inflight)
	go func() {
		defer cwg.Done()
		for range b.N {
			sem <- struct{}{}
			if _, err := c.Write(msg); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, size*inflight)
	for got := 0; got < b.N*size; {
		n, err := c.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		for k := (got + n) / size; k > got/size; k-- {
			<-sem
		}
		got += n
	}
	cwg.Wait()
	b.StopTimer()
	c.Close()
	l.Close()
	wg.Wait()
}
