package process

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

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
