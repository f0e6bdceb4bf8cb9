package server

import "time"

// workLoop runs first, then every item received on ch, until none came for
// idle after the last one finished or done is closed. It is the body of a
// reusable worker goroutine: whoever has an item offers it on ch (a send
// that succeeds only while a worker waits) and starts a new worker
// otherwise.
func workLoop[T any](first T, run func(T), ch <-chan T, done <-chan struct{}, idle time.Duration) {
	var t *time.Timer
	for item := first; ; {
		run(item)
		if t == nil {
			t = time.NewTimer(idle)
		} else {
			t.Reset(idle)
		}
		select {
		case item = <-ch:
		case <-t.C:
			return
		case <-done:
			t.Stop()
			return
		}
	}
}
