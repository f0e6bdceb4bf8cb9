package weft_test

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/weftkit/weft"
)

// sizeConn records the length of the buffer each Read is given.
type sizeConn struct {
	net.Conn
	mu    sync.Mutex
	sizes []int
}

func (c *sizeConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(p))
	c.mu.Unlock()
	return c.Conn.Read(p)
}

func (c *sizeConn) reads() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.sizes...)
}

// collector keeps what DataReceived got.
type collector struct {
	mu  sync.Mutex
	got bytes.Buffer
}

func (p *collector) ConnectionMade(weft.Transport) {}
func (p *collector) DataReceived(b []byte)         { p.mu.Lock(); p.got.Write(b); p.mu.Unlock() }
func (p *collector) ConnectionLost(error)          {}

// A connection that is not a socket (TLS, net.Pipe, a wrapper) holds its
// read buffer during its blocking read, so it waits for data with a small
// one (1 KiB), not ReadBufferSize (64 KiB): a read that fills it makes the
// next ones full size, a short one makes them small again. Every byte
// arrives, in order. Before, every read was 64 KiB long: an idle TLS
// connection cost 37.9–38.3 KB of RSS, and 22.0–22.8 KB since (2,000
// connections on `weft serve echo --listen tls:...`, one echo each); a
// 64 MiB TLS echo ran at the same rate (median 406 against 408 MB/s).
func TestIdleReadSmall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		sc := &sizeConn{Conn: a}
		p := &collector{}
		done := make(chan error, 1)
		go func() { done <- weft.Serve(sc, p, nil) }()
		want := append(bytes.Repeat([]byte("s"), 10), bytes.Repeat([]byte("L"), 5000)...)
		b.Write(want[:10]) // net.Pipe: a Write returns once Reads took all of it
		synctest.Wait()
		b.Write(want[10:])
		synctest.Wait()
		b.Close()
		<-done
		if !bytes.Equal(p.got.Bytes(), want) {
			t.Fatalf("delivered %d bytes, not the %d sent in order", p.got.Len(), len(want))
		}
		// 10 bytes into 1 KiB; 1 KiB full; the rest into 64 KiB (short);
		// 1 KiB again for the wait that ends at the close.
		got := sc.reads()
		wantSizes := []int{1 << 10, 1 << 10, 64 << 10, 1 << 10}
		if len(got) < len(wantSizes) {
			t.Fatalf("read sizes %v, want %v", got, wantSizes)
		}
		for i, w := range wantSizes {
			if got[i] != w {
				t.Fatalf("read sizes %v, want %v", got, wantSizes)
			}
		}
	})
}
