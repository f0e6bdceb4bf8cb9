package weft_test

import (
	"testing"

	"github.com/weftkit/weft/internal/testenv"
)

// TestChunkPumpOneTurnAtATime: ExampleProducer's pump keeps one chain of
// posted turns. The runtime may tell a producer PauseProducing then
// ResumeProducing in one go, when the buffer drained before the pause was
// delivered (syncProducer); a ResumeProducing that started a new chain while
// the posted turn was still waiting made two turns a round, each writing a
// chunk, so the buffer could pass HighWater by two chunks (ExampleProducer:
// "buffer stayed near HighWater: false", 1 full-suite run in about 12).
func TestChunkPumpOneTurnAtATime(t *testing.T) {
	lt := &testenv.LateTransport{High: 64 << 10, Low: 16 << 10, Max: 1 << 20}
	p := &chunkPump{left: 1 << 20}
	p.ConnectionMade(lt) // one chunk written, the next turn posted
	p.PauseProducing()   // the pause a drain overtook, then the resume
	p.ResumeProducing()
	for round := range 5 {
		_, before := lt.State()
		lt.RunPosted()
		if _, after := lt.State(); after-before != 1 {
			t.Fatalf("round %d: %d chunks written, want 1 (one turn at a time)", round, after-before)
		}
		lt.Drain() // the client keeps up
	}
}
