package weft

import (
	"syscall"
	"testing"
	"time"
)

// lostProto signals ConnectionMade and ConnectionLost.
type lostProto struct {
	made chan struct{}
	lost chan error
}

func (p *lostProto) ConnectionMade(Transport) { close(p.made) }
func (p *lostProto) DataReceived([]byte)      {}
func (p *lostProto) ConnectionLost(err error) { p.lost <- err }

// TestWriteFailsAfterAbortOnEngine: on the readiness engine, an Abort from
// one goroutine while another flushes (the runner then leaves the
// descriptor to the flusher), followed by the flusher's write failing (the
// peer reset), still closes the descriptor and calls ConnectionLost.
func TestWriteFailsAfterAbortOnEngine(t *testing.T) {
	e, err := NewEngine()
	if err != nil {
		t.Skip(err)
	}
	defer e.Close()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[1])
	p := &lostProto{made: make(chan struct{}), lost: make(chan error, 2)}
	c, err := NewConnFD(fds[0], nil, nil, p, &Options{Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(nil)
	<-p.made
	waitIdle := func() {
		for deadline := time.Now().Add(5 * time.Second); c.rs.Load() != 0; {
			if time.Now().After(deadline) {
				t.Fatal("the runner never went idle")
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitIdle()
	// A writer outside the callbacks owns the write side (flushFDFrom).
	c.mu.Lock()
	c.bits |= bFlushing
	c.mu.Unlock()
	c.abort(ErrAborted, true) // from another goroutine, during that flush
	waitIdle()                // the runner saw the flush and left fd to it
	c.writeFailed(syscall.ECONNRESET)
	select {
	case err := <-p.lost:
		if err != ErrAborted {
			t.Errorf("reason %v, want ErrAborted", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ConnectionLost never called: the descriptor is never closed")
	}
}
