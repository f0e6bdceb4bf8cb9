package weft_test

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// lowWaterProducer writes chunks while not paused, total bytes in all, and
// records how much was buffered at each ResumeProducing.
type lowWaterProducer struct {
	t       weft.Transport
	chunk   []byte
	left    int
	mu      sync.Mutex
	resumed []int // Buffered() at each ResumeProducing
	paused  bool
}

func (p *lowWaterProducer) ConnectionMade(t weft.Transport) {
	p.t = t
	t.RegisterProducer(p)
	p.fill()
}

// fill writes until the buffer passes the high-water mark (the runtime's
// pause is then on its way) or all is written (serialized with the
// callbacks).
func (p *lowWaterProducer) fill() {
	for p.left > 0 && !p.isPaused() {
		n := min(p.left, len(p.chunk))
		if _, err := p.t.Write(p.chunk[:n]); err != nil {
			return
		}
		p.left -= n
		if p.t.Buffered() > 32<<10 {
			return
		}
	}
	if p.left == 0 {
		p.t.LoseConnection()
	}
}

func (p *lowWaterProducer) isPaused() bool       { p.mu.Lock(); defer p.mu.Unlock(); return p.paused }
func (p *lowWaterProducer) setPaused(v bool)     { p.mu.Lock(); p.paused = v; p.mu.Unlock() }
func (p *lowWaterProducer) DataReceived([]byte)  {}
func (p *lowWaterProducer) ConnectionLost(error) {}
func (p *lowWaterProducer) PauseProducing()      { p.setPaused(true) }
func (p *lowWaterProducer) StopProducing()       {}
func (p *lowWaterProducer) ResumeProducing() {
	p.mu.Lock()
	p.resumed = append(p.resumed, p.t.Buffered())
	p.paused = false
	p.mu.Unlock()
	p.fill()
}

// checkResumes fails unless the producer was resumed, every time with at
// most LowWater (16 KiB) buffered and at least once with more than 0: at
// the low-water mark, not only when the buffer was empty.
func (p *lowWaterProducer) checkResumes(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	above := 0
	for _, b := range p.resumed {
		if b > 16<<10 {
			t.Fatalf("resumed with %d bytes buffered, above LowWater (16 KiB): %v", b, p.resumed)
		}
		if b > 0 {
			above++
		}
	}
	if len(p.resumed) == 0 || above == 0 {
		t.Fatalf("resumed with %v bytes buffered: want some above 0 (at LowWater, not only when empty)", p.resumed)
	}
	t.Logf("%d resumes, %d with bytes buffered", len(p.resumed), above)
}

// TestResumeAtLowWater: a paused Producer is resumed when the buffer has
// drained to LowWater, counting what the flusher still has to write, not
// only once all of it has gone: over net.Pipe (goroutine engine, fake time)
// and a client reading 4 KiB at a time, every resume sees at most LowWater
// (16 KiB) buffered, and some see more than 0, since the flusher writes a
// paused producer's output a piece (16 KiB) at a time. Before, every
// resume came at 0 bytes. Every byte arrives.
func TestResumeAtLowWater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const total = 512 << 10
		s, c := net.Pipe()
		defer c.Close()
		p := &lowWaterProducer{chunk: bytes.Repeat([]byte("w"), 8<<10), left: total}
		done := make(chan error, 1)
		go func() {
			done <- weft.Serve(s, p, &weft.Options{HighWater: 32 << 10, LowWater: 16 << 10})
		}()
		got := 0
		buf := make([]byte, 4<<10)
		for {
			n, err := c.Read(buf)
			got += n
			if err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err := <-done; err != nil || got != total {
			t.Fatalf("Serve = %v after %d bytes, want nil after %d", err, got, total)
		}
		p.checkResumes(t)
	})
}

// TestResumeAtLowWaterSockets: the same over loopback TCP with small
// socket buffers, on both engines: the goroutine engine's flusher writes a
// paused producer's output in pieces, the readiness engine sees each
// partial write; either way some resumes come with bytes still buffered,
// none above LowWater, and every byte arrives.
func TestResumeAtLowWaterSockets(t *testing.T) {
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			const total = 256 << 10
			s, c := tc.pair(t)
			tcp := s
			if e, ok := s.(engineConn); ok {
				tcp = e.TCPConn
			}
			_ = tcp.(*net.TCPConn).SetWriteBuffer(8 << 10)
			_ = c.(*net.TCPConn).SetReadBuffer(8 << 10)
			p := &lowWaterProducer{chunk: bytes.Repeat([]byte("w"), 8<<10), left: total}
			done := serve(s, p, &weft.Options{HighWater: 32 << 10, LowWater: 16 << 10})
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			got := 0
			buf := make([]byte, 4<<10)
			for {
				n, err := c.Read(buf)
				got += n
				if err != nil {
					break
				}
				time.Sleep(100 * time.Microsecond)
			}
			if err := <-done; err != nil || got != total {
				t.Fatalf("Serve = %v after %d bytes, want nil after %d", err, got, total)
			}
			p.checkResumes(t)
		})
	}
}
