package gen

import (
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

// Quantile returns the q-quantile (0 < q ≤ 1), or 0 without observations.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketMid(i))
		}
	}
	return time.Duration(bucketMid(histBuckets - 1))
}
