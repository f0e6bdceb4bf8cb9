package endpoint

import (
	"errors"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"testing"
)

func TestParseServer(t *testing.T) {
	tests := []struct {
		desc string
		want Server // Desc and TLS are not compared
	}{
		// Twisted's ParserTests / serverFromString vectors (weft's backlog
		// default is 0 = the system's, not 50).
		{"tcp:80", Server{Type: "tcp", Network: "tcp4", Address: ":80"}},
		{"tcp:80:interface=127.0.0.1", Server{Type: "tcp", Network: "tcp4", Address: "127.0.0.1:80"}},
		{"tcp:80:backlog=6", Server{Type: "tcp", Network: "tcp4", Address: ":80", Backlog: 6}},
		{"tcp:1234:backlog=12:interface=10.0.0.1", Server{Type: "tcp", Network: "tcp4", Address: "10.0.0.1:1234", Backlog: 12}},
		{"unix:/var/run/finger", Server{Type: "unix", Network: "unix", Address: "/var/run/finger", Mode: 0o666, Lockfile: true}},
		{"unix:/var/run/finger:mode=0660", Server{Type: "unix", Network: "unix", Address: "/var/run/finger", Mode: 0o660, Lockfile: true}},
		{"unix:/var/run/finger:lockfile=0", Server{Type: "unix", Network: "unix", Address: "/var/run/finger", Mode: 0o666}},
		{`unix:foo\:bar\=baz\:qux\\`, Server{Type: "unix", Network: "unix", Address: `foo:bar=baz:qux\`, Mode: 0o666, Lockfile: true}},
		{"unix:address=foo=bar", Server{Type: "unix", Network: "unix", Address: "foo=bar", Mode: 0o666, Lockfile: true}},
		{"unix:/var/foo/bar:backlog=7:mode=0123:lockfile=1", Server{Type: "unix", Network: "unix", Address: "/var/foo/bar", Mode: 0o123, Lockfile: true, Backlog: 7}},
		// Twisted reads lockfile with bool(int(v)): any non-zero integer.
		{"unix:/var/run/finger:lockfile=2", Server{Type: "unix", Network: "unix", Address: "/var/run/finger", Mode: 0o666, Lockfile: true}},
		{"unix:/var/run/finger:lockfile=-1", Server{Type: "unix", Network: "unix", Address: "/var/run/finger", Mode: 0o666, Lockfile: true}},
		{"unix:/var/run/finger:lockfile=00", Server{Type: "unix", Network: "unix", Address: "/var/run/finger", Mode: 0o666}},
		// Python's int(mode, 8), which Twisted uses, takes a 0o prefix.
		{"unix:/var/run/finger:mode=0o660", Server{Type: "unix", Network: "unix", Address: "/var/run/finger", Mode: 0o660, Lockfile: true}},
		// weft's forms.
		{"tcp:8007:interface=127.0.0.1:backlog=50", Server{Type: "tcp", Network: "tcp4", Address: "127.0.0.1:8007", Backlog: 50}},
		{`tcp6:8007:interface=\:\:1`, Server{Type: "tcp6", Network: "tcp6", Address: "[::1]:8007"}},
		{"tcp6:8007", Server{Type: "tcp6", Network: "tcp6", Address: "[::]:8007"}},
		{`tcp:8007:interface=\:\:1`, Server{Type: "tcp", Network: "tcp6", Address: "[::1]:8007"}},
		{"tcp:port=0:interface=127.0.0.1", Server{Type: "tcp", Network: "tcp4", Address: "127.0.0.1:0"}},
		{"unix:/run/weft.sock:mode=660:lockfile=1", Server{Type: "unix", Network: "unix", Address: "/run/weft.sock", Mode: 0o660, Lockfile: true}},
		{"tcp:80:reuseport=yes", Server{Type: "tcp", Network: "tcp4", Address: ":80", ReusePort: true}},
		{`tcp:80:proxy=127.0.0.1/32,10.1.2.3/8,\:\:1`, Server{Type: "tcp", Network: "tcp4", Address: ":80",
			Proxy: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}},
		{"tcp:80:proxy=any", Server{Type: "tcp", Network: "tcp4", Address: ":80",
			Proxy: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}},
	}
	for _, tt := range tests {
		s, err := ParseServer(tt.desc)
		if err != nil {
			t.Errorf("ParseServer(%q): %v", tt.desc, err)
			continue
		}
		if s.Desc != tt.desc {
			t.Errorf("ParseServer(%q).Desc = %q", tt.desc, s.Desc)
		}
		s.Desc = ""
		if !reflect.DeepEqual(*s, tt.want) {
			t.Errorf("ParseServer(%q) =\n %+v, want\n %+v", tt.desc, *s, tt.want)
		}
	}
}

func TestParseServerErrors(t *testing.T) {
	tests := []parseServerError{
		{"bogus-type:nothing", "type", ErrUnknownType},
		{"ftl:andromeda/carcosa/hali/2387", "type", ErrUnknownType},
		{"TCP:80", "type", ErrUnknownType}, // server types are case-sensitive
		{"tcp:80:backlog=x", "backlog", ErrInvalidValue},
		{"tcp:80:backlog=-1", "backlog", ErrInvalidValue},
		{"tcp:99999", "port", ErrInvalidValue},
		{"tcp:http", "port", ErrInvalidValue},
		{"tcp", "port", ErrArguments},
		{"tcp:80:81", "81", ErrArguments},
		{"tcp:80:port=81", "port", ErrArguments},
		{"tcp:80:bogus=1", "bogus", ErrUnknownKeyword},
		{"tcp:80:=x", "=x", ErrUnknownKeyword},
		{"tcp:80:interface=localhost", "interface", ErrInvalidValue},
		{"tcp6:80:interface=127.0.0.1", "interface", ErrInvalidValue},
		// An IPv4-mapped address: a tcp6 listener cannot bind it.
		{`tcp6:80:interface=\:\:ffff\:127.0.0.1`, "interface", ErrInvalidValue},
		{"tcp:80:reuseport=maybe", "reuseport", ErrInvalidValue},
		{"tcp:80:proxy=10.0.0.0/8/16", "proxy", ErrInvalidValue},
		{"tcp:80:proxy=10.0.0.0/8;10.0.0.1", "proxy", ErrInvalidValue},
		{"unix:/x:mode=9", "mode", ErrInvalidValue},
		{"unix:/x:mode=1777", "mode", ErrInvalidValue},
		// Server.Mode 0 means the default 0666: an explicit mode=0 must not
		// silently become world-writable.
		{"unix:/x:mode=0", "mode", ErrInvalidValue},
		{"unix:/x:mode=000", "mode", ErrInvalidValue},
		{"unix:/x:reuseport=1", "reuseport", ErrUnknownKeyword},
		{"unix:", "address", ErrInvalidValue},
		{"unix", "address", ErrArguments},
		{"tls:8443", "privateKey", ErrArguments},
		{"tls:8443:privateKey=/nonexistent/k.pem", "privateKey", ErrTLSConfig},
		{"tls:8443:privateKey=/dev/zero", "privateKey", ErrTLSConfig},
		{`tcp:80\`, "", ErrSyntax},
		{"", "type", ErrSyntax},
	}
	checkParseServerErrors(t, tests)
}

func TestParseServerTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	both := dir + "/both.pem"
	c, _ := os.ReadFile(certFile)
	k, _ := os.ReadFile(keyFile)
	if err := os.WriteFile(both, append(c, k...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, desc := range []string{
		"tls:8443:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(certFile),
		"tls:8443:privateKey=" + Quote(both), // certKey defaults to privateKey
		"ssl:8443:key=" + Quote(keyFile) + ":cert=" + Quote(certFile) + ":interface=127.0.0.1",
	} {
		s, err := ParseServer(desc)
		if err != nil {
			t.Fatalf("ParseServer(%q): %v", desc, err)
		}
		if s.Type != "tls" || s.TLS == nil || len(s.TLS.Certificates) != 1 || s.TLS.MinVersion < 0x0303 {
			t.Errorf("ParseServer(%q) = %+v, want tls with one certificate and TLS 1.2 minimum", desc, s)
		}
	}
	// A key that does not match the certificate.
	_, otherKey, _ := writeCert(t, t.TempDir())
	_, err := ParseServer("tls:8443:privateKey=" + Quote(otherKey) + ":certKey=" + Quote(certFile))
	if !errors.Is(err, ErrTLSConfig) {
		t.Errorf("mismatched key: err = %v, want ErrTLSConfig", err)
	}
}

// An out-of-range octal value is reported in octal, as it was written.
func TestParseServerModeMessage(t *testing.T) {
	for desc, want := range map[string]string{
		"unix:/x:mode=1000": `endpoint: unix:/x:mode=1000: mode: invalid value: 1000 out of range [1, 777]`,
		"unix:/x:mode=0":    `endpoint: unix:/x:mode=0: mode: invalid value: 0 out of range [1, 777]`,
	} {
		if _, err := ParseServer(desc); err == nil || err.Error() != want {
			t.Errorf("ParseServer(%q) = %v, want %s", desc, err, want)
		}
	}
}

// A number too large for 64 bits is reported as out of range, like any
// other out-of-range number, not as "not an integer".
func TestParseHugeNumber(t *testing.T) {
	for desc, want := range map[string]string{
		"tcp:99999999999999999999":               `endpoint: tcp:99999999999999999999: port: invalid value: 99999999999999999999 out of range [0, 65535]`,
		"tcp:80:backlog=-99999999999999999999":   `endpoint: tcp:80:backlog=-99999999999999999999: backlog: invalid value: -99999999999999999999 out of range [0, 65535]`,
		"unix:/x:mode=7777777777777777777777777": `endpoint: unix:/x:mode=7777777777777777777777777: mode: invalid value: 7777777777777777777777777 out of range [1, 777]`,
	} {
		if _, err := ParseServer(desc); err == nil || err.Error() != want {
			t.Errorf("ParseServer(%q) = %v, want %s", desc, err, want)
		}
	}
}

// A keyword given under both of its names (privateKey= and key=, certKey=
// and cert=) is an error that says so, not an "unknown keyword": key= and
// cert= are known.
func TestParseServerTLSAliasTwice(t *testing.T) {
	certFile, keyFile, _ := writeCert(t, t.TempDir())
	for _, tt := range []struct{ desc, part string }{
		{"tls:0:privateKey=" + Quote(keyFile) + ":key=" + Quote(keyFile) + ":certKey=" + Quote(certFile), "key"},
		{"tls:0:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(certFile) + ":cert=" + Quote(certFile), "cert"},
	} {
		_, err := ParseServer(tt.desc)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrArguments) || e.Part != tt.part || errors.Is(err, ErrUnknownKeyword) {
			t.Errorf("ParseServer(%q): err = %v, want ErrArguments about %s given twice", tt.desc, err, tt.part)
		}
	}
}

// A Linux abstract socket has no file, so no permissions: mode= cannot be
// honoured and is refused, at parse time and by Listen, rather than giving a
// socket anyone can connect to to someone who asked for mode=600.
func TestAbstractUnixMode(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("abstract sockets are Linux's")
	}
	_, err := ParseServer("unix:@weft-test-abstract:mode=600")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalidValue) || e.Part != "mode" {
		t.Errorf("mode= on an abstract socket: err = %v, want ErrInvalidValue about mode", err)
	}
	s := &Server{Type: "unix", Address: "@weft-test-abstract", Mode: 0o600}
	ln, err := s.Listen(t.Context())
	if err == nil {
		ln.Close()
	}
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalidValue) || e.Part != "mode" {
		t.Errorf("Server{Mode: 0600} on an abstract socket: Listen err = %v, want ErrInvalidValue about mode", err)
	}
	// Without mode= (or with the default), it listens.
	for _, s := range []*Server{{Type: "unix", Address: "@weft-test-abstract"}, {Type: "unix", Address: "@weft-test-abstract", Mode: DefaultUnixMode}} {
		ln, err := s.Listen(t.Context())
		if err != nil {
			t.Errorf("Listen(%+v): %v", s, err)
			continue
		}
		ln.Close()
	}
}

// parseServerError is a description ParseServer refuses: the error names
// part and matches want.
type parseServerError struct {
	desc, part string
	want       error
}

// checkParseServerErrors checks that ParseServer refuses each description
// with an *Error naming it and the part at fault, matching the sentinel.
func checkParseServerErrors(t *testing.T, tests []parseServerError) {
	t.Helper()
	for _, tt := range tests {
		_, err := ParseServer(tt.desc)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, tt.want) || e.Part != tt.part || e.Desc != tt.desc {
			t.Errorf("ParseServer(%q) err = %v (%#v), want part %q matching %v", tt.desc, err, e, tt.part, tt.want)
		}
	}
}
