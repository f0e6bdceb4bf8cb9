package weft_test

import (
	"io"
	"runtime"
	"testing"

	"github.com/weftkit/weft"
)

// TestOutputGrowthLinear: output that piles up past the largest pooled
// buffer class (1 MiB), in small Writes, under a MaxWriteBuffer raised
// above it, is copied a bounded number of times, not once per Write.
func TestOutputGrowthLinear(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			const chunk, total = 4 << 10, 4 << 20
			var allocated uint64
			r := newRecorder(t)
			r.onMade = func(tr weft.Transport) {
				p := make([]byte, chunk)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for range total / chunk {
					if _, err := tr.Write(p); err != nil {
						t.Error(err)
						return
					}
				}
				runtime.ReadMemStats(&after)
				allocated = after.TotalAlloc - before.TotalAlloc
			}
			done := serve(s, r, &weft.Options{MaxWriteBuffer: 2 * total})
			waitMade(t, r)
			if allocated > 8*total {
				t.Errorf("writing %d bytes in %d-byte Writes allocated %d MiB", total, chunk, allocated>>20)
			}
			go io.Copy(io.Discard, c)
			r.transport().LoseConnection()
			if err := <-done; err != nil {
				t.Errorf("reason %v, want nil", err)
			}
		})
	}
}
