package process

import (
	"sync"
	"sync/atomic"
	"testing"
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
