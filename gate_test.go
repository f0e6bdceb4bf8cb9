package weft_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// pump is a Protocol whose own goroutine writes n chunks through a Gate,
// numbered so that the peer can check that none is lost or reordered.
type pump struct {
	recorder
	chunk  int
	n      int
	maxBuf atomic.Int64
	err    atomic.Value
	exited chan struct{}
}

func (p *pump) ConnectionMade(t weft.Transport) {
	p.exited = make(chan struct{}) // before waitMade can return
	p.recorder.ConnectionMade(t)
	g := weft.NewGate(t)
	go func() {
		defer close(p.exited)
		buf := make([]byte, p.chunk)
		for i := range p.n {
			if err := g.Wait(context.Background()); err != nil {
				p.err.Store(err)
				return
			}
			fillChunk(buf, i)
			if _, err := t.Write(buf); err != nil {
				p.err.Store(err)
				return
			}
			if b := int64(t.Buffered()); b > p.maxBuf.Load() {
				p.maxBuf.Store(b)
			}
		}
	}()
}

func fillChunk(b []byte, i int) {
	for j := range b {
		b[j] = byte(i + j/7)
	}
}

// TestGateHoldsWriter: a goroutine that writes 4 MiB through a Gate to a
// peer that does not read for a while keeps the buffer within one write of
// the high-water mark (MaxWriteBuffer, 256 KiB here, would close the
// connection as a slow consumer), and every byte arrives in order.
func TestGateHoldsWriter(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			const high, chunk, n = 32 << 10, 1000, 4 << 10
			p := &pump{recorder: *newRecorder(t), chunk: chunk, n: n}
			done := serve(s, p, &weft.Options{HighWater: high, LowWater: 8 << 10, MaxWriteBuffer: 256 << 10})
			waitMade(t, &p.recorder)
			// Not reading: the writer is held near the mark. Wait until it
			// is (the buffer stops growing), without asserting timing.
			deadline := time.Now().Add(5 * time.Second)
			for p.maxBuf.Load() <= high && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // give an overshoot the chance to show
			want := make([]byte, chunk)
			got := make([]byte, chunk)
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for i := range n {
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatalf("chunk %d: %v (writer: %v)", i, err, p.err.Load())
				}
				fillChunk(want, i)
				if !bytes.Equal(got, want) {
					t.Fatalf("chunk %d differs", i)
				}
			}
			<-p.exited
			if err := p.err.Load(); err != nil {
				t.Fatalf("writer: %v", err)
			}
			if m := p.maxBuf.Load(); m > high+chunk {
				t.Errorf("buffer reached %d, want at most high water + one write = %d", m, high+chunk)
			}
			c.Close()
			p.waitLost(t)
			<-done
		})
	}
}

// TestGateEndsWithConnection: a writer held by the Gate is released with
// ErrClosed when the connection is lost.
func TestGateEndsWithConnection(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			p := &pump{recorder: *newRecorder(t), chunk: 4096, n: 1 << 20}
			done := serve(s, p, &weft.Options{HighWater: 16 << 10, MaxWriteBuffer: 1 << 20})
			waitMade(t, &p.recorder)
			// 4 GiB to write, more than any socket takes: the writer
			// passes the high-water mark and the Gate holds it.
			deadline := time.Now().Add(10 * time.Second)
			for p.maxBuf.Load() <= 16<<10 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if p.maxBuf.Load() <= 16<<10 {
				t.Fatal("the writer never passed the high-water mark")
			}
			c.Close()
			p.waitLost(t)
			<-done
			<-p.exited
			if err, _ := p.err.Load().(error); !errors.Is(err, weft.ErrClosed) {
				t.Errorf("held writer got %v, want ErrClosed", err)
			}
		})
	}
}

// TestGateWaitsForQueuedPause: the pause arrives late, as posted work.
// Wait must not return between the Write that crossed the mark and that
// pause, however long the callbacks take to get to it; without the marker
// the writer went on at once. A lost connection (its Context done)
// releases a Wait whose marker will never run.
func TestGateWaitsForQueuedPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, lose := context.WithCancel(context.Background())
		tr := &testenv.LateTransport{High: 100, Ctx: ctx}
		g := weft.NewGate(tr)
		var writes atomic.Int32
		werr := make(chan error, 1)
		go func() {
			for range 10 { // bounded: a Wait that never holds ends the loop
				if err := g.Wait(context.Background()); err != nil {
					werr <- err
					return
				}
				tr.Write(make([]byte, 60))
				writes.Add(1)
			}
			werr <- errors.New("10 writes, never held")
		}()
		// Each Wait needs its marker run: two writes take the buffer to
		// 120 > 100 and queue the pause.
		for range 2 {
			synctest.Wait()
			tr.RunPosted()
		}
		synctest.Wait()
		if w := writes.Load(); w != 2 {
			t.Fatalf("%d writes before the queued pause ran, want 2", w)
		}
		for range 3 { // the pause and the marker run: still held
			tr.RunPosted()
			synctest.Wait()
		}
		if w := writes.Load(); w != 2 {
			t.Fatalf("%d writes while paused", w)
		}
		tr.Drain() // queues ResumeProducing
		tr.RunPosted()
		synctest.Wait()
		// The held Wait returns; the next one waits for its new marker.
		if w := writes.Load(); w != 3 {
			t.Fatalf("%d writes after resume with the next marker not run, want 3", w)
		}
		// A Wait held by a pause ends with its context.
		tr.Write(make([]byte, 200))
		g.PauseProducing()
		wctx, cancel := context.WithCancel(context.Background())
		cerr := make(chan error, 1)
		go func() { cerr <- g.Wait(wctx) }()
		synctest.Wait()
		tr.RunPosted() // both markers run; the pause holds both Waits
		synctest.Wait()
		select {
		case err := <-cerr:
			t.Fatalf("Wait returned %v while paused", err)
		default:
		}
		cancel()
		if err := <-cerr; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait with a cancelled context: %v", err)
		}
		lose() // the writer's Wait: released by the lost connection
		if err := <-werr; !errors.Is(err, weft.ErrClosed) {
			t.Fatalf("Wait after the connection was lost: %v", err)
		}
		g.StopProducing()
		if err := g.Wait(context.Background()); !errors.Is(err, weft.ErrClosed) {
			t.Fatalf("Wait after StopProducing: %v", err)
		}
	})
}

// TestGateConcurrentWaits: B writes past the mark and Waits while A's
// marker, posted before B's write, is still queued. When A's marker runs, B
// must stay held: its own write's pause is queued after that marker. (A
// Wait that counted markers run instead of Waits begun let B go.)
func TestGateConcurrentWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, lose := context.WithCancel(context.Background())
		defer lose()
		tr := &testenv.LateTransport{High: 100, Ctx: ctx}
		g := weft.NewGate(tr)
		aDone, bDone := make(chan error, 1), make(chan error, 1)
		go func() { aDone <- g.Wait(context.Background()) }()
		synctest.Wait() // A's marker is queued
		tr.Write(make([]byte, 200))
		go func() { bDone <- g.Wait(context.Background()) }()
		synctest.Wait() // queue: A's marker, the pause, B's marker
		if !tr.RunNext() {
			t.Fatal("nothing posted")
		}
		synctest.Wait()
		if err := <-aDone; err != nil {
			t.Fatalf("A: %v", err)
		}
		select {
		case err := <-bDone:
			t.Fatalf("B released (%v) before the pause its write queued", err)
		default:
		}
		tr.RunPosted() // the pause, then B's marker: B is held by the pause
		synctest.Wait()
		select {
		case err := <-bDone:
			t.Fatalf("B released (%v) while paused", err)
		default:
		}
		tr.Drain()
		tr.RunPosted()
		if err := <-bDone; err != nil {
			t.Fatalf("B after resume: %v", err)
		}
	})
}

// TestGateWriteAll: WriteAll sends 4 MiB in one call, in pieces, to a peer
// that reads late: while it does not read, the buffer holds at most the
// high-water mark and one piece (one Write of it would hold 4 MiB on a
// pipe), and every byte arrives in order.
func TestGateWriteAll(t *testing.T) {
	const high = 32 << 10
	for _, o := range []struct {
		name string
		opts weft.Options
	}{
		{"roomy", weft.Options{HighWater: high, LowWater: 8 << 10, MaxWriteBuffer: 256 << 10}},
		// MaxWriteBuffer below LowWater + GatePiece: pieces are cut to the
		// room left (WriteRoomer), or one could be a slow consumer. Whether
		// a Wait returns with bytes still buffered depends on the socket;
		// TestGateWriteAllRoom makes it happen every time.
		{"tight", weft.Options{HighWater: high, LowWater: 8 << 10, MaxWriteBuffer: high}},
	} {
		for _, tc := range transports {
			t.Run(o.name+"/"+tc.name, func(t *testing.T) {
				s, c := tc.pair(t)
				data := make([]byte, 4<<20)
				for i := range data {
					data[i] = byte(i / 1000)
				}
				made := make(chan weft.Transport, 1)
				werr := make(chan error, 1)
				p := &funcProto{made: func(tr weft.Transport) {
					g := weft.NewGate(tr)
					go func() {
						err := g.WriteAll(context.Background(), data)
						werr <- err
						tr.LoseConnection()
					}()
					made <- tr
				}}
				opts := o.opts
				done := serve(s, p, &opts)
				tr := <-made
				for range 5 { // not reading yet (no timing asserted)
					time.Sleep(10 * time.Millisecond)
					if b := tr.Buffered(); b > max(high+weft.GatePiece, opts.MaxWriteBuffer) {
						t.Fatalf("%d bytes buffered, want at most high water + one piece", b)
					}
				}
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				got, err := io.ReadAll(c)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read %d bytes (%v), want %d in order", len(got), err, len(data))
				}
				if err := <-werr; err != nil {
					t.Fatalf("WriteAll: %v", err)
				}
				<-done
			})
		}
	}
}

// TestGateWriteAllRoom: WriteAll cuts its pieces to the transport's
// WriteRoom. The buffer drains 5,000 bytes at a time, so a Wait returns with
// bytes still buffered (at most LowWater), and MaxWriteBuffer is 32 KiB: a
// whole 64 KiB piece into that buffer would be a slow consumer.
func TestGateWriteAllRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 32 << 10
		tr := &testenv.LateTransport{High: max, Low: 8 << 10, Max: max, Ctx: context.Background()}
		g := weft.NewGate(tr)
		data := make([]byte, 1<<20)
		werr := make(chan error, 1)
		go func() { werr <- g.WriteAll(context.Background(), data) }()
		sent := 0
		for range 100_000 { // bounded: each turn sends up to 5,000 bytes
			synctest.Wait()
			select {
			case err := <-werr:
				if err != nil {
					t.Fatalf("WriteAll: %v", err)
				}
				if b, _ := tr.State(); sent+b != len(data) {
					t.Fatalf("%d bytes sent and %d buffered, want %d", sent, b, len(data))
				}
				return
			default:
			}
			tr.RunPosted()
			b, _ := tr.State()
			if b > max+weft.GatePiece {
				t.Fatalf("%d bytes buffered", b)
			}
			n := min(b, 5000)
			tr.Take(n)
			sent += n
			// A full buffer that did not pause WriteAll is looked at again
			// after GateRetry: let the bubble's clock move.
			time.Sleep(weft.GateRetry)
		}
		t.Fatal("WriteAll did not end")
	})
}

// WriteRoom follows Write's rule: any size into an empty buffer, what is left
// below MaxWriteBuffer behind queued bytes, nothing once closed.
func TestWriteRoom(t *testing.T) {
	s, c := net.Pipe() // nobody reads c: the first Write stays in flight
	defer c.Close()
	made := make(chan weft.Transport, 1)
	done := serve(s, &funcProto{made: func(tr weft.Transport) { made <- tr }}, &weft.Options{MaxWriteBuffer: 100 << 10})
	tr := <-made
	room := func() int { return tr.(weft.WriteRoomer).WriteRoom() }
	if r := room(); r != math.MaxInt {
		t.Errorf("empty buffer: room %d, want MaxInt", r)
	}
	tr.Write(make([]byte, 1000))
	if r := room(); r != 100<<10-1000 {
		t.Errorf("1000 bytes queued: room %d, want %d", r, 100<<10-1000)
	}
	tr.Abort()
	<-done
	if r := room(); r != 0 {
		t.Errorf("closed: room %d, want 0", r)
	}
}

// TestGateWriteAllNoRoom: with MaxWriteBuffer equal to HighWater, on a
// transport that pauses its Producer only past the high-water mark (not the
// runtime's, which pauses it at a full buffer too), a piece can fill the
// buffer to the mark without pausing the writer; WriteAll then waits for
// room (looking every GateRetry) instead of writing into a full buffer,
// which would be a slow consumer.
func TestGateWriteAllNoRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 32 << 10
		tr := &testenv.LateTransport{High: max, Low: 8 << 10, Max: max, NoFullPause: true, Ctx: context.Background()}
		g := weft.NewGate(tr)
		werr := make(chan error, 1)
		go func() { werr <- g.WriteAll(context.Background(), make([]byte, 96<<10)) }()
		synctest.Wait()
		tr.RunPosted() // the first Wait's marker: a 64 KiB piece into the empty buffer
		synctest.Wait()
		tr.RunPosted() // its pause, then the next Wait's marker
		synctest.Wait()
		tr.Take(56 << 10) // down to LowWater: resumed
		tr.RunPosted()
		synctest.Wait() // a 24 KiB piece: the buffer is full, at HighWater, not paused
		tr.RunPosted()  // the next Wait's marker: no room
		synctest.Wait()
		if b, w := tr.State(); b != max || w != 2 {
			t.Fatalf("%d bytes buffered after %d writes, want %d after 2", b, w, max)
		}
		time.Sleep(10 * weft.GateRetry)
		select {
		case err := <-werr:
			t.Fatalf("WriteAll ended with a full buffer: %v", err)
		default:
		}
		tr.Take(10 << 10)
		if err := <-werr; err != nil {
			t.Fatalf("WriteAll: %v", err)
		}
		if b, w := tr.State(); b != 30<<10 || w != 3 {
			t.Errorf("%d bytes buffered after %d writes, want %d after 3", b, w, 30<<10)
		}
	})
}

// TestGateWriteAllFullPauses: on a transport that pauses its Producer when
// the buffer is full (the runtime's rule), WriteAll at MaxWriteBuffer ==
// HighWater waits for the resume at the low-water mark, not for a timer:
// no time passes in the bubble, yet it goes on as soon as the resume runs,
// and not before.
func TestGateWriteAllFullPauses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 32 << 10
		tr := &testenv.LateTransport{High: max, Low: 8 << 10, Max: max, Ctx: context.Background()}
		_, _ = tr.Write(make([]byte, 8<<10)) // queued before: WriteAll's pieces are cut to the room
		g := weft.NewGate(tr)
		werr := make(chan error, 1)
		start := time.Now()
		go func() { werr <- g.WriteAll(context.Background(), make([]byte, 40<<10)) }()
		synctest.Wait()
		tr.RunPosted() // the first Wait's marker: 24 KiB (the room) fill the buffer
		synctest.Wait()
		tr.RunPosted() // the full buffer's pause, then the next Wait's marker
		synctest.Wait()
		if b, w := tr.State(); b != max || w != 2 {
			t.Fatalf("%d bytes buffered after %d writes, want %d after 2", b, w, max)
		}
		tr.Take(16 << 10) // 16 KiB left: room, but above LowWater, so still paused
		tr.RunPosted()
		synctest.Wait()
		if _, w := tr.State(); w != 2 {
			t.Fatalf("%d writes while paused above LowWater, want 2", w)
		}
		tr.Take(8 << 10) // down to LowWater: the resume is posted
		tr.RunPosted()
		synctest.Wait()
		tr.RunPosted() // the next Wait's marker
		if err := <-werr; err != nil {
			t.Fatalf("WriteAll: %v", err)
		}
		if b, w := tr.State(); b != 24<<10 || w != 3 {
			t.Errorf("%d bytes buffered after %d writes, want %d after 3", b, w, 24<<10)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("WriteAll took %v of bubble time: it waited for a timer, not for the resume", d)
		}
	})
}
