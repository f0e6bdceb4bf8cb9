package weft

import (
	"math/rand/v2"
	"net"
	"testing"
	"unsafe"
)

// TestConnAddrs: the addresses a Conn reports are the ones it was given, as
// the same types, whatever their form; an IPv4 TCP remote address is
// packed, and then the connection shares its connAddrs with the others of
// the same local address (nothing of its own); any other remote address
// gets a connAddrs of its own whose local address is still the shared one.
func TestConnAddrs(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7000}
	tests := []struct {
		name   string
		in     net.Addr
		packed bool // kept in rpack
		want   string
	}{
		{"ipv4", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1).To4(), Port: 4242}, true, "192.0.2.1:4242"},
		{"ipv4 in 16 bytes", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 1}, true, "127.0.0.9:1"},
		{"ipv4 port 0", &net.TCPAddr{IP: net.IPv4zero, Port: 0}, true, "0.0.0.0:0"},
		{"ipv4 port 65535", &net.TCPAddr{IP: net.IPv4bcast, Port: 65535}, true, "255.255.255.255:65535"},
		{"ipv6", &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 80}, false, "[2001:db8::1]:80"},
		{"ipv6 zone", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 80, Zone: "lo"}, false, "[fe80::1%lo]:80"},
		{"ipv4 zone", &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 80, Zone: "eth0"}, false, "10.0.0.1%eth0:80"},
		{"port out of range", &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 70000}, false, "10.0.0.1:70000"},
		{"nil IP", &net.TCPAddr{Port: 7}, false, ":7"},
		{"unix", &net.UnixAddr{Name: "/tmp/s", Net: "unix"}, false, "/tmp/s"},
		{"nil", nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c, other Conn
			c.setAddrs(local, tt.in)
			other.setAddrs(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7000}, &net.TCPAddr{IP: net.IPv4(10, 1, 1, 1), Port: 9})
			if packed := c.rpack != 0; packed != tt.packed {
				t.Fatalf("packed %v, want %v", packed, tt.packed)
			}
			if shared := c.addrs == other.addrs; shared != tt.packed {
				t.Errorf("shares its connAddrs with a packed connection of the same local address: %v, want %v", shared, tt.packed)
			}
			tr := (*transport)(&c)
			if tr.LocalAddr() != other.localAddr() || tr.LocalAddr().String() != local.String() {
				t.Errorf("LocalAddr %v (%p), want the shared %v (%p)", tr.LocalAddr(), tr.LocalAddr(), other.localAddr(), other.localAddr())
			}
			got := tr.RemoteAddr()
			if tt.in == nil {
				if got != nil {
					t.Fatalf("RemoteAddr %v, want nil", got)
				}
				return
			}
			if got.String() != tt.want || got.Network() != tt.in.Network() {
				t.Fatalf("RemoteAddr %s %q, want %s %q", got.Network(), got, tt.in.Network(), tt.want)
			}
			if want, ok := tt.in.(*net.TCPAddr); ok {
				ta, ok := got.(*net.TCPAddr)
				if !ok {
					t.Fatalf("RemoteAddr is a %T, want a *net.TCPAddr", got)
				}
				if !ta.IP.Equal(want.IP) || ta.Port != want.Port || ta.Zone != want.Zone {
					t.Fatalf("RemoteAddr %#v, want %#v", ta, want)
				}
				if tt.packed && len(ta.IP) != net.IPv4len {
					t.Fatalf("IP has %d bytes, want 4", len(ta.IP))
				}
			}
		})
	}
}

// TestConnAddrsNoLocal: without a local address (NewConnFD's caller may give
// none) a packed connection shares the empty connAddrs, and an override of
// the remote address (Options.RemoteAddr, the PROXY source) replaces it
// whatever its form, keeping the local one.
func TestConnAddrsNoLocal(t *testing.T) {
	var c Conn
	c.setAddrs(nil, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1})
	if c.addrs != &noAddrs || c.localAddr() != nil {
		t.Fatalf("addrs %p (local %v), want the shared empty one", c.addrs, c.localAddr())
	}
	if noAddrs != (connAddrs{}) {
		t.Fatalf("the shared empty connAddrs was changed: %+v", noAddrs)
	}
	local := &net.UnixAddr{Name: "/run/s", Net: "unix"}
	for _, remote := range []net.Addr{
		&net.TCPAddr{IP: net.ParseIP("2001:db8::2"), Port: 443},
		&net.TCPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 5555},
		&net.UnixAddr{Name: "@peer", Net: "unix"},
	} {
		var d Conn
		d.setAddrs(local, &net.UnixAddr{Net: "unix"})
		d.setPerConnOptions(&Options{RemoteAddr: remote})
		if d.localAddr() != net.Addr(local) {
			t.Errorf("after RemoteAddr %v: LocalAddr %v, want %v", remote, d.localAddr(), local)
		}
		if got := d.remoteAddr(); got.String() != remote.String() || got.Network() != remote.Network() {
			t.Errorf("RemoteAddr %s %v, want %s %v", got.Network(), got, remote.Network(), remote)
		}
	}
}

// TestPackRemoteProperty: any IPv4 address and port survive packing, and
// each unpacking is a new value a caller may change without changing what
// the next caller gets.
func TestPackRemoteProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		ip := net.IPv4(byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())).To4()
		in := &net.TCPAddr{IP: ip, Port: r.IntN(65536)}
		var c Conn
		c.setAddrs(nil, in)
		if c.rpack == 0 {
			t.Fatalf("%s not packed", in)
		}
		a := c.remoteAddr().(*net.TCPAddr)
		if a.String() != in.String() {
			t.Fatalf("unpacked %s, want %s", a, in)
		}
		a.IP[0]++
		a.Port++
		if b := c.remoteAddr(); b.String() != in.String() {
			t.Fatalf("after changing one copy, unpacked %s, want %s", b, in)
		}
	}
}

// TestConnSizeClass: Conn stays in the 112-byte size class, which idle
// connections on the readiness engine are made of.
func TestConnSizeClass(t *testing.T) {
	if s := unsafe.Sizeof(Conn{}); s > 112 {
		t.Fatalf("Conn is %d bytes, want at most 112", s)
	}
}

// TestPackedRemoteNotKept: an IPv4 TCP remote address is packed, not kept.
// Package server relies on it: it recycles the address it gives NewConnFD
// (recycleRemote), so a Conn that kept the pointer would report another
// connection's address.
func TestPackedRemoteNotKept(t *testing.T) {
	ip := [4]byte{192, 0, 2, 7}
	a := &net.TCPAddr{IP: ip[:], Port: 4000}
	var c Conn
	c.setAddrs(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7000}, a)
	ip[3], a.Port = 9, 1 // the address reused for another connection
	if got := (*transport)(&c).RemoteAddr().String(); got != "192.0.2.7:4000" {
		t.Fatalf("RemoteAddr %s after its source was reused, want 192.0.2.7:4000", got)
	}
}

// TestSharedLocalNotKept: a TCP local address is copied into the shared
// connAddrs, not kept. Package server relies on it: it recycles the local
// address it made for a socket of a listener on the unspecified address.
func TestSharedLocalNotKept(t *testing.T) {
	ip := [4]byte{192, 0, 2, 200}
	a := &net.TCPAddr{IP: ip[:], Port: 4001}
	var c Conn
	c.setAddrs(a, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9})
	ip[3], a.Port = 9, 1 // the address reused for another connection
	if got := (*transport)(&c).LocalAddr().String(); got != "192.0.2.200:4001" {
		t.Fatalf("LocalAddr %s after its source was reused, want 192.0.2.200:4001", got)
	}
}
