package chat_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/protocols/chat"
)

// hookTransport records the lines written to it, and calls onWrite (once)
// with each line, after recording it, from the writer's goroutine.
type hookTransport struct {
	testenv.LateTransport
	mu      sync.Mutex
	lines   []string
	onWrite func(line string)
	closed  bool
}

func (h *hookTransport) Write(p []byte) (int, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return 0, weft.ErrClosed
	}
	h.lines = append(h.lines, strings.TrimSuffix(string(p), "\r\n"))
	hook := h.onWrite
	h.mu.Unlock()
	if hook != nil {
		hook(strings.TrimSuffix(string(p), "\r\n"))
	}
	return len(p), nil
}

// LoseConnection: writes from then on fail, as the runtime's do.
func (h *hookTransport) LoseConnection() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
}

// LoseConnectionWithReason implements weft.ReasonCloser.
func (h *hookTransport) LoseConnectionWithReason(error) { h.LoseConnection() }

func (h *hookTransport) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slicesClone(h.lines)
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// TestFarewellIsLastLine: "Bye." (after /quit), "Line too long... Bye."
// and MsgShutdown (at a graceful shutdown) are the last lines a client gets: it is disconnected, and another
// client's line sent while the server says goodbye does not reach it after
// the farewell. Before the fix the farewell was written outside the room's
// lock, before the client left the room (/quit) or without leaving it at
// all until the connection was lost (an over-long line; at a shutdown it
// left after the message), so a chat line
// from another client handled meanwhile was written after it ("Bye."
// followed by "<bob> hi"; found by TestChatProperty). The other client's
// line is sent from inside the Write of the farewell, which is where the
// race put it; it is given 200 ms to reach the room.
func TestFarewellIsLastLine(t *testing.T) {
	for _, tc := range []struct {
		name, say string
		farewell  string
	}{
		{"quit", "/quit\n", chat.MsgBye},
		{"exit", "/EXIT\n", chat.MsgBye},
		{"long line", strings.Repeat("x", 20<<10), "Line too long: the limit is 16384 bytes. Bye."},
		{"shutdown", "", chat.MsgShutdown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv chat.Server
			a, b := &hookTransport{}, &hookTransport{}
			pa, pb := srv.BuildProtocol(nil), srv.BuildProtocol(nil)
			pa.ConnectionMade(a)
			pb.ConnectionMade(b)
			pa.DataReceived([]byte("ann\n"))
			pb.DataReceived([]byte("bob\n"))
			var wg sync.WaitGroup
			a.mu.Lock()
			a.onWrite = func(line string) {
				if line != tc.farewell {
					return
				}
				done := make(chan struct{})
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(done)
					pb.DataReceived([]byte("hi\n"))
				}()
				select {
				case <-done:
				case <-time.After(200 * time.Millisecond):
				}
			}
			a.mu.Unlock()
			if tc.say == "" {
				pa.(weft.ShutdownNotifier).Shutdown()
			} else {
				pa.DataReceived([]byte(tc.say))
			}
			pa.ConnectionLost(nil)
			wg.Wait()
			got := a.got()
			i := len(got) - 1
			for i >= 0 && got[i] != tc.farewell {
				i--
			}
			if i < 0 || i != len(got)-1 {
				t.Errorf("ann got %q, want %q last", got, tc.farewell)
			}
			wantB := "ann has left."
			if tc.say == "" {
				wantB = "Welcome, bob!" // no word of ann at a shutdown
			}
			if got := b.got(); got[len(got)-1] != wantB {
				t.Errorf("bob got %q, want %q last", got, wantB)
			}
			pb.ConnectionLost(nil)
			if n := srv.Names(); len(n) != 0 {
				t.Errorf("room holds %q", n)
			}
		})
	}
}
