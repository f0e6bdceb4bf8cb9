//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package endpoint

import "os"

// lockFile is a no-op where flock(2) is unavailable: lockfile=1 then only
// relies on the stale-socket probe.
func lockFile(string) (*os.File, error) { return nil, nil }
