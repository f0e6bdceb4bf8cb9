package endpoint

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseServerSystemd(t *testing.T) {
	tests := []struct {
		desc string
		want Server
	}{
		{"systemd:domain=INET:index=0", Server{Type: "systemd", Network: "tcp4"}},
		{"systemd:domain=INET6:index=2", Server{Type: "systemd", Network: "tcp6", FDIndex: 2}},
		{"systemd:domain=UNIX:index=1", Server{Type: "systemd", Network: "unix", FDIndex: 1}},
		{"systemd:domain=INET:name=web", Server{Type: "systemd", Network: "tcp4", FDName: "web"}},
		{"systemd:index=0:domain=INET:proxy=10.0.0.0/8", Server{Type: "systemd", Network: "tcp4",
			Proxy: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
		{`systemd:domain=UNIX:name=a\:b`, Server{Type: "systemd", Network: "unix", FDName: "a:b"}},
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
}

func TestParseServerSystemdErrors(t *testing.T) {
	tests := []parseServerError{
		{"systemd", "domain", ErrArguments},
		{"systemd:index=0", "domain", ErrArguments},
		{"systemd:domain=INET", "index", ErrArguments},
		{"systemd:domain=inet:index=0", "domain", ErrInvalidValue}, // case-sensitive, as Twisted's getattr(socket, "AF_"+domain)
		{"systemd:domain=PACKET:index=0", "domain", ErrInvalidValue},
		{"systemd:domain=INET:index=-1", "index", ErrInvalidValue},
		{"systemd:domain=INET:index=x", "index", ErrInvalidValue},
		{"systemd:domain=INET:index=65536", "index", ErrInvalidValue},
		{"systemd:domain=INET:index=99999999999999999999", "index", ErrInvalidValue},
		{"systemd:domain=INET:index=0:name=web", "name", ErrArguments},
		{"systemd:domain=INET:name=", "name", ErrInvalidValue},
		{"systemd:0:domain=INET", "0", ErrArguments},
		{"systemd:domain=INET:index=0:backlog=5", "backlog", ErrUnknownKeyword},
		{"systemd:domain=UNIX:index=0:proxy=any", "proxy", ErrUnknownKeyword},
		{"systemd:domain=INET:index=0:proxy=nonsense", "proxy", ErrInvalidValue},
	}
	checkParseServerErrors(t, tests)
}

// readInherited follows sd_listen_fds: the variables count only for the
// process LISTEN_PID names; LISTEN_FDNAMES names the descriptors in order.
func TestReadInherited(t *testing.T) {
	const pid = 4242
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name     string
		getenv   func(string) string
		sel      Server
		wantPos  int
		wantErr  string // a substring of the error; "" for success
		wantSize int
	}{
		{"index 0", env("LISTEN_PID", "4242", "LISTEN_FDS", "2"), Server{}, 0, "", 2},
		{"index 1", env("LISTEN_PID", "4242", "LISTEN_FDS", "2"), Server{FDIndex: 1}, 1, "", 2},
		{"index beyond", env("LISTEN_PID", "4242", "LISTEN_FDS", "2"), Server{FDIndex: 2}, 0, "index 2, but 2 descriptor(s) were passed", 2},
		{"no LISTEN_PID", env("LISTEN_FDS", "2"), Server{}, 0, "LISTEN_PID is not set", 0},
		{"another process", env("LISTEN_PID", "1", "LISTEN_FDS", "2"), Server{}, 0, `LISTEN_PID is "1", not this process (4242)`, 0},
		{"bad pid", env("LISTEN_PID", "x", "LISTEN_FDS", "2"), Server{}, 0, `LISTEN_PID is "x"`, 0},
		{"no LISTEN_FDS", env("LISTEN_PID", "4242"), Server{}, 0, `LISTEN_FDS is ""`, 0},
		{"negative count", env("LISTEN_PID", "4242", "LISTEN_FDS", "-1"), Server{}, 0, `LISTEN_FDS is "-1"`, 0},
		{"huge count", env("LISTEN_PID", "4242", "LISTEN_FDS", "100000000000"), Server{}, 0, `LISTEN_FDS is "100000000000"`, 0},
		{"zero count", env("LISTEN_PID", "4242", "LISTEN_FDS", "0"), Server{}, 0, "LISTEN_FDS is 0", 0},
		{"by name", env("LISTEN_PID", "4242", "LISTEN_FDS", "3", "LISTEN_FDNAMES", "a:web:b"), Server{FDName: "web"}, 1, "", 3},
		{"unknown name", env("LISTEN_PID", "4242", "LISTEN_FDS", "2", "LISTEN_FDNAMES", "a:b"), Server{FDName: "web"}, 0, `no descriptor is named "web" (LISTEN_FDNAMES: a, b)`, 2},
		{"ambiguous name", env("LISTEN_PID", "4242", "LISTEN_FDS", "3", "LISTEN_FDNAMES", "web:x:web"), Server{FDName: "web"}, 0, `name "web" is given to descriptors 3 and 5: use index=`, 3},
		{"names miscounted", env("LISTEN_PID", "4242", "LISTEN_FDS", "2", "LISTEN_FDNAMES", "web"), Server{FDName: "web"}, 0, "LISTEN_FDNAMES has 1 names for 2 descriptors", 2},
		{"miscounted names leave index", env("LISTEN_PID", "4242", "LISTEN_FDS", "2", "LISTEN_FDNAMES", "web"), Server{FDIndex: 1}, 1, "", 2},
		{"no names", env("LISTEN_PID", "4242", "LISTEN_FDS", "2"), Server{FDName: "web"}, 0, "LISTEN_FDNAMES is not set", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := readInherited(tt.getenv, pid, 3)
			if set.n != tt.wantSize || len(set.taken) != tt.wantSize {
				t.Errorf("%d descriptors (%d flags), want %d", set.n, len(set.taken), tt.wantSize)
			}
			pos, err := set.pick(&tt.sel)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("pick: %v", err)
			case tt.wantErr == "" && pos != tt.wantPos:
				t.Errorf("pick = %d, want %d", pos, tt.wantPos)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("pick err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// A systemd Server built directly with options that cannot apply to an
// inherited socket is refused before anything is adopted.
func TestSystemdServerRefusedOptions(t *testing.T) {
	tests := []struct {
		s    Server
		part string
		want error
	}{
		{Server{Type: "systemd", Network: "tcp4", ReusePort: true}, "reuseport", nil},
		{Server{Type: "systemd", Network: "unix", Mode: 0o600}, "mode", ErrInvalidValue},
		{Server{Type: "systemd", Network: "unix", Lockfile: true}, "mode", ErrInvalidValue},
		{Server{Type: "systemd", Network: "tcp4", TLS: &tls.Config{}}, "TLS", ErrUnsupported},
		{Server{Type: "systemd", Network: "udp"}, "network", ErrInvalidValue},
		{Server{Type: "systemd"}, "network", ErrInvalidValue},
	}
	for _, tt := range tests {
		_, err := tt.s.Listen(t.Context())
		var e *Error
		if !errors.As(err, &e) || e.Part != tt.part || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("Listen(%+v) err = %v, want part %q matching %v", tt.s, err, tt.part, tt.want)
		}
	}
}
