//go:build unix

package process

import (
	"os"
	"syscall"
)

// codeAndSignal reads the exit code and terminating signal of a reaped child.
func codeAndSignal(ps *os.ProcessState) (int, syscall.Signal) {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, ws.Signal()
	}
	return ps.ExitCode(), 0
}
