package process

import "sync"

// serializer runs functions one at a time, in the order they were posted,
// without a goroutine of its own: the goroutine that posts while nothing runs
// becomes the runner and drains the queue, including what others post
// meanwhile. A function posted by a running function runs right after it.
type serializer struct {
	mu      sync.Mutex
	q       []func()
	running bool
}

// post queues fn and, unless another goroutine is running the queue, runs the
// queue now.
func (s *serializer) post(fn func()) {
	s.mu.Lock()
	s.q = append(s.q, fn)
	if s.running {
		s.mu.Unlock()
		return
	}
	s.running = true
	s.drain()
}

// drain runs the queue; s.mu is held on entry and released on return. If a
// function panics the queue is released for the next poster and the panic goes
// on.
func (s *serializer) drain() {
	ok := false
	defer func() {
		if !ok {
			s.mu.Lock()
			s.running = false
			s.mu.Unlock()
		}
	}()
	for len(s.q) > 0 {
		fn := s.q[0]
		s.q[0] = nil
		s.q = s.q[1:]
		s.mu.Unlock()
		fn()
		s.mu.Lock()
	}
	s.q = s.q[:0]
	s.running = false
	ok = true
	s.mu.Unlock()
}

// call posts fn and returns once it has run. ack must be a channel with a
// buffer of one, owned by the caller, and empty.
func (s *serializer) call(ack chan struct{}, fn func()) {
	s.post(func() {
		fn()
		ack <- struct{}{}
	})
	<-ack
}
