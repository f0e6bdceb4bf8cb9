package weft_test

import (
	"net"
	"testing"

	"github.com/weftkit/weft"
)

// boxedSlots is a HandshakeLimiter whose type is comparable (a struct of
// an interface) while its value is not: the limiter inside is funcSlots.
type boxedSlots struct{ inner weft.HandshakeLimiter }

func (b boxedSlots) TryAcquire() bool { return b.inner.TryAcquire() }
func (b boxedSlots) Release()         { b.inner.Release() }

// A limiter whose type is comparable but whose value is not (an interface
// field holding funcs) is not a map key either: NewConn must not panic
// hashing it, it just does not share the options.
func TestReview2LimiterComparableTypeNotValue(t *testing.T) {
	lim := boxedSlots{inner: funcSlots{try: func() bool { return true }, release: func() bool { return true }}}
	a, b := net.Pipe()
	defer b.Close()
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		c := weft.NewConn(a, newRecorder(t), &weft.Options{HandshakeLimiter: lim})
		b.Close()
		if err := c.Serve(); err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	}()
	if panicked != nil {
		t.Fatalf("NewConn panicked with a limiter of comparable type holding a non-comparable value: %v", panicked)
	}
}

// A limiter that is a pointer, as the server's is, costs NewConn no
// allocation for deciding whether its options can be shared: the check
// through reflect.Value allocated once per connection (every connection a
// server accepted).
func TestLimiterCheckAllocatesNothing(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	p := newRecorder(t)
	plain := &weft.Options{}
	limited := &weft.Options{HandshakeLimiter: &slots{}}
	without := testing.AllocsPerRun(200, func() { weft.NewConn(a, p, plain) })
	with := testing.AllocsPerRun(200, func() { weft.NewConn(a, p, limited) })
	if with != without {
		t.Errorf("NewConn makes %v allocations with a pointer HandshakeLimiter, %v without; want the same", with, without)
	}
}
