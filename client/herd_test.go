package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// firstRetries runs n Reconnecting clients in fake time whose server has just
// gone away (every dial fails) and returns when each one retried.
func firstRetries(t *testing.T, n int, newBackoff func(i int) Backoff) []time.Duration {
	var out []time.Duration
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		clients := make([]*Reconnecting, n)
		for i := range clients {
			dials := 0
			clients[i] = &Reconnecting{
				Endpoint: "herd", Factory: nopFactory, Backoff: newBackoff(i), MaxRetries: 1,
				Dialer: func(context.Context, string) (net.Conn, error) {
					dials++
					if dials == 2 {
						mu.Lock()
						out = append(out, time.Since(start))
						mu.Unlock()
					}
					return nil, errRefused
				},
			}
			if err := clients[i].Start(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range clients {
			c.Wait()
		}
	})
	return out
}

// histogram renders the first-retry times in 100 ms buckets and returns the
// largest bucket and the largest count in any 10 ms window.
func histogram(ds []time.Duration, span time.Duration) (text string, maxBucket, peak10ms int) {
	buckets := make([]int, span/(100*time.Millisecond)+1)
	windows := map[time.Duration]int{}
	for _, d := range ds {
		buckets[min(int(d/(100*time.Millisecond)), len(buckets)-1)]++
		windows[d/(10*time.Millisecond)]++
	}
	var b strings.Builder
	for i, c := range buckets {
		fmt.Fprintf(&b, "\n  %4d-%4dms %4d %s", i*100, i*100+99, c, strings.Repeat("#", c/10))
		maxBucket = max(maxBucket, c)
	}
	for _, c := range windows {
		peak10ms = max(peak10ms, c)
	}
	return b.String(), maxBucket, peak10ms
}

// TestThunderingHerd: 1,000 clients lose their server at once. Without jitter
// they all come back in the same instant; gRPC's ±20 % spreads them over
// 400 ms; full jitter over the whole first delay.
func TestThunderingHerd(t *testing.T) {
	const n = 1000
	seeded := func(b *Exponential, i int) Backoff {
		b.Rand = rand.New(rand.NewPCG(uint64(i), 99))
		return b
	}
	cases := []struct {
		name        string
		backoff     func(i int) Backoff
		minSpread   time.Duration // max - min of the first-retry times, at least
		maxBucket   int           // largest 100 ms bucket, at most
		maxPeak10ms int           // largest 10 ms window, at most
	}{
		{"no jitter", func(int) Backoff { b := GRPC(); b.Jitter = 0; return b }, 0, n, n},
		{"gRPC default (±20%)", func(i int) Backoff { return seeded(GRPC(), i) }, 350 * time.Millisecond, n * 35 / 100, n * 5 / 100},
		{"full jitter", func(i int) Backoff { return seeded(FullJitter(), i) }, 900 * time.Millisecond, n * 15 / 100, n * 3 / 100},
	}
	for _, c := range cases {
		ds := firstRetries(t, n, c.backoff)
		if len(ds) != n {
			t.Fatalf("%s: %d clients retried, want %d", c.name, len(ds), n)
		}
		lo, hi := ds[0], ds[0]
		for _, d := range ds {
			lo, hi = min(lo, d), max(hi, d)
		}
		text, maxBucket, peak := histogram(ds, 1200*time.Millisecond)
		t.Logf("%s: first retries from %v to %v (spread %v), largest 100ms bucket %d, peak in 10ms %d:%s",
			c.name, lo, hi, hi-lo, maxBucket, peak, text)
		if hi-lo < c.minSpread || maxBucket > c.maxBucket || peak > c.maxPeak10ms {
			t.Errorf("%s: spread %v (want >= %v), largest bucket %d (want <= %d), 10ms peak %d (want <= %d)",
				c.name, hi-lo, c.minSpread, maxBucket, c.maxBucket, peak, c.maxPeak10ms)
		}
		if c.name == "no jitter" && (hi != lo || peak != n) {
			t.Errorf("no jitter: retries should all coincide, got spread %v", hi-lo)
		}
	}
}
