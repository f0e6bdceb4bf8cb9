package weft_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// stopProbe is a Producer that counts its StopProducing calls and the ones
// that overlapped another probe's; hold makes StopProducing take a while,
// after telling in.
type stopProbe struct {
	running, overlaps, stops *atomic.Int32
	in                       chan struct{}
	hold                     time.Duration
}

func (p *stopProbe) PauseProducing()  {}
func (p *stopProbe) ResumeProducing() {}
func (p *stopProbe) StopProducing() {
	if p.running.Add(1) > 1 {
		p.overlaps.Add(1)
	}
	p.stops.Add(1)
	if p.in != nil {
		close(p.in)
		time.Sleep(p.hold)
	}
	p.running.Add(-1)
}

// registersOnLost registers a producer from ConnectionLost.
type registersOnLost struct {
	t    weft.Transport
	made chan struct{}
	p    weft.Producer
}

func (r *registersOnLost) ConnectionMade(t weft.Transport) { r.t = t; close(r.made) }
func (r *registersOnLost) DataReceived([]byte)             {}
func (r *registersOnLost) ConnectionLost(error)            { r.t.RegisterProducer(r.p) }

// TestRegisterProducerWhileFinalizeStops: a producer registered from
// another goroutine while the runtime is stopping one registered during
// ConnectionLost (the connection has ended, but its last StopProducing
// runs) is stopped after it, by the runtime, not on the registering
// goroutine at once: its StopProducing ran concurrently with the other's
// (found by a TestPropertyContract hunt, tls-epoll seed 207387040358:
// "StopProducing ran concurrently with a callback"). Both are stopped
// once, before Serve returns. On every transport.
func TestRegisterProducerWhileFinalizeStops(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			var running, overlaps, stopsA, stopsB atomic.Int32
			inA := make(chan struct{})
			a := &stopProbe{running: &running, overlaps: &overlaps, stops: &stopsA, in: inA, hold: 100 * time.Millisecond}
			b := &stopProbe{running: &running, overlaps: &overlaps, stops: &stopsB}
			p := &registersOnLost{made: make(chan struct{}), p: a}
			done := serve(s, p, nil)
			<-p.made
			tr := p.t
			c.Close()
			select {
			case <-inA:
			case <-time.After(10 * time.Second):
				t.Fatal("the producer registered in ConnectionLost was not stopped")
			}
			tr.RegisterProducer(b)
			waitServe(t, done)
			if n := overlaps.Load(); n != 0 {
				t.Errorf("%d StopProducing calls overlapped another", n)
			}
			if a, b := stopsA.Load(), stopsB.Load(); a != 1 || b != 1 {
				t.Errorf("StopProducing called %d and %d times, want once each", a, b)
			}
			// Once the connection is done, a producer is stopped at once.
			var stopsC atomic.Int32
			tr.RegisterProducer(&stopProbe{running: &running, overlaps: &overlaps, stops: &stopsC})
			if n := stopsC.Load(); n != 1 {
				t.Errorf("a producer registered after the end: StopProducing called %d times, want 1 at once", n)
			}
		})
	}
}

// TestRegisterProducerOnConnNeverRun: a Conn that NewConn made with bad
// Options never runs and is ended from the start; a producer registered on
// it is stopped at once (not kept for a finalize that never comes).
func TestRegisterProducerOnConnNeverRun(t *testing.T) {
	s, _ := pipePair(t)
	c := weft.NewConn(s, &registersOnLost{made: make(chan struct{})}, &weft.Options{CloseTimeout: -1})
	var running, overlaps, stops atomic.Int32
	c.Transport().RegisterProducer(&stopProbe{running: &running, overlaps: &overlaps, stops: &stops})
	if n := stops.Load(); n != 1 {
		t.Errorf("StopProducing called %d times, want 1 at once", n)
	}
	if err := c.Serve(); err == nil {
		t.Error("Serve with a negative CloseTimeout returned nil")
	}
}
