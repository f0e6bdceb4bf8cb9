package wire

import (
	"testing"
	"unsafe"
)

// TestIdleSize: an idle echo connection's protocol stays in the 32-byte size
// class. The memory of an idle connection is a benchmarked goal (S5 in
// docs/benchmarks.md, which serves FramedEcho), and the flow control's
// rarely needed state lives behind a pointer for that reason.
func TestIdleSize(t *testing.T) {
	for name, size := range map[string]uintptr{
		"echo":       unsafe.Sizeof(echo{}),
		"framedEcho": unsafe.Sizeof(framedEcho{}),
	} {
		if size > 32 {
			t.Errorf("%s is %d bytes, want at most 32", name, size)
		}
	}
}
