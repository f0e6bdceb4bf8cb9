//go:build !unix

package process

import "os"

// readNow cannot read without waiting here: it reports the pipe as still
// open, so that Options.WaitDelay closes it and reports the cut.
func readNow(*os.File, []byte) (int, error) { return 0, errWouldBlock }
