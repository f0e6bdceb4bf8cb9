package gen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The q-quantile is the nearest-rank order statistic: the smallest recorded
// value with at least a fraction q of the samples at or below it. Checked
// exactly (values below 64 ns have exact buckets) for every sample count up
// to 2,500, so small windows — a slow server, the sleeping set of scenario
// B — get the same definition as large ones.
func TestHistQuantileIsNearestRank(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 1; n <= 2500; n++ {
		var h Hist
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(r.IntN(64))
			h.Record(v[i])
		}
		slices.Sort(v)
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
			got := int64(h.Quantile(q))
			atOrBelow, below := 0, 0
			for _, x := range v {
				if x <= got {
					atOrBelow++
				}
				if x < got {
					below++
				}
			}
			// at least q of the samples at or below it, fewer than q below it
			if float64(atOrBelow) < q*float64(n)-1e-9 || float64(below) >= q*float64(n)-1e-9 {
				t.Fatalf("n=%d q=%v: quantile %d has %d samples at or below, %d below (sorted %v)",
					n, q, got, atOrBelow, below, v)
			}
		}
	}
	// 160 samples, two of them slow: p99 is the slow value (ceil(158.4) =
	// rank 159), since 2 of 160 (1.25 %) exceed the fast one.
	var h Hist
	for i := range 160 {
		h.Record(map[bool]int64{true: 50, false: 10}[i >= 158])
	}
	if got := h.Quantile(0.99); got != 50*time.Nanosecond {
		t.Errorf("p99 of 158×10 ns + 2×50 ns = %v, want 50ns", got)
	}
	// 100 samples 1..63 ns and one of 60: p99 is rank 99 exactly, not 100
	// (0.99*100 is 99.00000000000001 in floating point).
	var g Hist
	for i := range 99 {
		g.Record(int64(i % 10))
	}
	g.Record(60)
	if got := g.Quantile(0.99); got != 9*time.Nanosecond {
		t.Errorf("p99 of 99 fast samples and one of 60 ns = %v, want 9ns", got)
	}
}
