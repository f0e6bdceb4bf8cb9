//go:build !linux

package process

import "os"

// waitReaderless cannot watch a pipe for its last reader here: it reports
// false at once, and a child closing a descriptor the parent writes is
// noticed at the next write to it, or when the child is reaped.
func waitReaderless(*os.File) bool { return false }
