//go:build unix

package main

import (
	"os/signal"
	"syscall"
	"time"
)

// reraises is true where get and connect, cut short by a signal, end killed
// by it.
const reraises = true

// reraise ends the process killed by sig, the way a program that caught
// the signal to clean up should end once done: sig's default action
// restored, then sig sent to the process itself. It returns, and the caller
// exits with its status instead, only if sig did not kill the process
// within a second: an ignored signal (a SIGINT the process inherited
// ignored, which os/signal restores when released).
func reraise(sig syscall.Signal) {
	signal.Reset(sig)
	if syscall.Kill(syscall.Getpid(), sig) != nil {
		return
	}
	time.Sleep(time.Second) // delivered on the kill's return, as a rule
}
