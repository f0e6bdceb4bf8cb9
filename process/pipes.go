package process

import (
	"os"
	"sync"
)

// reader reads one descriptor the child writes to and delivers its data,
// serialized, until end of file or until the parent closes it.
type reader struct {
	fd      int
	f       *os.File
	p       *Process
	once    sync.Once
	closing chan struct{} // closed by close: stop reading now
}

func (r *reader) close() {
	r.once.Do(func() {
		close(r.closing)
		r.f.Close() // unblocks a pending Read
	})
}

func (r *reader) run(size int) {
	defer r.p.wg.Done()
	buf := make([]byte, size)
	ack := make(chan struct{}, 1)
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
		if err != nil {
			break
		}
	}
	r.close()
	r.p.ser.post(func() { r.p.lost(r.fd) })
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
	if w.fd == 0 {
		w.p.stdinLevel()
	}
	return nil
}

// buffered returns the bytes queued and not yet written.
func (w *writer) buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending) + w.inFlight
}

// closeAfterFlush closes the pipe once everything queued is written.
func (w *writer) closeAfterFlush() {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	w.notify()
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
		if w.fd == 0 {
			w.p.stdinLevel()
		}
	}
	w.closed = true
	w.pending, w.spare = nil, nil
	w.mu.Unlock()
	// Report the loss before closing: the close is what lets a child
	// waiting for EOF on stdin exit, and its exit is reported (by wait)
	// through the same serializer, so ChildConnectionLost(0) must be
	// queued first to come before ProcessExited.
	w.p.ser.post(func() { w.p.lost(w.fd) })
	w.f.Close()
}
