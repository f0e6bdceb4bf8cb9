package process

import "sync"

// serializer runs functions one at a time, in the order they were posted,
// without a goroutine of its own: the goroutine that posts while nothing runs
// becomes the runner and drains the queue, including what others post
// meanwhile. A function posted by a running function runs right after it.
//
// Only the package's own goroutines may become the runner (post, call): a
// goroutine of the user's that posts (goPost) hands the queue to a new
// goroutine instead, so that its Write or Post never runs the protocol's
// callbacks, nor waits for them. A reader (call) runs the queue only up to
// its own function, and the stdin writer only queues (goPost), so that work
// the protocol posts never keeps them from their pipe.
type serializer struct {
	mu      sync.Mutex
	q       []task
	running bool
	closed  bool          // the user's work is dropped (ProcessEnded was called)
	idle    chan struct{} // closed when running becomes false; nil: no waiter
}

// task is a queued function. The user's (Post) are dropped once the
// serializer is closed; the package's own always run.
type task struct {
	fn   func()
	user bool
}

// post queues fn and, unless another goroutine is running the queue, runs the
// queue now.
func (s *serializer) post(fn func()) {
	if s.enqueue(task{fn: fn}) {
		s.drain(nil)
	}
}

// goPost queues fn and, unless a runner is draining the queue, starts a
// goroutine to drain it: the caller never runs queued functions.
func (s *serializer) goPost(fn func()) { s.goPostTask(task{fn: fn}) }

// postUser is goPost for the user's work (Post): once the serializer is
// closed, fn is dropped at once.
func (s *serializer) postUser(fn func()) { s.goPostTask(task{fn: fn, user: true}) }

func (s *serializer) goPostTask(t task) {
	if s.enqueue(t) {
		s.mu.Unlock()
		go func() {
			s.mu.Lock()
			s.drain(nil)
		}()
	}
}

// close drops the user's work still queued and makes postUser drop what
// comes later (the package's own work still runs). It releases the dropped
// functions: the queue keeps no reference to them.
func (s *serializer) close() {
	s.mu.Lock()
	s.closed = true
	kept := s.q[:0]
	for _, t := range s.q {
		if !t.user {
			kept = append(kept, t)
		}
	}
	clear(s.q[len(kept):])
	s.q = kept
	s.mu.Unlock()
}

// enqueue queues t and reports whether the caller became the runner, in
// which case s.mu is still held (drain takes it so); otherwise it is
// released. The user's work is dropped once the serializer is closed.
func (s *serializer) enqueue(t task) bool {
	s.mu.Lock()
	if t.user && s.closed {
		s.mu.Unlock()
		return false
	}
	s.q = append(s.q, t)
	if s.running {
		s.mu.Unlock()
		return false
	}
	s.running = true
	return true
}

// waitIdle returns once no function runs or waits in the queue.
func (s *serializer) waitIdle() {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	idle := s.idle
	s.mu.Unlock()
	<-idle
}

// stopped marks the queue as not running and wakes waitIdle; s.mu is held.
func (s *serializer) stopped() {
	s.running = false
	if s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// drain runs the queue; s.mu is held on entry and released on return. If a
// function panics the queue is released for the next poster and the panic goes
// on. With an ack (call's), it stops once the function that sends on ack has
// run and hands what is left to a new goroutine (the queue stays running).
func (s *serializer) drain(ack chan struct{}) {
	ok := false
	defer func() {
		if !ok {
			s.mu.Lock()
			s.stopped()
			s.mu.Unlock()
		}
	}()
	for len(s.q) > 0 {
		fn := s.q[0].fn
		s.q[0] = task{}
		s.q = s.q[1:]
		s.mu.Unlock()
		fn()
		if ack != nil {
			select {
			case <-ack:
				ok = true
				s.mu.Lock()
				if len(s.q) > 0 {
					s.mu.Unlock()
					go func() {
						s.mu.Lock()
						s.drain(nil)
					}()
					return
				}
				s.q = s.q[:0]
				s.stopped()
				s.mu.Unlock()
				return
			default:
			}
		}
		s.mu.Lock()
	}
	s.q = s.q[:0]
	s.stopped()
	ok = true
	s.mu.Unlock()
}

// call posts fn and returns once it has run. ack must be a channel with a
// buffer of one, owned by the caller, and empty. A caller that becomes the
// runner runs the queue only up to fn and hands the rest to a new goroutine:
// a reader must go back to reading, not run what the protocol posts after
// its data (a loop of posted work waiting for the next data would never
// see it).
func (s *serializer) call(ack chan struct{}, fn func()) {
	own := func() {
		fn()
		ack <- struct{}{}
	}
	if !s.enqueue(task{fn: own}) {
		<-ack
		return
	}
	s.drain(ack)
}
