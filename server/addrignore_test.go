package server

import (
	"net"
	"sync"
	"testing"

	"github.com/weftkit/weft"
)

// ignoring is a Factory that says it ignores the address (weft.AddrIgnorer)
// and records what BuildProtocol was given anyway; its Protocols report
// their Transport's local and remote addresses on seen.
type ignoring struct {
	mu    sync.Mutex
	given []net.Addr
	seen  chan [2]net.Addr
}

func (f *ignoring) IgnoresAddr() bool { return true }

func (f *ignoring) BuildProtocol(a net.Addr) weft.Protocol {
	f.mu.Lock()
	f.given = append(f.given, a)
	f.mu.Unlock()
	return &seenProto{seen: f.seen}
}

// seenProto reports the Transport's local and remote addresses from
// ConnectionMade.
type seenProto struct{ seen chan<- [2]net.Addr }

func (p *seenProto) ConnectionMade(t weft.Transport) {
	p.seen <- [2]net.Addr{t.LocalAddr(), t.RemoteAddr()}
}
func (p *seenProto) DataReceived([]byte)  {}
func (p *seenProto) ConnectionLost(error) {}

// TestAddrIgnorerGivenNil: on the listener path too (a net.Conn per
// connection: here with MaxConns, on any platform), a Factory that says it
// ignores the address is given nil, and the Protocol still reads its
// client's address from the Transport.
func TestAddrIgnorerGivenNil(t *testing.T) {
	ig := &ignoring{seen: make(chan [2]net.Addr, 1)}
	addr := serve(t, &Server{Factory: ig, MaxConns: 10})
	c := dial(t, addr)
	tr := <-ig.seen
	if tr[1].String() != c.LocalAddr().String() {
		t.Errorf("Transport.RemoteAddr %v, want the client's %v", tr[1], c.LocalAddr())
	}
	ig.mu.Lock()
	defer ig.mu.Unlock()
	if len(ig.given) != 1 || ig.given[0] != nil {
		t.Fatalf("BuildProtocol was given %v, want [nil]", ig.given)
	}
}
