package endpoint

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Punycode against RFC 3492's samples (7.1: Arabic, Chinese, Japanese with
// ASCII) and Python's punycode codec for the others.
func TestPunycode(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"bücher", "bcher-kva"},
		{"münchen", "mnchen-3ya"},
		{"例え", "r8jz45g"},
		{"ليهمابتكلموشعربي؟", "egbpdaj6bu4bxfgehfvwxn"},
		{"他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"},
		{"3年b組金八先生", "3b-ww4c5e180e575a65lsy2b"},
		{"パフィーdeルンバ", "de-jg4avhby1noc0d"},
		{"правда", "80aafi6cg"},
		{strings.Repeat("ü", 50), "tda" + strings.Repeat("a", 49)},
	} {
		got, err := punycode([]rune(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("punycode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestHostASCII(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Bücher.example", "xn--bcher-kva.example"},
		{"münchen.DE", "xn--mnchen-3ya.DE"}, // ASCII labels are left as written
		{"例え。テスト", "xn--r8jz45g.xn--zckzah"},
		{"правда.рф", "xn--80aafi6cg.xn--p1ai"},
		{"::1", "::1"},
		{"fe80::1%eth0", "fe80::1%eth0"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
	} {
		got, err := hostASCII(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("hostASCII(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		"bü cher.example",               // a space
		"bü✓.example",                   // a symbol
		"-bü.example",                   // a leading '-'
		"\u0301bü.example",              // a leading combining mark
		strings.Repeat("ü", 60) + ".de", // over 63 bytes once encoded
		"b\xffü.example",                // invalid UTF-8
		strings.Repeat("ü", 2000),       // refused before any arithmetic
		strings.Repeat(strings.Repeat("ü", 10)+".", 30) + "de", // over 253 bytes
	} {
		if got, err := hostASCII(in); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("hostASCII(%.30q) = %q, %v; want ErrInvalidValue", in, got, err)
		}
	}
}

func FuzzHostASCII(f *testing.F) {
	for _, s := range []string{"bücher.example", "例え。テスト", "a.b", "ü-ü", "\U0010ffff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := hostASCII(s)
		if err != nil {
			return
		}
		if !isASCII(a) {
			t.Fatalf("hostASCII(%q) = %q: not ASCII", s, a)
		}
		if again, err := hostASCII(a); err != nil || again != a {
			t.Fatalf("hostASCII(%q) = %q, %v: not stable", a, again, err)
		}
	})
}

// An internationalised host name is dialled and verified in its ASCII
// form: a certificate for xn--bcher-kva.example is accepted for
// "bücher.example" (reached here through endpoint=, as the name does not
// resolve).
func TestDialIDNA(t *testing.T) {
	c, err := ParseClient("tcp:bücher.example:80")
	if err != nil || c.Host != "xn--bcher-kva.example" {
		t.Fatalf("ParseClient: %+v, %v; want Host xn--bcher-kva.example", c, err)
	}
	for _, desc := range []string{"tcp:bü cher.example:80", "tls:h:1:hostname=bü✓"} {
		var e *Error
		if _, err := ParseClient(desc); !errors.As(err, &e) || !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseClient(%q): %v, want ErrInvalidValue", desc, err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"xn--bcher-kva.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serveEcho(ln)
	via := ":endpoint=" + Quote("tcp:127.0.0.1:"+portOf(ln))
	roundTrip(t, "tls:bücher.example:443:caCerts="+Quote(ca)+via)
	roundTrip(t, "tls:127.0.0.1:443:hostname=BÜCHER.example:caCerts="+Quote(ca)+via)
	direct := &Client{Type: "tls", Host: "bücher.example", Port: 443, Via: &Client{Type: "tcp", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}}
	conn, err := direct.Dial(t.Context())
	var uae x509.UnknownAuthorityError
	if !errors.As(err, &uae) { // system roots: unknown authority, not a name mismatch
		t.Errorf("a Client built directly with a Unicode Host: %v, want the name to match (an unknown authority only)", err)
	}
	if conn != nil {
		conn.Close()
	}
}
