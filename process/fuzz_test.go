package process

import (
	"bytes"
	"context"
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
			_ = tr.CloseStdin()
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
// options or an ErrInvalidOptions error, never a panic.
func FuzzOptions(f *testing.F) {
	f.Add(3, 1, 0, 0, 0)
	f.Add(-1, 2, 10, 20, 5)
	f.Add(300, 0, -1, 0, 0)
	f.Fuzz(func(t *testing.T, fd, dir, max, high, low int) {
		o := &Options{ChildFDs: map[int]Direction{fd: Direction(dir)}, MaxWriteBuffer: max, HighWater: high, LowWater: low}
		err := o.Validate()
		validFD := fd >= 0 && fd <= MaxChildFD && (Direction(dir) == Read || Direction(dir) == Write)
		if err == nil && !validFD {
			t.Fatalf("Validate accepted descriptor %d direction %d", fd, dir)
		}
		if err == nil {
			r, _ := o.resolve(nil)
			if r.low > r.high || r.high > r.max || r.max <= 0 {
				t.Fatalf("resolved limits low %d high %d max %d", r.low, r.high, r.max)
			}
		}
	})
}
