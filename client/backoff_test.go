package client

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// near reports whether d is within 1 ms of want.
func near(d, want time.Duration) bool { return (d - want).Abs() <= time.Millisecond }

func TestExponentialSequences(t *testing.T) {
	tests := []struct {
		name string
		b    *Exponential
		want []float64 // seconds, for retries 1, 2, ...
	}{
		{"zero value (gRPC growth, no jitter)", &Exponential{},
			[]float64{1, 1.6, 2.56, 4.096, 6.5536, 10.48576, 16.777216, 26.8435456, 42.94967296, 68.719476736, 109.9511627776, 120, 120}},
		// Twisted's verified sequence with jitter = 0 (twisted-semantics.md).
		{"Twisted without jitter", func() *Exponential { b := Twisted(); b.Jitter = 0; return b }(),
			[]float64{2.7183, 7.3891, 20.0855, 54.5982, 148.4132, 403.4288, 1096.6332, 2980.958, 3600, 3600}},
		{"cap", &Exponential{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2},
			[]float64{1, 2, 4, 4, 4}},
		{"constant", &Exponential{Initial: 3 * time.Second, Multiplier: 1}, []float64{3, 3, 3}},
	}
	for _, tt := range tests {
		for i, w := range tt.want {
			if d := tt.b.Delay(i + 1); !near(d, secs(w)) {
				t.Errorf("%s: Delay(%d) = %v, want %vs", tt.name, i+1, d, w)
			}
		}
	}
	// Retry numbers far past the cap never overflow.
	for _, n := range []int{0, -5, 1000, math.MaxInt} {
		if d := (&Exponential{}).Delay(n); d <= 0 || d > 120*time.Second {
			t.Errorf("Delay(%d) = %v", n, d)
		}
	}
}

func TestExponentialJitterBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	g := GRPC()
	g.Rand = r
	f := FullJitter()
	f.Rand = r
	for retry := 1; retry <= 20; retry++ {
		base := g.Base(retry)
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		gMin, gMax, fMin, fMax := hi, lo, base, time.Duration(0)
		for range 500 {
			d := g.Delay(retry)
			if d < lo || d >= hi {
				t.Fatalf("GRPC Delay(%d) = %v, want in [%v, %v)", retry, d, lo, hi)
			}
			gMin, gMax = min(gMin, d), max(gMax, d)
			d = f.Delay(retry)
			if d < 0 || d >= base {
				t.Fatalf("FullJitter Delay(%d) = %v, want in [0, %v)", retry, d, base)
			}
			fMin, fMax = min(fMin, d), max(fMax, d)
		}
		// The draws fill their range: a delay that ignores the jitter (or
		// squeezes it) stays inside the bounds above but fails here. 500
		// uniform draws leave no gap of 5 % at either end (p < 1e-10).
		span := hi - lo
		if gMin > lo+span/20 || gMax < hi-span/20 {
			t.Fatalf("GRPC Delay(%d) drew only [%v, %v], want the whole of [%v, %v)", retry, gMin, gMax, lo, hi)
		}
		if fMin > base/20 || fMax < base-base/20 {
			t.Fatalf("FullJitter Delay(%d) drew only [%v, %v], want the whole of [0, %v)", retry, fMin, fMax, base)
		}
	}
	// The same seed gives the same delays.
	a, b := GRPC(), GRPC()
	a.Rand, b.Rand = rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	for retry := 1; retry <= 10; retry++ {
		if x, y := a.Delay(retry), b.Delay(retry); x != y {
			t.Fatalf("retry %d: %v != %v with the same seed", retry, x, y)
		}
	}
}

// Property: Twisted's Gaussian jitter has mean d and standard deviation
// 0.1196·d, and the cap applies before jitter (delays above 3600 s occur).
func TestTwistedJitterDistribution(t *testing.T) {
	b := Twisted()
	b.Rand = rand.New(rand.NewPCG(3, 4))
	const n = 20000
	for _, retry := range []int{3, 12} {
		base := b.Base(retry).Seconds()
		var sum, sq float64
		above := 0
		for range n {
			d := b.Delay(retry).Seconds()
			sum += d
			sq += d * d
			if d > 3600 {
				above++
			}
		}
		mean := sum / n
		sd := math.Sqrt(sq/n - mean*mean)
		if math.Abs(mean-base)/base > 0.01 || math.Abs(sd/base-0.119626565582) > 0.005 {
			t.Errorf("retry %d: mean %.3f sd %.3f, want %.3f and %.3f", retry, mean, sd, base, base*0.1196)
		}
		if retry == 12 && above == 0 {
			t.Errorf("retry %d: no delay above the 3600 s cap; Twisted caps before jitter", retry)
		}
	}
}

func TestExponentialValidate(t *testing.T) {
	for _, b := range []*Exponential{
		{Initial: -1}, {Max: -1}, {Multiplier: 0.5}, {Multiplier: math.NaN()}, {Multiplier: math.Inf(1)},
		{Jitter: -0.1}, {Jitter: 1.5}, {Jitter: math.NaN()},
	} {
		if b.Validate() == nil {
			t.Errorf("%+v: Validate() = nil, want an error", b)
		}
	}
	for _, b := range []*Exponential{{}, GRPC(), Twisted(), FullJitter()} {
		if err := b.Validate(); err != nil {
			t.Errorf("%+v: %v", b, err)
		}
	}
}
