package process

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestGateFeedsStdin: a goroutine writes 4 MiB to a child's stdin through a
// weft.Gate while the child does not read for a while. MaxWriteBuffer
// (256 KiB here) would fail the writes; the Gate holds the goroutine within
// one write of the high-water mark, and the child counts every byte.
func TestGateFeedsStdin(t *testing.T) {
	sh := lookPath(t, "sh")
	const n, chunk, high = 4 << 20, 4096, 32 << 10
	r := newRecorder(t)
	var werr atomic.Value
	var maxBuf atomic.Int64
	done := make(chan struct{})
	r.onMade = func(tr Transport) {
		g := weft.NewGate(tr)
		go func() {
			defer close(done)
			defer tr.Kill() // after a failed write: end the child, fail fast
			b := bytes.Repeat([]byte("x"), chunk)
			for sent := 0; sent < n; sent += chunk {
				if err := g.Wait(context.Background()); err != nil {
					werr.Store(err)
					return
				}
				if _, err := tr.Write(b); err != nil {
					werr.Store(err)
					return
				}
				if b := int64(tr.Buffered()); b > maxBuf.Load() {
					maxBuf.Store(b)
				}
			}
			if err := tr.CloseStdin(); err != nil {
				werr.Store(err)
			}
			<-tr.Context().Done() // wc has answered and ended: Kill does nothing
		}()
	}
	_, err := run(t, context.Background(), exec.Command(sh, "-c", "sleep 0.2; wc -c"), r,
		&Options{HighWater: high, LowWater: 8 << 10, MaxWriteBuffer: 256 << 10})
	<-done
	if err != nil || werr.Load() != nil {
		t.Fatalf("Wait = %v, writer: %v", err, werr.Load())
	}
	if got := strings.TrimSpace(r.out(1)); got != "4194304" {
		t.Errorf("wc -c counted %q bytes, want 4194304", got)
	}
	if m := maxBuf.Load(); m > high+chunk {
		t.Errorf("stdin buffer reached %d, want at most high water + one write = %d", m, high+chunk)
	}
}

// TestGateWriteAllStdin: Gate.WriteAll feeds a child's stdin whose
// MaxWriteBuffer (32 KiB) is below one GatePiece: its pieces are cut to the
// stdin's WriteRoom, where a 64 KiB piece failed every time with
// ErrWriteBufferFull.
func TestGateWriteAllStdin(t *testing.T) {
	sh := lookPath(t, "sh")
	const n, high = 1 << 20, 32 << 10
	r := newRecorder(t)
	var werr atomic.Value
	done := make(chan struct{})
	r.onMade = func(tr Transport) {
		g := weft.NewGate(tr)
		go func() {
			defer close(done)
			defer tr.Kill() // after a failed write: end the child, fail fast
			if err := g.WriteAll(context.Background(), bytes.Repeat([]byte("x"), n)); err != nil {
				werr.Store(err)
				return
			}
			if err := tr.CloseStdin(); err != nil {
				werr.Store(err)
			}
			<-tr.Context().Done()
		}()
	}
	_, err := run(t, context.Background(), exec.Command(sh, "-c", "sleep 0.1; wc -c"), r,
		&Options{HighWater: high, LowWater: 8 << 10, MaxWriteBuffer: high})
	<-done
	if err != nil || werr.Load() != nil {
		t.Fatalf("Wait = %v, writer: %v", err, werr.Load())
	}
	if got := strings.TrimSpace(r.out(1)); got != "1048576" {
		t.Errorf("wc -c counted %q bytes, want 1048576", got)
	}
}

// atomicProducer counts the producer calls it gets, from any goroutine.
type atomicProducer struct{ pauses, resumes atomic.Int32 }

func (p *atomicProducer) PauseProducing()  { p.pauses.Add(1) }
func (p *atomicProducer) ResumeProducing() { p.resumes.Add(1) }
func (p *atomicProducer) StopProducing()   {}

// TestProducerPausedWhenStdinFull: with MaxWriteBuffer equal to HighWater, a
// stdin queue filled to it takes no write (WriteRoom 0) and never passes the
// mark; the registered Producer is paused then (as by the runtime's
// Transport), and resumed once the child has read the queue down to
// LowWater, so it hears when there is room again; also when the queue
// drained before the pause was delivered (as a loaded machine made it: the
// two cancelled out, and the producer heard nothing, until syncProducer
// told both).
func TestProducerPausedWhenStdinFull(t *testing.T) {
	sh := lookPath(t, "sh")
	const high = 32 << 10
	r := newRecorder(t)
	prod := &atomicProducer{}
	var sent atomic.Int64
	var werr atomic.Value
	full := make(chan struct{})
	r.onMade = func(tr Transport) {
		tr.RegisterProducer(prod)
		go func() {
			defer close(full)
			room := tr.(weft.WriteRoomer)
			chunk := bytes.Repeat([]byte("x"), 4096)
			// The pipe takes its capacity (64 KiB here) while the child
			// sleeps; then the queue fills to MaxWriteBuffer.
			for sent.Load() < 4<<20 {
				n := min(room.WriteRoom(), len(chunk))
				if n == 0 {
					return
				}
				if _, err := tr.Write(chunk[:n]); err != nil {
					werr.Store(err)
					return
				}
				sent.Add(int64(n))
			}
			werr.Store(fmt.Errorf("WriteRoom never reached 0 after %d bytes", sent.Load()))
		}()
	}
	p, err := Start(context.Background(), exec.Command(sh, "-c", "sleep 1; wc -c"), r,
		&Options{HighWater: high, LowWater: 8 << 10, MaxWriteBuffer: high})
	if err != nil {
		t.Fatal(err)
	}
	<-full
	if err := werr.Load(); err != nil {
		p.Kill()
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for prod.pauses.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := prod.pauses.Load(); got != 1 {
		p.Kill()
		t.Fatalf("PauseProducing called %d times with stdin's queue full at MaxWriteBuffer == HighWater, want 1", got)
	}
	for prod.resumes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := prod.resumes.Load(); got != 1 {
		p.Kill()
		t.Fatalf("ResumeProducing called %d times after the child read the queue, want 1", got)
	}
	_ = r.tr.CloseStdin()
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if got, want := strings.TrimSpace(r.out(1)), fmt.Sprint(sent.Load()); got != want {
		t.Errorf("wc -c counted %s bytes, want %s", got, want)
	}
}
