package process

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/weftkit/weft"
)

var _ Transport = (*Process)(nil)

// Write queues a copy of data for the child's stdin; see Transport.
func (pr *Process) Write(data []byte) (int, error) {
	if err := pr.WriteToChild(0, data); err != nil {
		return 0, err
	}
	return len(data), nil
}

// WriteToChild queues a copy of data for descriptor fd; see Transport.
func (pr *Process) WriteToChild(fd int, data []byte) error {
	w := pr.writers[fd]
	if w == nil && pr.ended == nil {
		return errNotStarted
	}
	if w == nil {
		return fmt.Errorf("%w: %d is not a descriptor the parent writes", ErrBadFD, fd)
	}
	if err := w.write(data); err != nil {
		return fmt.Errorf("process: write to descriptor %d: %w", fd, err)
	}
	return nil
}

// CloseStdin closes stdin after its queued data is written.
func (pr *Process) CloseStdin() error { return pr.CloseChildFD(0) }

// CloseChildFD closes descriptor fd; see Transport.
func (pr *Process) CloseChildFD(fd int) error {
	if w := pr.writers[fd]; w != nil {
		w.closeAfterFlush()
		return nil
	}
	for _, r := range pr.readers {
		if r.fd == fd {
			r.close()
			return nil
		}
	}
	if pr.ended == nil {
		return errNotStarted
	}
	return fmt.Errorf("%w: %d", ErrBadFD, fd)
}

// closeWriter closes descriptor fd, which the parent writes, after its
// queued data is written, as CloseChildFD does; it returns ErrClosed if fd
// was already closing or closed, and ErrBadFD if the parent does not write
// it.
func (pr *Process) closeWriter(fd int) error {
	w := pr.writers[fd]
	if w == nil {
		return fmt.Errorf("%w: %d is not a descriptor the parent writes", ErrBadFD, fd)
	}
	if w.closeAfterFlush() {
		return fmt.Errorf("process: descriptor %d: %w", fd, ErrClosed)
	}
	return nil
}

// LoseConnection closes every descriptor (writable ones after their queued
// data is written).
func (pr *Process) LoseConnection() {
	for _, w := range pr.writers {
		w.closeAfterFlush()
	}
	pr.closeReaders()
}

// Signal sends sig to the child; ErrProcessExited once it was reaped.
func (pr *Process) Signal(sig os.Signal) error {
	if pr.cmd == nil || pr.cmd.Process == nil {
		return errNotStarted
	}
	err := pr.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return ErrProcessExited
	}
	if err != nil {
		return fmt.Errorf("process: signal %v to %d: %w", sig, pr.Pid(), err)
	}
	return nil
}

// Kill sends SIGKILL to the child; ErrProcessExited once it was reaped.
func (pr *Process) Kill() error { return pr.Signal(os.Kill) }

// Pid is the child's process id (0 for the zero Process).
func (pr *Process) Pid() int {
	if pr.cmd == nil || pr.cmd.Process == nil {
		return 0
	}
	return pr.cmd.Process.Pid
}

// PauseReading stops reading the child's descriptors until ResumeReading.
func (pr *Process) PauseReading() {
	pr.mu.Lock()
	if pr.pauseCh == nil {
		pr.pauseCh = make(chan struct{})
	}
	pr.mu.Unlock()
}

// ResumeReading restarts reading after PauseReading.
func (pr *Process) ResumeReading() {
	pr.mu.Lock()
	if pr.pauseCh != nil {
		close(pr.pauseCh)
		pr.pauseCh = nil
	}
	pr.mu.Unlock()
}

// gate returns a channel to wait on while reading is paused, or nil.
func (pr *Process) gate() <-chan struct{} {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.pauseCh
}

// RegisterProducer registers a producer flow-controlled by stdin's queue
// (a Stream's WriteFD's, for a Stream); see Transport. Once that descriptor
// has closed, or without a pipe for it, p is stopped at once.
func (pr *Process) RegisterProducer(p weft.Producer) {
	pr.ser.goPost(func() {
		if pr.prodLost || pr.writers[pr.prodFD] == nil {
			pr.producer = nil
			if p != nil {
				p.StopProducing()
			}
			return
		}
		pr.producer = p
		pr.prodTold = false
		pr.syncProducer()
	})
}

// UnregisterProducer removes the registered producer.
func (pr *Process) UnregisterProducer() {
	pr.ser.goPost(func() { pr.producer = nil })
}

// queueLevel is called after each change of the bytes queued for prodFD
// (stdin, or a Stream's WriteFD). It reads the level itself, under pr.mu,
// so that the last evaluation always sees the last change (a level passed
// in by a writer could be stale).
func (pr *Process) queueLevel() {
	pr.mu.Lock()
	n := pr.writers[pr.prodFD].buffered()
	old := pr.prodWant
	if n > pr.opt.high || n >= pr.opt.max { // full: see weft.Options.HighWater
		pr.prodPend = pr.prodPend || !pr.prodWant // see syncProducer
		pr.prodWant = true
	} else if n <= pr.opt.low {
		pr.prodWant = false
	}
	changed := old != pr.prodWant
	pr.mu.Unlock()
	if changed {
		pr.ser.goPost(pr.syncProducer)
	}
}

// syncProducer runs serialized: it tells the producer to pause or resume when
// what it was last told differs from what stdin's queue wants. A pause that
// the queue's drain overtook before it ran is still told, followed by the
// resume (prodPend), as with the runtime's Transport: a producer that saw
// the queue pass the mark, or find no room, and stopped would otherwise
// never hear that it may go on.
func (pr *Process) syncProducer() {
	if pr.producer == nil {
		return
	}
	pr.mu.Lock()
	want, pend := pr.prodWant, pr.prodPend
	if want != pr.prodTold || !want {
		pr.prodPend = false
	}
	pr.mu.Unlock()
	switch {
	case want != pr.prodTold:
		pr.prodTold = want
		if want {
			pr.producer.PauseProducing()
		} else {
			pr.producer.ResumeProducing()
		}
	case pend && !want:
		pr.producer.PauseProducing()
		pr.producer.ResumeProducing()
	}
}

// Buffered returns the bytes queued for stdin (a Stream's WriteFD, for a
// Stream) and not yet written.
func (pr *Process) Buffered() int {
	if w := pr.writers[pr.prodFD]; w != nil {
		return w.buffered()
	}
	return 0
}

// WriteRoom implements weft.WriteRoomer: the largest stdin Write (a
// Stream's WriteFD Write, for a Stream) taken now (0 without a pipe for it,
// or once it is closing).
func (pr *Process) WriteRoom() int {
	if w := pr.writers[pr.prodFD]; w != nil {
		return w.room()
	}
	return 0
}

// Post runs fn serialized with the protocol's callbacks, never after
// ProcessEnded (see Transport.Post); a nil fn is ignored.
func (pr *Process) Post(fn func()) {
	if fn != nil && pr.ended != nil {
		pr.ser.postUser(fn)
	}
}

// Context returns a context that is done once ProcessEnded has returned (done
// already for the zero Process).
func (pr *Process) Context() context.Context {
	if pr.ctx == nil {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(errNotStarted)
		return ctx
	}
	return pr.ctx
}
