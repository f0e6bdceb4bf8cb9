package weft_test

import (
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/ended"
)

// endedProto records its callbacks and the ended.Notifier call, in order.
type endedProto struct {
	mu    sync.Mutex
	calls []string
	why   []error
	end   chan struct{}
}

var _ ended.Notifier = (*endedProto)(nil)

func (p *endedProto) note(s string, err error) {
	p.mu.Lock()
	p.calls = append(p.calls, s)
	p.why = append(p.why, err)
	p.mu.Unlock()
}

func (p *endedProto) ConnectionMade(weft.Transport)  { p.note("made", nil) }
func (p *endedProto) DataReceived([]byte)            {}
func (p *endedProto) ConnectionLost(reason error)    { p.note("lost", reason) }
func (p *endedProto) InternalWeftEnded(reason error) { p.note("ended", reason); close(p.end) }

func (p *endedProto) wait(t *testing.T) ([]string, []error) {
	t.Helper()
	select {
	case <-p.end:
	case <-time.After(10 * time.Second):
		t.Fatal("InternalWeftEnded was never called")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...), append([]error(nil), p.why...)
}

// TestStartNilDoneNotifies: Start with no done callback tells a Protocol
// that is an ended.Notifier (the server's, which so saves a closure per
// connection) exactly once, after ConnectionLost and with its reason, on
// both engines, and instead of ConnectionLost when the Options are invalid.
// Given a done callback, Start calls that instead.
func TestStartNilDoneNotifies(t *testing.T) {
	for _, eng := range []struct {
		name string
		e    *weft.Engine
	}{{"goroutine", nil}, {"epoll", testEngine}} {
		t.Run(eng.name, func(t *testing.T) {
			if eng.name == "epoll" && eng.e == nil {
				t.Skip("no readiness engine on this platform")
			}
			s, c := tcpPair(t)
			p := &endedProto{end: make(chan struct{})}
			weft.NewConn(s, p, &weft.Options{Engine: eng.e}).Start(nil)
			c.Close()
			calls, why := p.wait(t)
			if len(calls) != 3 || calls[0] != "made" || calls[1] != "lost" || calls[2] != "ended" {
				t.Fatalf("calls %v, want [made lost ended]", calls)
			}
			if why[1] != nil || why[2] != nil {
				t.Errorf("reasons %v, want nil for the peer's clean close", why)
			}
		})
	}
	t.Run("invalid options", func(t *testing.T) {
		s, _ := tcpPair(t)
		p := &endedProto{end: make(chan struct{})}
		weft.NewConn(s, p, &weft.Options{MaxWriteBuffer: -1}).Start(nil)
		calls, why := p.wait(t)
		if len(calls) != 1 || calls[0] != "ended" || why[0] == nil {
			t.Fatalf("calls %v, reasons %v; want only ended, with the options error", calls, why)
		}
	})
	for _, eng := range []struct {
		name string
		e    *weft.Engine
	}{{"goroutine", nil}, {"epoll", testEngine}} {
		t.Run("done given/"+eng.name, func(t *testing.T) {
			if eng.name == "epoll" && eng.e == nil {
				t.Skip("no readiness engine on this platform")
			}
			s, c := tcpPair(t)
			p := &endedProto{end: make(chan struct{})}
			done := make(chan error, 1)
			weft.NewConn(s, p, &weft.Options{Engine: eng.e}).Start(func(err error) { done <- err })
			c.Close()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("done(%v), want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("done was never called")
			}
			select {
			case <-p.end:
				t.Error("InternalWeftEnded called although Start had a done callback")
			default:
			}
		})
	}
}
