package client

import (
	"math/rand/v2"
	"testing"
	"time"
)

// FuzzExponential: whatever the parameters, Delay never panics or goes
// negative; for a valid Exponential the delay respects the cap and the jitter
// bounds.
func FuzzExponential(f *testing.F) {
	f.Add(int64(time.Second), int64(120*time.Second), 1.6, 0.2, uint8(0), 1, uint64(1))
	f.Add(int64(2718281828), int64(3600*time.Second), 2.718281828, 0.1196, uint8(1), 9, uint64(2))
	f.Add(int64(time.Second), int64(0), 0.0, 0.0, uint8(2), 1000000, uint64(3))
	f.Add(int64(-1), int64(-5), -1.0, 3.0, uint8(3), -7, uint64(4))
	f.Add(int64(5*time.Minute), int64(0), 2.0, 0.2, uint8(0), 3, uint64(5)) // Initial above the default cap
	f.Fuzz(func(t *testing.T, initial, maxD int64, mult, jitter float64, flags uint8, retry int, seed uint64) {
		b := &Exponential{
			Initial: time.Duration(initial), Max: time.Duration(maxD), Multiplier: mult, Jitter: jitter,
			Gaussian: flags&1 != 0, FullJitter: flags&2 != 0, Rand: rand.New(rand.NewPCG(seed, seed)),
		}
		d, base := b.Delay(retry), b.Base(retry)
		if d < 0 || base < 0 {
			t.Fatalf("%+v: Delay(%d) = %v, Base = %v", b, retry, d, base)
		}
		if b.Validate() != nil {
			return
		}
		capD := b.Max
		if capD == 0 { // the default cap, or Initial if that is longer
			capD = max(120*time.Second, b.Initial)
		}
		if base > capD {
			t.Fatalf("%+v: Base(%d) = %v above the cap %v", b, retry, base, capD)
		}
		const slack = 2 // nanoseconds of float rounding
		switch {
		case b.FullJitter:
			if d > base {
				t.Fatalf("%+v: full jitter Delay(%d) = %v above %v", b, retry, d, base)
			}
		case !b.Gaussian:
			lo := time.Duration(float64(base)*(1-b.Jitter)) - slack
			hi := time.Duration(float64(base)*(1+b.Jitter)) + slack
			if d < lo || d > hi {
				t.Fatalf("%+v: Delay(%d) = %v outside [%v, %v]", b, retry, d, lo, hi)
			}
		}
	})
}
