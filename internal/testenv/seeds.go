package testenv

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Seeds returns the seeds a randomized test runs, from the environment
// variables PREFIX_SEED (that one seed only), PREFIX_RUNS (how many; def by
// default, short under -short) and PREFIX_BASE (the first one: a number, or
// "time" for one drawn from the clock and logged, for a hunt; 1 by
// default). The seeds run from the base up. A malformed value fails t.
func Seeds(t testing.TB, prefix string, def, short int) []uint64 {
	t.Helper()
	seedEnv, runsEnv, baseEnv := prefix+"_SEED", prefix+"_RUNS", prefix+"_BASE"
	if s := os.Getenv(seedEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", seedEnv, s, err)
		}
		return []uint64{seed}
	}
	n := def
	if testing.Short() {
		n = short
	}
	if s := os.Getenv(runsEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("%s=%q: want a positive count", runsEnv, s)
		}
		n = v
	}
	base := uint64(1)
	switch s := os.Getenv(baseEnv); s {
	case "":
	case "time":
		base = uint64(time.Now().UnixNano()) % 1e12
		t.Logf("%s=%d", baseEnv, base)
	default:
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", baseEnv, s, err)
		}
		base = v
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = base + uint64(i)
	}
	return seeds
}
