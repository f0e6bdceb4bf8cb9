package endpoint

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tokenizer vectors from Twisted's test_endpoints (ParserTests) and
// twisted-semantics.md §5.
func TestTokenize(t *testing.T) {
	tests := []struct {
		desc string
		pos  []string
		kw   map[string]string
	}{
		{"tcp:80", []string{"tcp", "80"}, map[string]string{}},
		{"a:b:d=1:c", []string{"a", "b", "c"}, map[string]string{"d": "1"}},
		{"unix:address=foo=bar", []string{"unix"}, map[string]string{"address": "foo=bar"}},
		{`unix:foo\:bar\=baz\:qux\\`, []string{"unix", `foo:bar=baz:qux\`}, map[string]string{}},
		{"tcp:80:=x", []string{"tcp", "80"}, map[string]string{"": "x"}},
		{"tcp::", []string{"tcp", "", ""}, map[string]string{}},
		{"x=y:z", []string{"z"}, map[string]string{"x": "y"}},
		{"tcp:80:backlog=1:backlog=2", []string{"tcp", "80"}, map[string]string{"backlog": "2"}},
		{`tcp6:8080:interface=\:\:1`, []string{"tcp6", "8080"}, map[string]string{"interface": "::1"}},
		{"", []string{""}, map[string]string{}},
	}
	for _, tt := range tests {
		a, err := tokenize(tt.desc)
		if err != nil {
			t.Errorf("tokenize(%q): %v", tt.desc, err)
			continue
		}
		if !reflect.DeepEqual(a.pos, tt.pos) || !reflect.DeepEqual(a.kw, tt.kw) {
			t.Errorf("tokenize(%q) = %q %q, want %q %q", tt.desc, a.pos, a.kw, tt.pos, tt.kw)
		}
	}
	if _, err := tokenize(`tcp:80\`); !errors.Is(err, ErrSyntax) {
		t.Errorf("trailing backslash: err = %v, want ErrSyntax", err)
	}
}

// A description with keywords but no positional names no type; the error
// says so rather than calling it empty.
func TestParseNoType(t *testing.T) {
	for _, desc := range []string{"x=y", "port=80:interface=127.0.0.1"} {
		for name, parse := range map[string]func(string) error{
			"ParseServer": func(d string) error { _, err := ParseServer(d); return err },
			"ParseClient": func(d string) error { _, err := ParseClient(d); return err },
		} {
			err := parse(desc)
			var e *Error
			if !errors.As(err, &e) || e.Part != "type" || !errors.Is(err, ErrArguments) ||
				!strings.Contains(err.Error(), "missing endpoint type") {
				t.Errorf("%s(%q) = %v, want a missing type error (ErrArguments)", name, desc, err)
			}
		}
	}
	if _, err := ParseServer(""); err == nil || !strings.Contains(err.Error(), "empty description") {
		t.Errorf(`ParseServer("") = %v, want "empty description"`, err)
	}
}

func TestQuote(t *testing.T) {
	if got, want := Quote(`some : stuff \`), `some \: stuff \\`; got != want {
		t.Errorf("Quote = %q, want %q", got, want)
	}
}

// Property: any string quoted is read back as one positional, unchanged,
// whatever surrounds it.
func TestQuoteRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`ab:=\ 1/`)
	for range 2000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		s := string(b)
		a, err := tokenize("unix:" + Quote(s) + ":mode=600")
		if err != nil || len(a.pos) != 2 || a.pos[1] != s || a.kw["mode"] != "600" {
			t.Fatalf("round trip of %q: %q %q %v", s, a.pos, a.kw, err)
		}
		a, err = tokenize("unix:address=" + Quote(s))
		if err != nil || a.kw["address"] != s {
			t.Fatalf("keyword round trip of %q: %q %v", s, a.kw, err)
		}
	}
}

func TestErrorText(t *testing.T) {
	_, err := ParseServer("tcp:80:backlog=x")
	want := `endpoint: tcp:80:backlog=x: backlog: invalid value: invalid integer "x"`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Part != "backlog" || !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("err = %#v, want *Error about backlog matching ErrInvalidValue", err)
	}
}

// FuzzParse: no description makes the parsers panic, hang or misbehave, and
// every error names the description.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"tcp:80", `tcp6:8080:interface=\:\:1`, "unix:/x:mode=660:lockfile=0",
		"tcp:host=h:port=1:timeout=7", "tls:h:443:insecure=yes", "a:b:d=1:c", `x\`, `tcp:80:proxy=10.0.0.0/8,\:\:1`, "unix:path=/tmp/x:timeout=1.5", "tcp:80:backlog=99999999999999999999",
		`tcp6:0:interface=\:\:ffff\:127.0.0.1`, `tcp:0:interface=fe80\:\:1%lo`, "unix:@a:mode=600", "tcp:80:interface=[1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, desc string) {
		if strings.Contains(desc, "privateKey") || strings.Contains(desc, "certKey") ||
			strings.Contains(desc, "caCerts") || strings.Contains(desc, "certificate") ||
			strings.Contains(desc, "key=") || strings.Contains(desc, "cert=") || strings.Contains(desc, "trustRoots") {
			t.Skip("file-reading keywords are not fuzzed")
		}
		// Tokenizing then quoting every argument and re-joining gives back
		// the same arguments.
		if a, err := tokenize(desc); err == nil {
			var parts []string
			for _, p := range a.pos {
				parts = append(parts, Quote(p))
			}
			for _, k := range a.seq {
				parts = append(parts, Quote(k)+"="+Quote(a.kw[k]))
			}
			b, err := tokenize(strings.Join(parts, ":"))
			if err != nil || !reflect.DeepEqual(a.pos, b.pos) && len(a.pos)+len(b.pos) > 0 || !reflect.DeepEqual(a.kw, b.kw) {
				t.Fatalf("%q: re-quoted %q gives %q %q, want %q %q (%v)", desc, strings.Join(parts, ":"), b.pos, b.kw, a.pos, a.kw, err)
			}
		}
		for _, parse := range []func(string) error{
			func(d string) error { _, err := ParseServer(d); return err },
			func(d string) error { _, err := ParseClient(d); return err },
		} {
			if err := parse(desc); err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Desc != desc || !strings.HasPrefix(err.Error(), "endpoint: "+desc+": ") {
					t.Fatalf("%q: error %v is not an *Error naming the description", desc, err)
				}
				if !isSentinel(err) {
					t.Fatalf("%q: error %v matches no sentinel", desc, err)
				}
				// Every error but a tokenizer one names the part at fault;
				// an unknown keyword is one that was given.
				if e.Part == "" && !errors.Is(err, ErrSyntax) {
					t.Fatalf("%q: error %v names no part", desc, err)
				}
				if a, _ := tokenize(desc); errors.Is(err, ErrUnknownKeyword) && !slices.Contains(a.seq, e.Part) &&
					!(slices.Contains(a.seq, "") && strings.HasPrefix(e.Part, "=")) {
					t.Fatalf("%q: unknown keyword %q was not given (%q)", desc, e.Part, a.seq)
				}
			}
		}
		// What parses is listenable or dialable as described: a tcp address
		// splits into host and a port in range, a unix path fits sun_path and
		// holds no NUL.
		if s, err := ParseServer(desc); err == nil {
			if s.Type == "unix" {
				if err := checkUnixPath(s.Address); err != nil {
					t.Fatalf("%q: server path accepted: %v", desc, err)
				}
			} else if host, port, err := net.SplitHostPort(s.Address); err != nil {
				t.Fatalf("%q: server address %q: %v", desc, s.Address, err)
			} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				t.Fatalf("%q: server port %q", desc, port)
			} else if host != "" && !strings.HasPrefix(s.Network, "tcp") {
				t.Fatalf("%q: server network %q", desc, s.Network)
			} else if ip, err := netip.ParseAddr(host); host != "" && (err != nil ||
				s.Network == "tcp6" && (ip.Is4() || ip.Is4In6()) || s.Network == "tcp4" && ip.Is6() && !ip.Is4In6()) {
				// Go's tcp6 binds no IPv4 or IPv4-mapped address, tcp4 no IPv6 one.
				t.Fatalf("%q: server network %q cannot listen on %q", desc, s.Network, host)
			}
			if s.Type == "unix" && isAbstract(s.Address) && s.Mode != DefaultUnixMode {
				t.Fatalf("%q: abstract socket with mode %o", desc, s.Mode)
			}
			if s.Backlog < 0 || s.Backlog > 65535 || s.Type == "unix" && (s.Mode == 0 || s.Mode > 0o777) {
				t.Fatalf("%q: backlog %d, mode %o", desc, s.Backlog, s.Mode)
			}
		}
		if c, err := ParseClient(desc); err == nil {
			if c.Timeout <= 0 {
				t.Fatalf("%q: timeout %v", desc, c.Timeout)
			}
			if c.Type == "unix" {
				if err := checkUnixPath(c.Path); err != nil {
					t.Fatalf("%q: client path accepted: %v", desc, err)
				}
			} else if c.Port < 1 || c.Port > 65535 || c.Host == "" {
				t.Fatalf("%q: client host %q port %d", desc, c.Host, c.Port)
			} else if c.Type == "tls" && (c.TLS == nil || c.TLS.InsecureSkipVerify && !strings.Contains(desc, "insecure")) {
				t.Fatalf("%q: client TLS %+v", desc, c.TLS)
			}
		}
	})
}

// isSentinel reports whether err matches one of the package's sentinel errors.
func isSentinel(err error) bool {
	for _, s := range []error{ErrSyntax, ErrUnknownType, ErrUnknownKeyword, ErrArguments,
		ErrInvalidValue, ErrTLSConfig, ErrAddressInUse, ErrUnsupported} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// Long descriptions parse in linear time: 64 times the separators, escapes,
// keywords or positionals take far less than 64 times as long per unit (the
// best of three runs, to keep a busy machine's noise out).
func TestParseLongLinear(t *testing.T) {
	for name, unit := range map[string]string{
		"separators": ":", "escapes": `\:`, "keywords": "k=v:", "repeated": "backlog=1:", "positional": "tcp:1:",
	} {
		per := func(n int) time.Duration {
			desc := "tcp:80:" + strings.Repeat(unit, n)
			best := time.Duration(1 << 62)
			for range 3 {
				start := time.Now()
				ParseServer(desc)
				ParseClient(desc)
				best = min(best, time.Since(start))
			}
			return best / time.Duration(n)
		}
		small, big := per(2048), per(64*2048)
		if big > 16*small+100*time.Nanosecond {
			t.Errorf("%s: %v per unit at 64x the size, %v at 2048 units: super-linear", name, big, small)
		}
	}
}

// An extra empty positional (a stray ':') is named in the error, which says
// it is empty, instead of an error naming no part.
func TestParseEmptyExtraPositional(t *testing.T) {
	for _, tt := range []struct {
		client bool
		desc   string
	}{
		{false, "tcp:80:"}, {false, "unix:/x::mode=600"}, {false, "tcp:0:proxy=10.0.0.0/8:"},
		{true, "tcp:h:1:"}, {true, "tcp::host=h:port=1"}, {true, "unix:/x:"},
	} {
		var err error
		if tt.client {
			_, err = ParseClient(tt.desc)
		} else {
			_, err = ParseServer(tt.desc)
		}
		var e *Error
		if !errors.As(err, &e) || e.Part == "" || !errors.Is(err, ErrArguments) || !strings.Contains(err.Error(), "empty") {
			t.Errorf("%q: err = %v, want ErrArguments naming the empty positional", tt.desc, err)
		}
	}
	_, err := ParseServer("tcp:80:=x")
	if want := `endpoint: tcp:80:=x: =x: unknown keyword: empty keyword name (a literal '=' is written \=)`; err == nil || err.Error() != want {
		t.Errorf("empty keyword name: err = %v, want %s", err, want)
	}
}

// An IPv6 address written without escaping its colons splits into extra
// positionals; the error says how to write it (\:), and only then.
func TestParseIPv6Hint(t *testing.T) {
	for _, tt := range []struct {
		client bool
		desc   string
		hint   bool
	}{
		{false, "tcp:80:interface=::1", true},
		{false, "tcp6:80:interface=fe80::1%lo", true},
		{false, "tcp:80:interface=::ffff:10.0.0.1", true},
		{false, "tcp:80:proxy=10.0.0.0/8,::1", true},
		{true, "tcp:::1:80", true},
		{true, "tcp:[::1]:80", true},
		{true, "tls:2001:db8::1:443", true},
		{true, "tcp:h:80:bindAddress=::1", true},
		{false, "tcp:80:81", false},
		{false, "tcp:80:interface=127.0.0.1:81", false},
		{true, "tcp:h:1:2", false},
	} {
		var err error
		if tt.client {
			_, err = ParseClient(tt.desc)
		} else {
			_, err = ParseServer(tt.desc)
		}
		if err == nil {
			t.Errorf("%q: parsed", tt.desc)
			continue
		}
		if got := strings.Contains(err.Error(), `\:`); got != tt.hint {
			t.Errorf("%q: err = %v; hint about escaping ':' given: %v, want %v", tt.desc, err, got, tt.hint)
		}
	}
}
