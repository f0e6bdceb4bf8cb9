package process

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// blockingProducer's PauseProducing tells entered and waits for proceed.
type blockingProducer struct{ entered, proceed chan struct{} }

func (p *blockingProducer) PauseProducing() {
	close(p.entered)
	<-p.proceed
}
func (p *blockingProducer) ResumeProducing() {}
func (p *blockingProducer) StopProducing()   {}

// TestWriteRunsNoCallbacks: a Write from a goroutine of the user's returns at
// once, even when it takes stdin past the high-water mark while nothing else
// runs: the producer is paused on another goroutine, not on the writer's. (A
// writer that ran the queued callbacks itself would block for as long as they
// run, and deadlock if it held a lock a callback takes.)
func TestWriteRunsNoCallbacks(t *testing.T) {
	sleep := lookPath(t, "sleep")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prod := &blockingProducer{entered: make(chan struct{}), proceed: make(chan struct{})}
	p, err := Start(ctx, exec.Command(sleep, "60"), newRecorder(t), &Options{HighWater: 1 << 10, LowWater: 512})
	if err != nil {
		t.Fatal(err)
	}
	p.RegisterProducer(prod)
	registered := make(chan struct{})
	p.Post(func() { close(registered) })
	<-registered

	// More than a pipe holds: the child never reads, so the bytes stay
	// queued and stdin stays above the high-water mark.
	wrote := make(chan error, 1)
	go func() {
		_, err := p.Write(make([]byte, 256<<10))
		wrote <- err
	}()
	<-prod.entered // the pause is being delivered
	select {
	case err := <-wrote:
		if err != nil {
			t.Errorf("Write = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Write did not return while the producer's PauseProducing ran")
	}
	close(prod.proceed)
	cancel()
	_ = waitBounded(t, p)
}
