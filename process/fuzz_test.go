package process

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"testing"

	"github.com/weftkit/weft/internal/testenv"
)

// FuzzCatRoundTrip writes data to cat in chunks of varying sizes and checks
// that stdout returns it complete and in order, with the callback contract
// kept.
func FuzzCatRoundTrip(f *testing.F) {
	f.Add([]byte("hello\n"), uint16(1))
	f.Add(bytes.Repeat([]byte("abc"), 5000), uint16(7))
	f.Add([]byte{}, uint16(0))
	cat := testenv.LookPath(f, "cat", "coreutils")
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		if len(data) > 1<<19 {
			data = data[:1<<19] // stay under MaxWriteBuffer
		}
		r := newRecorder(t)
		r.onMade = func(tr Transport) {
			size := int(chunk)%4096 + 1
			for rest := data; len(rest) > 0; {
				n := min(size, len(rest))
				if err := tr.WriteToChild(0, rest[:n]); err != nil {
					t.Errorf("WriteToChild: %v", err)
					return
				}
				rest = rest[n:]
			}
			if err := tr.CloseStdin(); err != nil {
				t.Errorf("CloseStdin: %v", err) // cat would never end
			}
		}
		if _, err := run(t, context.Background(), exec.Command(cat), r, &Options{ReadBufferSize: int(chunk)%512 + 1}); err != nil {
			t.Fatalf("Wait = %v", err)
		}
		if got := r.out(1); got != string(data) {
			t.Fatalf("stdout %d bytes, want %d; first difference at %d", len(got), len(data), firstDiff(got, string(data)))
		}
		r.checkOrder(0, 1, 2)
	})
}

// FuzzOptions checks that any ChildFDs entry and any sizes give either valid
// options or an ErrInvalidOptions error, never a panic; that the limits are
// refused exactly when the documented rules say so (a descriptor out of
// range or with no direction, a negative size, LowWater over HighWater or
// HighWater over MaxWriteBuffer once the zero values are replaced by their
// defaults); and that defaults never replace a value that was set.
func FuzzOptions(f *testing.F) {
	f.Add(3, 1, 0, 0, 0)
	f.Add(-1, 2, 10, 20, 5)
	f.Add(300, 0, -1, 0, 0)
	f.Add(1, 2, 0, 0, -5)        // a negative size with a valid descriptor
	f.Add(0, 1, 100, 200, 0)     // HighWater over MaxWriteBuffer
	f.Add(4, 2, 0, 1000, 2000)   // LowWater over HighWater
	f.Add(0, 1, 0, 2<<20, 1<<20) // HighWater over the default MaxWriteBuffer
	f.Fuzz(func(t *testing.T, fd, dir, maxBuf, high, low int) {
		o := &Options{ChildFDs: map[int]Direction{fd: Direction(dir)}, MaxWriteBuffer: maxBuf, HighWater: high, LowWater: low}
		err := o.Validate()
		if err != nil && !errors.Is(err, ErrInvalidOptions) {
			t.Fatalf("Validate = %v, want an error matching ErrInvalidOptions", err)
		}
		validFD := fd >= 0 && fd <= MaxChildFD && (Direction(dir) == Read || Direction(dir) == Write)
		// The defaults for zero values, as Options documents them: HighWater
		// 64 KiB (at most MaxWriteBuffer), LowWater 16 KiB (at most
		// HighWater/4), MaxWriteBuffer 1 MiB, raised to a HighWater set
		// above it (resolve does; the field's comment does not say so).
		m, h, l := maxBuf, high, low
		if m == 0 {
			m = max(DefaultMaxWriteBuffer, h)
		}
		if h == 0 {
			h = min(DefaultHighWater, m)
		}
		if l == 0 {
			l = min(DefaultLowWater, h/4)
		}
		valid := validFD && maxBuf >= 0 && high >= 0 && low >= 0 && l <= h && h <= m
		if (err == nil) != valid {
			t.Fatalf("Options{ChildFDs: {%d: %d}, MaxWriteBuffer: %d, HighWater: %d, LowWater: %d}.Validate() = %v; want valid %v",
				fd, dir, maxBuf, high, low, err, valid)
		}
		if err == nil {
			r, _ := o.resolve(nil)
			if r.max != m || r.high != h || r.low != l || r.max <= 0 {
				t.Fatalf("resolved limits low %d high %d max %d, want %d %d %d", r.low, r.high, r.max, l, h, m)
			}
		}
	})
}
