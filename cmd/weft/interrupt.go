package main

import "context"

// interruptible runs f, which may wait for ever (opening or reading a
// FIFO without a writer or reader, a terminal), on its own goroutine and
// returns its result, or ctx's error as soon as ctx ends (SIGINT, SIGTERM
// during start-up). f is then left to finish on its own (or with the
// process); drop, if not nil, is given its result when it does, to release
// what it holds.
func interruptible[T any](ctx context.Context, f func() (T, error), drop func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		if drop != nil {
			go func() {
				if r := <-done; r.err == nil {
					drop(r.v)
				}
			}()
		}
		var zero T
		return zero, ctx.Err()
	}
}
