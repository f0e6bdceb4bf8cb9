//go:build !unix

package weft_test

import "time"

// cpuTime is not measured here: the benchmarks' cpu-ns/msg reads 0.
func cpuTime() time.Duration { return 0 }
