//go:build linux

package process

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// A child that closes its stdin and keeps running: ChildConnectionLost(0)
// comes while it runs, without the parent writing to it first (Twisted's
// ProcessWriter watches the pipe for this), and a registered producer is
// stopped then. Here the child closes stdin, then waits on descriptor 3,
// which the parent writes to only once stdin has been reported lost.
func TestChildClosesStdinReported(t *testing.T) {
	r := newRecorder(t)
	prod := &countingProducer{}
	lost0 := make(chan bool, 1) // whether the child was alive then
	r.onMade = func(tr Transport) { tr.RegisterProducer(prod) }
	r.onLost = func(fd int) {
		if fd == 0 {
			lost0 <- r.tr.Signal(syscall.Signal(0)) == nil && prod.stops == 1
		}
	}
	opts := &Options{ChildFDs: map[int]Direction{0: Write, 1: Read, 3: Write}}
	p, err := Start(context.Background(), exec.Command(lookPath(t, "sh"), "-c", "exec 0<&-; echo closed; read x <&3; echo bye"), r, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	select {
	case ok := <-lost0:
		if !ok {
			t.Errorf("ChildConnectionLost(0) came, but the child was not running or the producer not stopped (stops %d)", prod.stops)
		}
	case <-time.After(10 * time.Second): // bounds the failure only
		t.Errorf("no ChildConnectionLost(0) 10s after the child closed its stdin")
	}
	if err := p.WriteToChild(3, []byte("go\n")); err != nil {
		t.Errorf("WriteToChild(3): %v", err)
	}
	if err := waitBounded(t, p); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if got := r.out(1); got != "closed\nbye\n" {
		t.Errorf("stdout %q", got)
	}
	r.checkOrder(0, 1, 3)
}
