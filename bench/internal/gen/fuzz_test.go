package gen

import (
	"sync/atomic"
	"testing"
)

// FuzzFanoutLine feeds arbitrary server lines to a fan-out receiver: a
// misbehaving chat server must cost an error, never a panic, and a line that
// is accepted must be the next message of a real sender.
func FuzzFanoutLine(f *testing.F) {
	f.Add([]byte("<c0001> 0000000000000000bcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmn"))
	f.Add([]byte("Welcome, c0000!"))
	f.Add([]byte("<c0000> own message"))
	f.Add([]byte("<c99999999999> x"))
	f.Add([]byte("<>"))
	f.Add([]byte("<c"))
	f.Fuzz(func(t *testing.T, line []byte) {
		fr, _ := NewFramer(Line, 64)
		var phase atomic.Int32
		l := &fanLoop{epfd: -1, fr: fr, p: 2, phase: &phase, maxLine: 128}
		for i := range 3 {
			l.clients = append(l.clients, &fanClient{fd: -1, id: i, next: make([]uint64, 3),
				cnt: make([]int32, 2), sent: make([]int64, 2), seq: 2})
		}
		before := l.clients[0].next[1] + l.clients[0].next[2]
		ok := l.line(l.clients[0], line)
		after := l.clients[0].next[1] + l.clients[0].next[2]
		if ok != (l.errs == 0) {
			t.Fatalf("line returned %v with %d errors", ok, l.errs)
		}
		if after > before+1 || (after == before+1) != (ok && len(line) > 0 && line[0] == '<') {
			t.Fatalf("accepted %q: next %d -> %d, ok %v", line, before, after, ok)
		}
	})
}
