package gen

import (
	"math"
	"math/bits"
	"time"
)

// histBuckets: 64 exact buckets, then 32 sub-buckets per power of two (about
// 3 % resolution) up to 2^63 ns.
const histBuckets = 64 + 58*32

// Hist is a fixed-size latency histogram in nanoseconds. Recording never
// allocates.
type Hist struct {
	counts [histBuckets]uint64
	n      uint64
}

func bucketOf(v uint64) int {
	if v < 64 {
		return int(v)
	}
	e := bits.Len64(v) - 6 // v>>e is in [32, 64)
	return 64 + (e-1)*32 + int(v>>uint(e)) - 32
}

func bucketMid(i int) uint64 {
	if i < 64 {
		return uint64(i)
	}
	e := (i-64)/32 + 1
	m := uint64((i-64)%32 + 32)
	return m<<uint(e) + (uint64(1)<<uint(e))/2
}

// Record adds one observation of d nanoseconds (negative counts as 0).
func (h *Hist) Record(d int64) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
}

// Merge adds o's observations to h.
func (h *Hist) Merge(o *Hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// Count is the number of observations.
func (h *Hist) Count() uint64 { return h.n }

// Quantile returns the q-quantile (0 < q ≤ 1), or 0 without observations:
// the nearest-rank order statistic, the bucket of the ceil(q·n)-th smallest
// observation, so that at least a fraction q of the observations are at or
// below it (within the bucket's resolution).
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := nearestRank(q, h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketMid(i))
		}
	}
	return time.Duration(bucketMid(histBuckets - 1))
}

// nearestRank is ceil(q·n) clamped to [1, n]. q·n in floating point may land
// just above an integer it equals (0.99·100 = 99.00000000000001): such a
// product counts as that integer.
func nearestRank(q float64, n uint64) uint64 {
	x := q * float64(n)
	r := math.Round(x)
	if math.Abs(x-r) > 1e-9*max(1, x) {
		r = math.Ceil(x)
	}
	return min(max(uint64(max(r, 0)), 1), n)
}
