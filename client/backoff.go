package client

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Backoff chooses how long a client waits before its next connection attempt.
//
// Delay is given retry = 1 for the wait after the first failure (a failed
// attempt or a lost connection) since the last successful connection, 2 for the
// next, and so on; "resetting" a backoff is simply starting again at 1, which
// Reconnecting does after every successful connection (see
// Reconnecting.StableAfter). A negative duration (such as GiveUp) ends the
// retries: Run returns an error matching ErrGaveUp, as when MaxRetries is
// reached. Implementations may be called from one goroutine at a time only.
type Backoff interface {
	// Delay returns the wait before retry number retry (1 for the first).
	Delay(retry int) time.Duration
}

// BackoffFunc adapts a function to a Backoff.
type BackoffFunc func(retry int) time.Duration

// Delay calls f(retry).
func (f BackoffFunc) Delay(retry int) time.Duration { return f(retry) }

// Rand is the random source of a jittered backoff; *math/rand/v2.Rand
// implements it.
type Rand interface {
	Float64() float64     // uniform in [0, 1)
	NormFloat64() float64 // standard normal
}

// Exponential is exponential backoff with jitter. The un-jittered delay for
// retry n is Initial·Multiplier^(n-1), capped at Max; jitter is then applied
// to it:
//
//   - Jitter > 0 (uniform, gRPC): the delay is drawn uniformly from
//     [d·(1-Jitter), d·(1+Jitter)).
//   - Gaussian (Twisted): the delay is drawn from a normal distribution with
//     mean d and standard deviation d·Jitter, clamped at zero.
//   - FullJitter (AWS "full jitter"): the delay is drawn uniformly from
//     [0, d). Jitter is then ignored. It spreads a herd of clients best.
//
// As in gRPC and Twisted, the cap applies before jitter, so with uniform or
// Gaussian jitter a delay may exceed Max by the jitter. The zero value is
// usable: 1 s, ×1.6, 120 s cap, no jitter.
type Exponential struct {
	// Initial is the delay before the first retry. Zero means 1 s.
	Initial time.Duration
	// Max caps the un-jittered delay, Initial included (as Twisted's
	// maxDelay). Zero means 120 s, or Initial if that is longer: an Initial
	// above the default cap is not cut to 120 s, and every delay is then
	// Initial (set Max for growth beyond it).
	Max time.Duration
	// Multiplier is the growth factor per retry, at least 1. Zero means 1.6.
	Multiplier float64
	// Jitter is the relative jitter: the half-width of the uniform spread,
	// or the standard deviation when Gaussian. In [0, 1]; zero means none.
	Jitter float64
	// Gaussian selects normally distributed jitter (Twisted's
	// random.normalvariate) instead of uniform.
	Gaussian bool
	// FullJitter draws the delay uniformly from [0, capped delay).
	FullJitter bool
	// Rand is the random source, for deterministic tests. Nil means the
	// math/rand/v2 top-level functions (safe for concurrent use).
	Rand Rand
}

// defaultMax is the cap of an Exponential whose Max is zero (gRPC's).
const defaultMax = 120 * time.Second

// GRPC returns the default backoff, gRPC's connection-backoff parameters:
// 1 s, ×1.6, ±20 % uniform jitter, 120 s cap.
func GRPC() *Exponential {
	return &Exponential{Initial: time.Second, Max: 120 * time.Second, Multiplier: 1.6, Jitter: 0.2}
}

// Twisted returns the parameters of Twisted's ReconnectingClientFactory:
// factor e, Gaussian jitter with σ = 0.119626565582·delay, 3600 s cap applied
// before jitter. Twisted multiplies before its first wait, so its first retry
// waits initialDelay·e ≈ 2.718 s: Initial is set to that. Twisted stores the
// jittered delay back, so its jitter compounds from one retry to the next; this
// preset draws each retry's jitter around the un-jittered sequence
// (2.718, 7.389, 20.09, 54.6, ... 3600 s) instead, which keeps the same mean
// path without the random walk.
func Twisted() *Exponential {
	return &Exponential{
		Initial:    2718281828 * time.Nanosecond, // e seconds
		Max:        3600 * time.Second,
		Multiplier: math.E,
		Jitter:     0.119626565582,
		Gaussian:   true,
	}
}

// FullJitter returns gRPC's growth (1 s, ×1.6, 120 s cap) with full jitter: each
// delay is drawn uniformly from [0, capped delay).
func FullJitter() *Exponential {
	return &Exponential{Initial: time.Second, Max: 120 * time.Second, Multiplier: 1.6, FullJitter: true}
}

// Validate reports the first invalid field, naming it (or a nil e).
func (e *Exponential) Validate() error {
	if err := e.check(); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

// check is Validate without the package prefix, for Reconnecting's error,
// which has its own.
func (e *Exponential) check() error {
	switch {
	case e == nil:
		return errors.New("Exponential is a nil pointer")
	case e.Initial < 0:
		return fmt.Errorf("Exponential.Initial %v is negative", e.Initial)
	case e.Max < 0:
		return fmt.Errorf("Exponential.Max %v is negative", e.Max)
	case e.Multiplier != 0 && !(e.Multiplier >= 1) || math.IsInf(e.Multiplier, 0):
		return fmt.Errorf("Exponential.Multiplier %v is not a finite number >= 1", e.Multiplier)
	case !(e.Jitter >= 0 && e.Jitter <= 1):
		return fmt.Errorf("Exponential.Jitter %v is not in [0, 1]", e.Jitter)
	}
	return nil
}

// Base returns the un-jittered delay for retry (Initial·Multiplier^(retry-1),
// capped at Max, or with Max zero at the longer of 120 s and Initial); retry < 1
// counts as 1.
func (e *Exponential) Base(retry int) time.Duration {
	initial, maxD, mult := e.Initial, e.Max, e.Multiplier
	if initial <= 0 {
		initial = time.Second
	}
	if maxD <= 0 {
		// The default cap; an explicit Initial above it is kept (its
		// doc: the delay before the first retry).
		maxD = max(defaultMax, initial)
	}
	if !(mult >= 1) || math.IsInf(mult, 0) {
		mult = 1.6
	}
	retry = max(retry, 1)
	d := float64(initial) * math.Pow(mult, float64(retry-1))
	if d >= float64(maxD) || math.IsNaN(d) {
		return maxD
	}
	return time.Duration(d)
}

// Delay returns the jittered delay for retry.
func (e *Exponential) Delay(retry int) time.Duration {
	d := float64(e.Base(retry))
	switch {
	case e.FullJitter:
		d *= e.float64()
	case e.Jitter > 0 && e.Gaussian:
		d += d * min(e.Jitter, 1) * e.norm()
	case e.Jitter > 0:
		d *= 1 + min(e.Jitter, 1)*(2*e.float64()-1)
	}
	if d <= 0 || math.IsNaN(d) {
		return 0
	}
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

func (e *Exponential) float64() float64 {
	if e.Rand != nil {
		return e.Rand.Float64()
	}
	return rand.Float64()
}

func (e *Exponential) norm() float64 {
	if e.Rand != nil {
		return e.Rand.NormFloat64()
	}
	return rand.NormFloat64()
}
