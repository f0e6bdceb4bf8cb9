package server

import (
	"bufio"
	"io"
	"testing"
	"time"
)

// TestDescriptorAcceptRejectedClosedByClose: a connection refused on the
// descriptor path (MaxConnsPerPeer) with a RejectMessage lingers after the
// message like one refused on the goroutine path, and, like it, is pending:
// Close (or Shutdown's deadline) closes it at once instead of waiting for
// its linger (up to RejectLinger) to end.
func TestDescriptorAcceptRejectedClosedByClose(t *testing.T) {
	s := &Server{Factory: echoFactory(), MaxConnsPerPeer: 1, RejectMessage: []byte("busy\r\n")}
	addr, _, done := fdServer(t, s)
	first := dial(t, addr)
	first.Write([]byte("x"))
	first.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(first, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	second := dial(t, addr) // stays open: the server lingers, reading it
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(second).ReadString('\n')
	if err != nil || line != "busy\r\n" {
		t.Fatalf("refused client read %q, %v", line, err)
	}
	if !byFD(s) {
		t.Fatal("the descriptor accept path was not used")
	}
	if n := s.Snapshot().Lingering; n != 1 {
		t.Fatalf("Lingering = %d, want 1", n)
	}
	s.mu.Lock()
	pending := len(s.pending)
	s.mu.Unlock()
	if pending != 1 {
		t.Errorf("%d connections pending, want the lingering one: Close cannot reach it", pending)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d >= RejectLinger/2 {
		t.Errorf("Close took %v with a rejected connection lingering (RejectLinger %v): it waited for the linger", d, RejectLinger)
	}
	<-done
}
