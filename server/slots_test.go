package server

import (
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The slot caps (MaxHandshakes, MaxLingering) are hammered this way: one
// goroutine holds the only slot for a while, over and over, and looks at
// the gauge while it holds it, after yielding; meanwhile spinners keep
// trying to take a slot in a tight loop. A try that adds to the gauge
// first and checks the cap after shows, when a spinner is preempted between
// the two (each spinner runs until preempted, so this happens even on one
// CPU), as a second slot taken.
const (
	slotRounds   = 50
	slotSpinners = 2
	slotBudget   = 5 * time.Second // bounds a slow run; the rounds end well before
)

// hammerSlot runs hold slotRounds times (it takes the slot, yields, checks
// the gauge and gives the slot back) while spin runs in a loop on
// slotSpinners goroutines, and returns once they all stopped. It stops
// early once over is set (an overshoot seen).
func hammerSlot(over *atomic.Int64, hold func(), spin func()) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range slotSpinners {
		wg.Go(func() {
			for !stop.Load() {
				spin()
			}
		})
	}
	deadline := time.Now().Add(slotBudget)
	for range slotRounds {
		hold()
		if over.Load() != 0 || time.Now().After(deadline) {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
}

// TestHandshakeSlotsNeverOvershoot: MaxHandshakes slots are taken exactly:
// the Handshaking gauge never goes past the cap, even for a moment, while
// many goroutines try to take one.
func TestHandshakeSlotsNeverOvershoot(t *testing.T) {
	s := &Server{Factory: echoFactory(), MaxHandshakes: 1}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	var over atomic.Int64
	check := func() {
		if v := s.stats.handshaking.Load(); v > 1 {
			over.Store(v)
		}
	}
	hammerSlot(&over, func() {
		for !s.takeHandshake() {
			runtime.Gosched()
		}
		runtime.Gosched()
		check()
		s.doneHandshake()
	}, func() {
		if s.takeHandshake() {
			check()
			s.doneHandshake()
		}
	})
	if v := over.Load(); v != 0 {
		t.Errorf("Handshaking reached %d, cap 1", v)
	}
	if v := s.stats.handshaking.Load(); v != 0 {
		t.Errorf("Handshaking is %d after every slot was given back", v)
	}
}

// TestLingerSlotsNeverOvershoot: MaxLingering slots likewise: the Lingering
// gauge never goes past the cap. The holder is a rejected connection whose
// client reads the reject message and looks at the gauge before it hangs
// up; the spinners are rejected connections whose client is gone.
func TestLingerSlotsNeverOvershoot(t *testing.T) {
	msg := []byte("busy\r\n")
	s := &Server{Factory: echoFactory(), MaxLingering: 1, RejectMessage: msg}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	var over atomic.Int64
	check := func() {
		if v := s.stats.lingering.Load(); v > 1 {
			over.Store(v)
		}
	}
	hammerSlot(&over, func() {
		for {
			srv, cli := net.Pipe()
			lingered := make(chan bool, 1)
			go func() {
				defer cli.Close()
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(cli, got); err != nil {
					lingered <- false // skipped: a spinner held the slot
					return
				}
				runtime.Gosched()
				check()
				lingered <- true
			}()
			s.rejectClose(srv)
			if <-lingered {
				return
			}
			runtime.Gosched()
		}
	}, func() {
		srv, cli := net.Pipe()
		cli.Close()
		s.rejectClose(srv) // the Write fails at once if it lingers
	})
	if v := over.Load(); v != 0 {
		t.Errorf("Lingering reached %d, cap 1", v)
	}
	if v := s.stats.lingering.Load(); v != 0 {
		t.Errorf("Lingering is %d after every linger ended", v)
	}
}
