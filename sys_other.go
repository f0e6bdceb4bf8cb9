//go:build !linux && !windows

package weft

import "syscall"

// The readiness engine's descriptor calls, elsewhere than Linux (where
// engine_linux.go makes them raw system calls). Only the goroutine engine
// runs here, so they serve the shared code.

func sysRead(fd int, p []byte) (int, error) { return syscall.Read(fd, p) }

func sysWrite(fd int, p []byte) (int, error) { return syscall.Write(fd, p) }

func sysClose(fd int) { syscall.Close(fd) }
