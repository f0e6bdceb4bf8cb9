package process

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Property: functions posted from many goroutines all run, one at a time, and
// each poster's functions run in the order it posted them.
func TestSerializerProperty(t *testing.T) {
	var s serializer
	const posters, each = 8, 500
	var running, nested atomic.Int32
	last := make([]int, posters) // touched only by serialized functions
	var wg sync.WaitGroup
	for g := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ack := make(chan struct{}, 1)
			for i := 1; i <= each; i++ {
				fn := func() {
					if running.Add(1) != 1 {
						t.Errorf("serialized functions ran concurrently")
					}
					if last[g] != i-1 {
						t.Errorf("poster %d: function %d ran after %d", g, i, last[g])
					}
					last[g] = i
					if i%50 == 0 { // a function that posts: it runs after, not inside
						s.post(func() {
							if running.Add(1) != 1 {
								t.Errorf("a function posted by a running one ran inside it")
							}
							nested.Add(1)
							running.Add(-1)
						})
					}
					running.Add(-1)
				}
				if i%2 == 0 {
					s.call(ack, fn)
				} else {
					s.post(fn)
				}
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{}, 1)
	s.call(done, func() {})
	for g, n := range last {
		if n != each {
			t.Errorf("poster %d: %d functions ran, want %d", g, n, each)
		}
	}
	if n := nested.Load(); n != posters*each/50 {
		t.Errorf("%d functions posted by running ones ran, want %d", n, posters*each/50)
	}
}

// A panicking function releases the queue for the next poster.
func TestSerializerPanic(t *testing.T) {
	var s serializer
	func() {
		defer func() { _ = recover() }()
		s.post(func() { panic("boom") })
	}()
	ran := false
	s.post(func() { ran = true })
	if !ran {
		t.Fatalf("serializer stuck after a panic")
	}
}

// A caller of call that became the runner returns once its own function has
// run: what was posted after it runs on another goroutine (a reader goes
// back to reading). Here that function waits for the caller to return.
func TestSerializerCallHandsOff(t *testing.T) {
	var s serializer
	returned := make(chan struct{})
	var sawReturn atomic.Bool
	ack := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.call(ack, func() {
			s.post(func() { <-returned; sawReturn.Store(true) })
		})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Errorf("call did not return: it ran the function posted after its own")
	}
	close(returned)
	<-done
	s.waitIdle()
	if !sawReturn.Load() {
		t.Fatalf("the function posted after call's did not run after call returned")
	}
	// A panic in call's own function releases the queue.
	func() {
		defer func() { _ = recover() }()
		s.call(make(chan struct{}, 1), func() { panic("boom") })
	}()
	ran := false
	s.post(func() { ran = true })
	if !ran {
		t.Fatalf("serializer stuck after a panic in call")
	}
}
