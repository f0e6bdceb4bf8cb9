package wire_test

import (
	"testing"
	"testing/synctest"

	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/protocols/wire"
)

// TestChargenWaitsForPause: the transport's pause arrives as posted work,
// late. Chargen's goroutine must not write past the Write that crossed the
// high-water mark before that work has run; before the fix it kept writing
// until the transport refused (30 cycles past the mark under -race in
// TestChargenBoundedMemory). It resumes on ResumeProducing and its
// goroutine ends with the connection, even while it waits for posted work
// that will never run.
func TestChargenWaitsForPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cycle = 95 * 74
		tr := &testenv.LateTransport{High: 4 * cycle, Max: 100 * cycle}
		p := wire.Chargen{}.BuildProtocol(nil)
		p.ConnectionMade(tr)
		// Each write waits for the Gate's marker, posted work; while the
		// queued pause has not run, at most one cycle goes past high.
		for range 20 {
			tr.RunPosted()
			synctest.Wait()
			if b, _ := tr.State(); b > tr.High+cycle {
				t.Fatalf("%d bytes buffered with the pause still queued; want at most high+one cycle = %d", b, tr.High+cycle)
			}
		}
		b, w := tr.State()
		if b <= tr.High {
			t.Fatalf("stopped at %d bytes, below the high-water mark %d", b, tr.High)
		}
		// Paused: posted work runs, nothing more is written.
		tr.RunPosted()
		synctest.Wait()
		if _, w2 := tr.State(); w2 != w {
			t.Fatalf("%d writes while paused", w2-w)
		}
		tr.Drain()
		tr.RunPosted()
		synctest.Wait()
		if _, w2 := tr.State(); w2 != w+1 {
			t.Fatalf("after ResumeProducing: %d writes, want 1 (then a wait for posted work)", w2-w)
		}
		// Lost while waiting for a marker that never runs: the goroutine
		// must end (synctest.Test fails on a goroutine left blocked).
		p.ConnectionLost(nil)
	})
}
