package weft_test

import (
	"bufio"
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// blockedSet serves n connections on e whose first callback with data
// blocks until release is closed; it returns their clients and a counter of
// callbacks blocked at the same time (and the most seen).
type blockedSet struct {
	clients     []net.Conn
	done        []<-chan error
	now, most   atomic.Int32
	entered     chan struct{}
	release     chan struct{}
	releaseOnce func()
}

func newBlockedSet(t *testing.T, e *weft.Engine, n int) *blockedSet {
	b := &blockedSet{entered: make(chan struct{}, n), release: make(chan struct{})}
	closed := false
	b.releaseOnce = func() {
		if !closed {
			closed = true
			close(b.release)
		}
	}
	t.Cleanup(b.releaseOnce)
	for range n {
		s, c := tcpPair(t)
		r := newRecorder(t)
		r.onData = func(tr weft.Transport, d []byte) {
			cur := b.now.Add(1)
			for {
				m := b.most.Load()
				if cur <= m || b.most.CompareAndSwap(m, cur) {
					break
				}
			}
			b.entered <- struct{}{}
			<-b.release
			b.now.Add(-1)
			tr.Write(d)
		}
		b.clients = append(b.clients, c)
		b.done = append(b.done, serve(s, r, &weft.Options{Engine: e}))
	}
	for _, c := range b.clients {
		if _, err := c.Write([]byte("x\n")); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// finish releases the callbacks and checks that every connection answers.
func (b *blockedSet) finish(t *testing.T) {
	b.releaseOnce()
	for i, c := range b.clients {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "x\n" {
			t.Fatalf("connection %d answered %q, %v", i, got, err)
		}
		c.Close()
		if err := <-b.done[i]; err != nil {
			t.Fatalf("connection %d ended with %v", i, err)
		}
	}
}

// TestEnginePoolGrowsPastIdle: more blocked callbacks than the pool keeps
// idle workers for (4 + GOMAXPROCS) plus the 64 it starts at once all get a
// worker: past that number new workers start at most one per millisecond,
// but they do start.
func TestEnginePoolGrowsPastIdle(t *testing.T) {
	e, err := weft.NewEngine()
	if err != nil {
		t.Skipf("no readiness engine: %v", err)
	}
	defer e.Close()
	const n = 100 // past maxIdle+freeSpawns
	b := newBlockedSet(t, e, n)
	defer b.releaseOnce() // before the engine closes, on failure too
	deadline := time.After(10 * time.Second)
	for i := range n {
		select {
		case <-b.entered:
		case <-deadline:
			t.Fatalf("only %d of %d blocking callbacks started: the pool stopped growing", i, n)
		}
	}
	if m := b.most.Load(); m != n {
		t.Fatalf("%d callbacks blocked at once, want %d", m, n)
	}
	b.finish(t)
}

// TestEngineWorkerCap: an engine never runs more than maxWorkers callbacks
// at once; the connections past it wait for a worker and are served once
// the blocked callbacks return, nothing lost.
func TestEngineWorkerCap(t *testing.T) {
	defer weft.SetMaxWorkers(3)()
	e, err := weft.NewEngine()
	if err != nil {
		t.Skipf("no readiness engine: %v", err)
	}
	defer e.Close()
	const n = 6
	b := newBlockedSet(t, e, n)
	defer b.releaseOnce()
	for range 3 {
		select {
		case <-b.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the first 3 callbacks did not start")
		}
	}
	select {
	case <-b.entered:
		t.Fatalf("a 4th callback started with maxWorkers 3")
	case <-time.After(100 * time.Millisecond):
	}
	b.finish(t) // the other 3 run as workers come free
	if m := b.most.Load(); m != 3 {
		t.Fatalf("%d callbacks blocked at once, want 3", m)
	}
}

// TestEngineFairness: a peer that never stops sending does not keep the
// engine from another connection: a turn ends after a bounded number of
// reads, and the flooding connection goes to the back of the run queue. The
// engine has a single worker (no spare worker could take the other
// connection instead) and the flooding connection reads 16 bytes at a time,
// so its socket is never drained: only the bound ends its turn.
func TestEngineFairness(t *testing.T) {
	defer weft.SetMaxWorkers(1)()
	e, err := weft.NewEngine()
	if err != nil {
		t.Skipf("no readiness engine: %v", err)
	}
	defer e.Close()
	fs, fc := tcpPair(t)
	flooding := make(chan struct{})
	total := 0 // callbacks are never concurrent
	fr := newRecorder(t)
	fr.onData = func(_ weft.Transport, d []byte) {
		before := total
		total += len(d)
		if before < 64<<10 && total >= 64<<10 {
			close(flooding)
		}
	}
	// Keep the recorder from storing everything the flood sends.
	flood := &discardData{recorder: fr}
	fdone := serve(fs, flood, &weft.Options{Engine: e, ReadBufferSize: 16})
	stop := make(chan struct{})
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		buf := bytes.Repeat([]byte("x"), 64<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := fc.Write(buf); err != nil {
				return
			}
		}
	}()
	select {
	case <-flooding: // the worker is busy with the flood
	case <-time.After(10 * time.Second):
		t.Fatal("the flooding connection received nothing")
	}
	s, c := tcpPair(t)
	done := serve(s, echoRecorder(t), &weft.Options{Engine: e})
	// A few round trips: at GOMAXPROCS=1 each waits for the busy worker's
	// thread to be preempted, as the engine's poller needs a P too.
	if err := pingPong(c, 20); err != nil {
		t.Errorf("starved by a flooding connection: %v", err)
	}
	close(stop)
	c.Close()
	// A reset ends the flooding connection at once, without draining what
	// its socket holds 16 bytes at a time.
	fc.(*net.TCPConn).SetLinger(0)
	fc.Close()
	<-flooded
	<-done
	<-fdone
}

// discardData is a recorder that does not keep the data.
type discardData struct{ *recorder }

func (d *discardData) DataReceived(p []byte) {
	if d.onData != nil {
		d.onData(d.tr, p)
	}
}
