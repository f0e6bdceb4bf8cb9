package server

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestWorkLoop: a worker runs its first item and the items handed to it
// while it waits, in order; it exits once it has waited idle with nothing
// to do (not before), or at once when done is closed.
func TestWorkLoop(t *testing.T) {
	const idle = 5 * time.Second
	t.Run("idle exit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ch := make(chan int)
			var mu sync.Mutex
			var ran []int
			run := func(i int) { mu.Lock(); ran = append(ran, i); mu.Unlock() }
			exited := make(chan time.Time, 1)
			start := time.Now()
			go func() {
				workLoop(1, run, ch, nil, idle)
				exited <- time.Now()
			}()
			time.Sleep(idle - time.Second)
			ch <- 2 // still waiting: it takes the item, and its idle wait starts again
			time.Sleep(idle - time.Second)
			ch <- 3
			synctest.Wait()
			select {
			case <-exited:
				t.Fatal("the worker exited although it was handed items within idle")
			default:
			}
			end := <-exited
			if got, want := end.Sub(start), 2*(idle-time.Second)+idle; got != want {
				t.Errorf("exited after %v, want %v (idle after the last item)", got, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(ran, []int{1, 2, 3}) {
				t.Errorf("ran %v, want [1 2 3]", ran)
			}
		})
	})
	t.Run("done", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			done := make(chan struct{})
			exited := make(chan struct{})
			go func() {
				workLoop(1, func(int) {}, make(chan int), done, idle)
				close(exited)
			}()
			synctest.Wait()
			close(done)
			synctest.Wait()
			select {
			case <-exited:
			default:
				t.Fatal("the worker did not exit when done was closed")
			}
		})
	})
}
