package chat_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/protocols/chat"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// TestBadInputChat: Server and its protocols with degenerate values and
// callbacks in the wrong order. Before the fix: Names on a nil *Server
// panicked ("runtime error: invalid memory address or nil pointer
// dereference"), and BuildProtocol on one built a protocol ("nil *Server
// built *chat.protocol") that panicked in its first callback.
func TestBadInputChat(t *testing.T) {
	cases := []biCase{
		{"zero Server Names", func() error {
			var s chat.Server
			if n := s.Names(); len(n) != 0 {
				return fmt.Errorf("names %q", n)
			}
			return nil
		}, "ok"},
		{"nil Server Names", func() error {
			var s *chat.Server
			if n := s.Names(); len(n) != 0 {
				return fmt.Errorf("names %q", n)
			}
			return nil
		}, "ok"},
		{"nil Server BuildProtocol", func() error {
			var s *chat.Server
			if p := s.BuildProtocol(nil); p != nil {
				return fmt.Errorf("nil *Server built %T", p)
			}
			return nil
		}, "ok"},
		{"DataReceived before ConnectionMade", func() error {
			var s chat.Server
			p := s.BuildProtocol(nil)
			p.DataReceived([]byte("ann\r\n")) // kept by codec.LineReceiver until ConnectionMade
			p.ConnectionLost(nil)
			if n := s.Names(); len(n) != 0 {
				return fmt.Errorf("names %q", n)
			}
			return nil
		}, "ok"},
		{"ConnectionLost before ConnectionMade", func() error {
			var s chat.Server
			p := s.BuildProtocol(nil)
			p.ConnectionLost(nil)
			p.ConnectionLost(nil)
			if n := s.Names(); len(n) != 0 {
				return fmt.Errorf("names %q", n)
			}
			return nil
		}, ""},
		{"ConnectionLost twice", func() error {
			var s chat.Server
			a, b := net.Pipe()
			defer b.Close()
			go func() {
				buf := make([]byte, 512)
				for {
					if _, err := b.Read(buf); err != nil {
						return
					}
				}
			}()
			p := s.BuildProtocol(nil)
			done := make(chan error, 1)
			go func() { done <- weft.Serve(a, p, nil) }()
			b.Write([]byte("alice\r\n"))
			for len(s.Names()) == 0 {
				time.Sleep(time.Millisecond)
			}
			b.Close()
			<-done
			p.ConnectionLost(nil)
			if n := s.Names(); len(n) != 0 {
				return fmt.Errorf("names %q", n)
			}
			return nil
		}, "ok"},
	}
	testenv.RunBadInput(t, cases)
}
