package weft

import (
	"math/rand/v2"
	"net"
	"testing"
	"unsafe"
)

// TestPackRemote: the remote address a Conn keeps reports the same address
// as the one it was given, as the same types, whatever its form.
func TestPackRemote(t *testing.T) {
	tests := []struct {
		name   string
		in     net.Addr
		packed bool // kept as a tcp4
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
			p := packRemote(tt.in)
			if _, ok := p.(tcp4); ok != tt.packed {
				t.Fatalf("packed %v, want %v", ok, tt.packed)
			}
			got := unpackRemote(p)
			if tt.in == nil {
				if got != nil {
					t.Fatalf("got %v, want nil", got)
				}
				return
			}
			if got.String() != tt.want || got.Network() != tt.in.Network() {
				t.Fatalf("got %s %q, want %s %q", got.Network(), got, tt.in.Network(), tt.want)
			}
			if want, ok := tt.in.(*net.TCPAddr); ok {
				ta, ok := got.(*net.TCPAddr)
				if !ok {
					t.Fatalf("got a %T, want a *net.TCPAddr", got)
				}
				if !ta.IP.Equal(want.IP) || ta.Port != want.Port || ta.Zone != want.Zone {
					t.Fatalf("got %#v, want %#v", ta, want)
				}
				if tt.packed && len(ta.IP) != net.IPv4len {
					t.Fatalf("IP has %d bytes, want 4", len(ta.IP))
				}
			}
		})
	}
}

// TestPackRemoteProperty: any IPv4 address and port survive packing, the
// packed form's String agrees, and each unpacking is a new value a caller
// may change without changing what the next caller gets.
func TestPackRemoteProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		ip := net.IPv4(byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())).To4()
		in := &net.TCPAddr{IP: ip, Port: r.IntN(65536)}
		p := packRemote(in)
		if p.String() != in.String() || p.Network() != "tcp" {
			t.Fatalf("packed %s %s, want tcp %s", p.Network(), p, in)
		}
		a := unpackRemote(p).(*net.TCPAddr)
		if a.String() != in.String() {
			t.Fatalf("unpacked %s, want %s", a, in)
		}
		a.IP[0]++
		a.Port++
		if b := unpackRemote(p); b.String() != in.String() {
			t.Fatalf("after changing one copy, unpacked %s, want %s", b, in)
		}
	}
}

// TestConnSizeClass: Conn stays in the 128-byte size class, which idle
// connections on the readiness engine are made of.
func TestConnSizeClass(t *testing.T) {
	if s := unsafe.Sizeof(Conn{}); s > 128 {
		t.Fatalf("Conn is %d bytes, want at most 128", s)
	}
}
