package weft

import (
	"math/bits"
	"sync"
)

// Buffers are pooled by power-of-two size class, from 64 B to 1 MiB, as
// *[]byte so that putting one back allocates nothing.
const (
	minClassBits = 6
	maxClassBits = 20
)

var bufPools [maxClassBits + 1]sync.Pool

// getBuf returns a buffer of length n (capacity at least n).
func getBuf(n int) *[]byte {
	k := max(bits.Len(uint(n-1)), minClassBits)
	if n <= 0 {
		k = minClassBits
	}
	if k > maxClassBits {
		b := make([]byte, n)
		return &b
	}
	if v := bufPools[k].Get(); v != nil {
		bp := v.(*[]byte)
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, 1<<k)
	return &b
}

// putBuf returns a buffer to the pool of the largest class it can serve.
func putBuf(bp *[]byte) {
	if bp == nil {
		return
	}
	k := bits.Len(uint(cap(*bp))) - 1
	if k < minClassBits || k > maxClassBits {
		return
	}
	*bp = (*bp)[:0]
	bufPools[k].Put(bp)
}
