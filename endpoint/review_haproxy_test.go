package endpoint

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// haproxy: wraps only descriptions whose connections can carry a PROXY
// header from a trusted address: stdio: is refused when parsed, as unix:
// is, rather than accepted and then refused by Listen for a reason that
// names none of it ("stdio takes no listening options").
func TestReviewHAProxyStdio(t *testing.T) {
	for _, desc := range []string{"haproxy:stdio:", "haproxy:stdio"} {
		_, err := ParseServer(desc)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrArguments) || e.Part != "type" || e.Desc != desc {
			t.Errorf("ParseServer(%q) err = %v, want ErrArguments about type naming %q", desc, err, desc)
		}
	}
}

// The wrapped description is written back and parsed again: values with
// ':', '=' and '\' survive (file names, a scoped IPv6 interface), keyword
// order does not matter, and each Server's Proxy list is its own.
func TestReviewHAProxyRoundTrip(t *testing.T) {
	certFile, keyFile, _ := writeCert(t, t.TempDir())
	dir := filepath.Join(t.TempDir(), `a:b=c\d`)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, `k:=\.pem`)
	cert := filepath.Join(dir, `c=:\.pem`)
	for src, dst := range map[string]string{keyFile: key, certFile: cert} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plain := "tls:0:interface=127.0.0.1:privateKey=" + Quote(key) + ":certKey=" + Quote(cert) + ":backlog=7"
	want, err := ParseServer(plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, desc := range []string{
		"haproxy:" + plain,
		"haproxy:tls:backlog=7:certKey=" + Quote(cert) + ":port=0:privateKey=" + Quote(key) + ":interface=127.0.0.1",
	} {
		got, err := ParseServer(desc)
		if err != nil {
			t.Errorf("ParseServer(%q): %v", desc, err)
			continue
		}
		if got.Address != want.Address || got.Backlog != 7 || got.TLS == nil || len(got.TLS.Certificates) != 1 ||
			!reflect.DeepEqual(got.TLS.Certificates[0].Certificate, want.TLS.Certificates[0].Certificate) ||
			!reflect.DeepEqual(got.Proxy, proxyAny) || got.Desc != desc {
			t.Errorf("ParseServer(%q) = %+v", desc, got)
		}
		got.Proxy[0] = netip.MustParsePrefix("10.0.0.0/8")
	}
	if proxyAny[0] != netip.MustParsePrefix("0.0.0.0/0") {
		t.Errorf("a Server's Proxy list is proxyAny itself: %v", proxyAny)
	}
	// A value holding '=' and ':' after the first '=' of its keyword.
	if _, err := ParseServer(`haproxy:tcp:0:proxy=10.0.0.0/8:bogus=a\:b=c`); err == nil {
		t.Errorf("an unknown keyword in the wrapped description was accepted")
	} else if e := (*Error)(nil); !errors.As(err, &e) || e.Part != "bogus" {
		t.Errorf("unknown keyword: %v, want part bogus", err)
	}
}

// The wrapped description keeps its keywords in the order written: the
// first unknown one named is the one a plain description would name.
func TestReviewHAProxyKeywordOrder(t *testing.T) {
	for _, sub := range []string{"tcp:0:zeta=1:alpha=2", "tcp:0:alpha=2:zeta=1"} {
		_, plainErr := ParseServer(sub)
		_, err := ParseServer("haproxy:" + sub)
		var pe, e *Error
		if !errors.As(plainErr, &pe) || !errors.As(err, &e) || e.Part != pe.Part {
			t.Errorf("haproxy:%s: err = %v, want the part %s names (%v)", sub, err, sub, plainErr)
		}
	}
}
