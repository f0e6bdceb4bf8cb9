package endpoint

import (
	"net/netip"
	"reflect"
	"testing"
)

// haproxy: is Twisted's HAProxy endpoint plugin: the rest of the
// description is a server description, read with the PROXY protocol from
// any source (or from its own proxy= list).
func TestParseServerHAProxy(t *testing.T) {
	tests := []struct {
		desc string
		want Server
	}{
		{"haproxy:tcp:8080", Server{Type: "tcp", Network: "tcp4", Address: ":8080", Proxy: proxyAny}},
		{"haproxy:tcp:8080:interface=127.0.0.1:backlog=5", Server{Type: "tcp", Network: "tcp4", Address: "127.0.0.1:8080", Backlog: 5, Proxy: proxyAny}},
		{`haproxy:tcp6:8080:interface=\:\:1`, Server{Type: "tcp6", Network: "tcp6", Address: "[::1]:8080", Proxy: proxyAny}},
		{"haproxy:tcp:port=8080", Server{Type: "tcp", Network: "tcp4", Address: ":8080", Proxy: proxyAny}},
		{"haproxy:tcp:80:proxy=10.0.0.0/8", Server{Type: "tcp", Network: "tcp4", Address: ":80",
			Proxy: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
		{"haproxy:systemd:domain=INET6:index=1", Server{Type: "systemd", Network: "tcp6", FDIndex: 1, Proxy: proxyAny}},
	}
	for _, tt := range tests {
		got, err := ParseServer(tt.desc)
		if err != nil {
			t.Errorf("ParseServer(%q): %v", tt.desc, err)
			continue
		}
		tt.want.Desc = tt.desc
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("ParseServer(%q) = %+v, want %+v", tt.desc, *got, tt.want)
		}
	}
	// The trusted list is each Server's own.
	a, _ := ParseServer("haproxy:tcp:1")
	a.Proxy[0] = netip.MustParsePrefix("10.0.0.0/8")
	if b, _ := ParseServer("haproxy:tcp:2"); b.Proxy[0] != proxyAny[0] || proxyAny[0] != netip.MustParsePrefix("0.0.0.0/0") {
		t.Errorf("Servers share their Proxy list: %v, %v", b.Proxy, proxyAny)
	}
}

func TestParseServerHAProxyErrors(t *testing.T) {
	tests := []parseServerError{
		{"haproxy", "type", ErrSyntax},
		{"haproxy:unix:/run/x.sock", "type", ErrArguments},
		{"haproxy:systemd:domain=UNIX:index=0", "type", ErrArguments},
		{"haproxy:haproxy:tcp:80", "type", ErrArguments},
		{"haproxy:tcp:80:bogus=1", "bogus", ErrUnknownKeyword},
		{"haproxy:tcp:99999", "port", ErrInvalidValue},
		{"haproxy:udp:80", "type", ErrUnknownType},
	}
	checkParseServerErrors(t, tests)
}
