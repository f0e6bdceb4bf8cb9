//go:build linux && !386

package weft_test

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestPauseResumeStormOrder: PauseReading and ResumeReading called from
// another goroutine as fast as it can, while the peer streams, never
// reorder or lose bytes. On the readiness engine, bytes read just before a
// pause are kept as preread; a ResumeReading that came before the runner
// looked at the socket again let it read, and deliver, newer bytes first (a
// stress test: it failed in 6 of 10 runs under -race).
func TestPauseResumeStormOrder(t *testing.T) {
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue // slow at 7 bytes a read; the engine is the point
		}
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := newRecorder(t)
			opts := &weft.Options{ReadBufferSize: 7}
			if _, ok := s.(engineConn); ok {
				opts.Engine = testEngine
			}
			conn := weft.NewConn(s, r, opts)
			done := make(chan error, 1)
			conn.Start(func(err error) { done <- err })
			tr := waitMade(t, r)
			var stop atomic.Bool
			toggled := make(chan struct{})
			go func() {
				defer close(toggled)
				for i := 0; i < 20000 && !stop.Load(); i++ {
					tr.PauseReading()
					tr.ResumeReading()
				}
			}()
			want := make([]byte, 60000)
			for i := range want {
				want[i] = byte(i % 251)
			}
			go func() {
				for p := want; len(p) > 0; p = p[min(len(p), 97):] {
					c.Write(p[:min(len(p), 97)])
				}
			}()
			deadline := time.After(20 * time.Second)
			for len(r.received()) < len(want) {
				select {
				case <-r.dataCh:
				case <-deadline:
					t.Fatalf("received %d of %d", len(r.received()), len(want))
				}
			}
			stop.Store(true)
			<-toggled
			tr.ResumeReading()
			if got := r.received(); !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && got[i] == want[i] {
					i++
				}
				t.Fatalf("bytes reordered or lost from offset %d (of %d)", i, len(got))
			}
			c.Close()
			r.waitLost(t)
			<-done
		})
	}
}

// readResumer is a Producer that resumes reading when it is resumed.
type readResumer struct{ t weft.Transport }

func (p *readResumer) PauseProducing()  {}
func (p *readResumer) ResumeProducing() { p.t.ResumeReading() }
func (p *readResumer) StopProducing()   {}

// TestResumeDuringFlushKeepsPrereadFirst: on the readiness engine, bytes
// read before a PauseReading from another goroutine are kept and delivered
// first when reading resumes, also when the ResumeReading comes from a
// callback that the runner runs in the same turn before it reads (a
// producer resumed when parked output drains): the runner read and
// delivered the newer bytes first.
func TestResumeDuringFlushKeepsPrereadFirst(t *testing.T) {
	s, c := enginePair(t)
	probe := dupSocket(t, s)
	r := newRecorder(t)
	conn := weft.NewConn(s, r, &weft.Options{Engine: testEngine, HighWater: 16, LowWater: 8})
	done := make(chan error, 1)
	conn.Start(func(err error) { done <- err })
	tr := waitMade(t, r)
	waitQueue := func(received int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for bytesReceived(t, probe) < received || inQueue(t, probe) != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the runtime did not read")
			}
			time.Sleep(time.Millisecond)
		}
	}
	// "A" is read while a posted function runs, which then pauses: the
	// engine keeps it (as TestPauseReadingAfterRead). The function must run
	// on the goroutine that posts it, not on the engine's worker (which
	// would then not read): it is posted once ConnectionMade's turn, which
	// runs work posted meanwhile, has ended.
	waitCallbacksIdle(t, conn)
	in, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) }) // a failure must not hang the engine's Close
	go conn.Post(func() {
		close(in)
		<-release
		tr.PauseReading()
	})
	<-in
	c.Write([]byte("A"))
	waitQueue(1)
	releaseOnce.Do(func() { close(release) })
	// Output the peer does not read yet parks in the engine, above the
	// high-water mark: the producer is paused, and resumed by the runner
	// when the output drains.
	tr.RegisterProducer(&readResumer{tr})
	if _, err := tr.Write(make([]byte, 32<<20)); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("B")) // waits in the socket: reading is paused
	deadline := time.Now().Add(10 * time.Second)
	for bytesReceived(t, probe) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("B did not arrive")
		}
		time.Sleep(time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 32<<20)); err != nil {
		t.Fatal(err)
	}
	if got := r.waitReceived("AB"); got != "AB" {
		t.Fatalf("received %q, want \"AB\"", got)
	}
	c.Close()
	r.waitLost(t)
	<-done
}

// waitCallbacksIdle waits until no callback of conn runs: a function posted
// from another goroutine then runs on that goroutine, not on the engine's
// worker (ConnectionMade's turn runs the work posted while it lasts).
func waitCallbacksIdle(t *testing.T, conn *weft.Conn) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !weft.CallbacksIdle(conn); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a callback did not end within 10s")
		}
	}
}
