package server

import (
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/weftkit/weft"
)

// TestDescriptorAcceptRecyclesRemote: on the descriptor path, the peer's
// address made for the connection is recycled when nothing can hold it (a
// Factory that ignores it is given nil, and no ConnState hook is set), and
// kept otherwise; on a listener of the unspecified address, so is the local
// address made for each socket. Many connections, dialled from several
// goroutines so that recycled addresses are reused, must each report their
// own addresses through the Transport, and the addresses a hook or a
// Factory kept must still be the right ones once all were accepted.
func TestDescriptorAcceptRecyclesRemote(t *testing.T) {
	const n, dialers = 240, 4
	for _, tc := range []struct {
		name    string
		listen  string
		ignore  bool // the Factory is an AddrIgnorer
		hook    bool // a ConnState hook keeps ConnInfo's addresses
		recycle bool // the remote address should be recycled
	}{
		{"ignoring factory, no hook", "127.0.0.1:0", true, false, true},
		{"ignoring factory, hook", "127.0.0.1:0", true, true, false},
		{"factory takes the address", "127.0.0.1:0", false, false, false},
		{"unspecified, ignoring factory, no hook", "0.0.0.0:0", true, false, true},
		{"unspecified, ignoring factory, hook", "0.0.0.0:0", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(chan [2]net.Addr, n)
			ig := &ignoring{seen: seen}
			var kept []net.Addr // by the hook or the Factory
			var mu sync.Mutex
			keep := func(a net.Addr) {
				mu.Lock()
				kept = append(kept, a)
				mu.Unlock()
			}
			s := &Server{Factory: ig}
			if !tc.ignore {
				s.Factory = weft.FactoryFunc(func(a net.Addr) weft.Protocol {
					keep(a)
					return &addrProto{seen: seen}
				})
			}
			var locals []net.Addr // kept by the hook
			if tc.hook {
				s.ConnState = func(ci ConnInfo, st ConnState) {
					if st == StateActive {
						keep(ci.RemoteAddr)
						mu.Lock()
						locals = append(locals, ci.LocalAddr)
						mu.Unlock()
					}
				}
			}
			addr, _, _ := fdServerOn(t, s, "tcp4", tc.listen)
			_, port, _ := net.SplitHostPort(addr)
			addr = net.JoinHostPort("127.0.0.1", port)
			t.Cleanup(func() { s.Close() })
			clients := make(chan string, n)
			var wg sync.WaitGroup
			for range dialers {
				wg.Go(func() {
					for range n / dialers {
						c, err := net.Dial("tcp4", addr)
						if err != nil {
							t.Error(err)
							return
						}
						t.Cleanup(func() { c.Close() })
						clients <- c.LocalAddr().String()
					}
				})
			}
			wg.Wait()
			close(clients)
			var want []string
			for a := range clients {
				want = append(want, a)
			}
			if len(want) != n {
				t.FailNow()
			}
			slices.Sort(want)
			var remotes []string
			for range n {
				tr := <-seen
				remotes = append(remotes, tr[1].String())
				if tr[0].String() != addr {
					t.Fatalf("Transport.LocalAddr %v, want %v", tr[0], addr)
				}
			}
			slices.Sort(remotes)
			if !slices.Equal(remotes, want) {
				t.Fatalf("Transport.RemoteAddr of the %d connections differ from their clients' addresses:\n%v\nwant\n%v", n, remotes, want)
			}
			if !byFD(s) {
				t.Fatal("the descriptor accept path was not used")
			}
			if tc.ignore {
				for i, a := range ig.given {
					if a != nil {
						t.Fatalf("BuildProtocol %d was given %v: an AddrIgnorer is given nil", i, a)
					}
				}
			}
			mu.Lock()
			var got []string
			for _, a := range kept {
				got = append(got, a.String())
			}
			for _, a := range locals {
				if a.String() != addr {
					t.Errorf("a LocalAddr the hook kept is now %v, want %v (recycled while held)", a, addr)
				}
			}
			mu.Unlock()
			if tc.recycle {
				if len(got) != 0 {
					t.Fatalf("kept %d addresses, want none", len(got))
				}
				return
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("the addresses kept by the hook or the Factory changed after they were given (recycled while held):\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// TestRecycleRemote: recycling reuses an address accept4 made, so making
// one costs no allocation; an address not made by tcpAddr4 (a plain
// *net.TCPAddr with a 4-byte IP, an IPv6 one) is left alone, not cleared.
func TestRecycleRemote(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		recycleAddr(tcpAddr4([4]byte{127, 0, 0, 1}, 9))
	})
	if allocs >= 1 {
		t.Errorf("tcpAddr4 then recycleAddr: %v allocations, want the address reused", allocs)
	}
	a := tcpAddr4([4]byte{192, 0, 2, 1}, 80)
	recycleAddr(a)
	if a.IP != nil || a.Port != 0 {
		t.Errorf("a recycled address is %v, want it cleared", a)
	}
	for _, a := range []*net.TCPAddr{
		{IP: net.IPv4(192, 0, 2, 1).To4(), Port: 80},
		tcpAddr6([16]byte{15: 1}, 80, 0),
		{Port: 80},
	} {
		before := *a
		recycleAddr(a)
		if !a.IP.Equal(before.IP) || a.Port != before.Port {
			t.Errorf("recycleAddr changed %v, not made by tcpAddr4, into %v", before, a)
		}
	}
}
