//go:build !unix

package process

import (
	"os"
	"syscall"
)

// codeAndSignal reads the exit code of a reaped child; platforms without Unix
// wait statuses report no signal.
func codeAndSignal(ps *os.ProcessState) (int, syscall.Signal) {
	return ps.ExitCode(), 0
}
