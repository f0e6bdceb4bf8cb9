package process

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// drainBudget bounds the bytes read from a descriptor once Options.WaitDelay
// has passed: what the pipe held then is delivered (a pipe holds 64 KiB by
// default on Linux, at most 1 MiB unless raised by a privileged process),
// while a grandchild writing without end cannot keep the reader going.
const drainBudget = 1 << 20

// errWouldBlock: a read found the pipe empty but still open for writing.
var errWouldBlock = errors.New("process: read would block")

// reader reads one descriptor the child writes to and delivers its data,
// serialized, until end of file or until the parent closes it.
type reader struct {
	fd      int
	f       *os.File
	p       *Process
	once    sync.Once
	closing chan struct{} // closed by close: stop reading now

	// cutReq is set by cut (Options.WaitDelay passed): read what the pipe
	// holds without waiting for more, then close.
	cutReq atomic.Bool
	// cutClosed: the pipe had no deadlines, cut closed it at once.
	cutClosed atomic.Bool
}

func (r *reader) close() {
	r.once.Do(func() {
		close(r.closing)
		r.f.Close() // unblocks a pending Read
	})
}

// cut asks the reader to stop waiting for end of file: Options.WaitDelay has
// passed since the child exited. The data already in the pipe is still
// delivered (see drain). An expired deadline wakes a pending Read without
// losing anything; a pipe without deadlines is closed at once instead, and
// the loss reported.
func (r *reader) cut() {
	r.cutReq.Store(true)
	if err := r.f.SetReadDeadline(time.Now()); errors.Is(err, os.ErrNoDeadline) {
		r.cutClosed.Store(true)
		r.close()
	}
}

func (r *reader) run(size int) {
	defer r.p.wg.Done()
	buf := make([]byte, size)
	ack := make(chan struct{}, 1)
	cut := false
	for {
		if c := r.p.gate(); c != nil {
			select {
			case <-c:
			case <-r.closing:
			}
		}
		n, err := r.f.Read(buf)
		if n > 0 {
			r.deliver(ack, buf[:n])
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && r.cutReq.Load() {
			cut = r.drain(ack, buf)
			break
		}
		if err != nil {
			// Closed by cut (no deadlines), unless the pipe had ended.
			cut = r.cutClosed.Load() && err != io.EOF
			break
		}
	}
	// The pipe is closed at once, even while its end waits (see end): a
	// grandchild still writing to it (output cut) gets EPIPE, not a pipe
	// that fills. r.close closes it again, harmlessly.
	r.f.Close()
	r.end(ack, cut)
}

// end closes the descriptor and delivers its end (lost), serialized. Like
// data (see deliver), an end read while reading is paused waits for
// ResumeReading, the pause being checked serialized with the callbacks, so
// that a protocol that paused hears of the end only once it resumes (a
// Stream's ReadConnectionLost and ConnectionLost, as the runtime holds a
// peer's end of stream); a close by the parent (CloseChildFD,
// LoseConnection, Abort) delivers it at once.
func (r *reader) end(ack chan struct{}, cut bool) {
	for {
		var held <-chan struct{}
		r.p.ser.call(ack, func() {
			select {
			case <-r.closing:
			default:
				if held = r.p.gate(); held != nil {
					return
				}
			}
			r.close()
			r.p.lost(r.fd, cut)
		})
		if held == nil {
			return
		}
		select {
		case <-held:
		case <-r.closing:
		}
	}
}

// drain runs once Options.WaitDelay has passed: it delivers what the pipe
// holds, reading without waiting for more (and waiting for ResumeReading
// while reading is paused), at most drainBudget bytes. It reports whether
// output was cut: the pipe was still open (another process, a grandchild,
// holds its other end) or still not empty after the budget. It reports false
// at end of file, and when the parent closed the descriptor (CloseChildFD,
// LoseConnection) or reading failed, as run does.
func (r *reader) drain(ack chan struct{}, buf []byte) bool {
	if err := r.f.SetReadDeadline(time.Time{}); err != nil {
		return false // closed by the parent meanwhile
	}
	budget := drainBudget
	for {
		if c := r.p.gate(); c != nil {
			select {
			case <-c:
			case <-r.closing:
				return false
			}
		}
		b := buf[:min(len(buf), budget)]
		if budget == 0 {
			b = buf[:1] // a probe: end of file, or output cut
		}
		n, err := readNow(r.f, b)
		if budget == 0 {
			return n > 0 || err == errWouldBlock
		}
		if n > 0 {
			r.deliver(ack, buf[:n])
			budget -= n
		}
		switch {
		case err == io.EOF:
			return false
		case err == errWouldBlock:
			return true
		case err != nil:
			return false
		}
	}
}

// deliver hands data to ChildDataReceived, serialized. Reading may have been
// paused after data was read: the pause is checked serialized with the
// callbacks, and data waits for ResumeReading, so that no data is delivered
// after PauseReading. Data is dropped if the parent closes the descriptor
// first.
func (r *reader) deliver(ack chan struct{}, data []byte) {
	for {
		select {
		case <-r.closing: // closed by the parent: drop what was in flight
			return
		default:
		}
		var held <-chan struct{}
		dropped := false
		r.p.ser.call(ack, func() {
			// Checked again here, serialized: the protocol may have
			// closed the descriptor from the callback that ran
			// while this waited to run.
			select {
			case <-r.closing:
				dropped = true
				return
			default:
			}
			if held = r.p.gate(); held == nil {
				r.p.proto.ChildDataReceived(r.fd, data)
			}
		})
		if dropped || held == nil {
			return
		}
		select {
		case <-held:
		case <-r.closing:
		}
	}
}

// writer writes the data queued for one descriptor the child reads. Write
// never blocks: it appends to a buffer bounded by max, drained by run.
type writer struct {
	fd  int
	f   *os.File
	p   *Process
	max int
	// wake has a buffer of one: a signal that the state changed.
	wake chan struct{}

	mu       sync.Mutex
	pending  []byte // queued, not yet taken by run
	inFlight int    // taken by run, being written
	spare    []byte // the buffer run last wrote, for reuse
	closing  bool   // close after pending data is written
	closed   bool   // no more data accepted: closed, broken or aborted
	aborted  bool
}

func (w *writer) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// room returns the largest write taken now.
func (w *writer) room() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.closing {
		return 0
	}
	return max(0, w.max-len(w.pending)-w.inFlight)
}

// write queues a copy of data.
func (w *writer) write(data []byte) error {
	w.mu.Lock()
	if w.closed || w.closing {
		w.mu.Unlock()
		return ErrClosed
	}
	if len(data) > w.max-len(w.pending)-w.inFlight {
		w.mu.Unlock()
		return ErrWriteBufferFull
	}
	w.pending = append(w.pending, data...)
	w.mu.Unlock()
	w.notify()
	if w.fd == w.p.prodFD {
		w.p.queueLevel()
	}
	return nil
}

// buffered returns the bytes queued and not yet written.
func (w *writer) buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending) + w.inFlight
}

// closeAfterFlush closes the pipe once everything queued is written. It
// reports whether the pipe was already closing or closed.
func (w *writer) closeAfterFlush() (already bool) {
	w.mu.Lock()
	already = w.closing || w.closed
	w.closing = true
	w.mu.Unlock()
	w.notify()
	return already
}

// abort closes the pipe now, discarding what is queued.
func (w *writer) abort() {
	w.mu.Lock()
	already := w.aborted
	w.aborted, w.closed = true, true
	w.pending = nil
	w.mu.Unlock()
	if !already {
		w.f.Close() // unblocks a pending Write
		w.notify()
	}
}

// watch notices that the child closed its end of the pipe while it runs
// (Twisted's ProcessWriter watches for this too): nothing can read what is
// queued any more, so the pipe is closed at once and ChildConnectionLost
// follows, without waiting for a write to fail. It ends once the pipe is
// closed.
func (w *writer) watch() {
	defer w.p.wg.Done()
	if waitReaderless(w.f) {
		w.abort()
	}
}

func (w *writer) run() {
	defer w.p.wg.Done()
	for {
		w.mu.Lock()
		for len(w.pending) == 0 && !w.closing && !w.aborted {
			w.mu.Unlock()
			<-w.wake
			w.mu.Lock()
		}
		if w.aborted || len(w.pending) == 0 {
			break // aborted, or closing with nothing left
		}
		data := w.pending
		w.pending, w.spare = w.spare[:0], nil
		w.inFlight = len(data)
		w.mu.Unlock()

		_, err := w.f.Write(data)

		w.mu.Lock()
		w.inFlight = 0
		if cap(data) <= 2*DefaultReadBufferSize {
			w.spare = data[:0] // keep small buffers; let big ones go
		}
		if err != nil {
			w.closed = true
			w.pending = nil
			break
		}
		w.mu.Unlock()
		if w.fd == w.p.prodFD {
			w.p.queueLevel()
		}
	}
	w.closed = true
	w.pending, w.spare = nil, nil
	w.mu.Unlock()
	// Report the loss before closing: the close is what lets a child
	// waiting for EOF on stdin exit, and its exit is reported (by wait)
	// through the same serializer, so ChildConnectionLost(0) must be
	// queued first to come before ProcessExited. Queued only (goPost):
	// this goroutine must not become the runner and run the protocol's
	// callbacks, and whatever they post, before the close, which would
	// hold the child's end of file for as long as they go on.
	w.p.ser.goPost(func() { w.p.lost(w.fd, false) })
	w.f.Close()
}
