package endpoint

import (
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad certificate or key file gives an ErrTLSConfig about the keyword that
// names it (certKey for the certificate, privateKey for the key), whose text
// names that file and says what is wrong with it; it names the other file
// only when the problem is the pair (a key that does not match).
func TestTLSFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	otherCert, otherKey, _ := writeCert(t, t.TempDir())
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	empty := write("empty.pem", nil)
	garbage := write("garbage.pem", []byte("-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n"))
	badDER := write("bad-der.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}))
	badChain := write("bad-chain.pem", append(read(certFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})...))
	badKey := write("bad-key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("not DER")}))
	encrypted := write("encrypted.pem", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}))
	leafNotFirst := write("leaf-second.pem", append(read(otherCert), read(certFile)...))
	for _, tt := range []struct {
		name, key, cert string
		part            string   // the keyword at fault
		want            []string // in the text
		notWant         string   // not in the text
	}{
		{"empty cert", keyFile, empty, "certKey", []string{empty, "no PEM certificate"}, keyFile},
		{"garbage cert", keyFile, garbage, "certKey", []string{garbage, "no PEM certificate"}, keyFile},
		{"key as cert", keyFile, keyFile, "certKey", []string{keyFile, "no PEM certificate", "private key", "give certKey="}, ""},
		{"key as cert file", keyFile, write("key-copy.pem", read(keyFile)), "certKey", []string{"key-copy.pem", "no PEM certificate", "switched"}, keyFile},
		{"bad DER cert", keyFile, badDER, "certKey", []string{badDER, "certificate 1"}, keyFile},
		{"bad chain cert", keyFile, badChain, "certKey", []string{badChain, "certificate 2"}, keyFile},
		{"cert as key", certFile, certFile, "privateKey", []string{certFile, "no PEM private key"}, ""},
		{"empty key", empty, certFile, "privateKey", []string{empty, "no PEM private key"}, certFile},
		{"garbage key", garbage, certFile, "privateKey", []string{garbage, "no PEM private key"}, certFile},
		{"bad key", badKey, certFile, "privateKey", []string{badKey, "private key"}, certFile},
		{"encrypted key", encrypted, certFile, "privateKey", []string{encrypted, "encrypted"}, certFile},
		{"mismatch", otherKey, certFile, "privateKey", []string{otherKey, certFile, "does not match"}, ""},
		{"leaf not first", keyFile, leafNotFirst, "certKey", []string{leafNotFirst, "first"}, ""},
		{"empty cert name", keyFile, "", "certKey", []string{"empty file name"}, ""},
	} {
		desc := "tls:0:privateKey=" + Quote(tt.key) + ":certKey=" + Quote(tt.cert)
		_, err := ParseServer(desc)
		var e *Error
		if !errors.Is(err, ErrTLSConfig) || !errors.As(err, &e) || e.Part != tt.part {
			t.Errorf("%s: err = %v, want ErrTLSConfig about %s", tt.name, err, tt.part)
			continue
		}
		// The description names both files: look at the reason only.
		text := e.Err.Error()
		for _, w := range tt.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: reason %q does not contain %q", tt.name, text, w)
			}
		}
		if tt.notWant != "" && strings.Contains(text, tt.notWant) {
			t.Errorf("%s: reason %q names %s, which is not at fault", tt.name, text, tt.notWant)
		}
	}
	// The client's certificate= is reported as such.
	_, err := ParseClient("tls:h:1:certificate=" + Quote(empty) + ":privateKey=" + Quote(keyFile))
	var e *Error
	if !errors.Is(err, ErrTLSConfig) || !errors.As(err, &e) || e.Part != "certificate" || !strings.Contains(e.Err.Error(), empty) {
		t.Errorf("client certificate=empty: err = %v, want ErrTLSConfig about certificate naming %s", err, empty)
	}
	// certificate= alone names a file that must hold the key too: the
	// error says so.
	_, err = ParseClient("tls:h:1:certificate=" + Quote(certFile))
	if !errors.As(err, &e) || e.Part != "privateKey" || !strings.Contains(e.Err.Error(), "no PEM private key") || !strings.Contains(e.Err.Error(), "give privateKey=") {
		t.Errorf("client certificate= alone, without a key: err = %v, want an ErrTLSConfig saying to give privateKey=", err)
	}
	// The good pair still loads, the leaf first with its chain after it.
	chain := write("chain.pem", append(read(certFile), read(otherCert)...))
	s, err := ParseServer("tls:0:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(chain))
	if err != nil || len(s.TLS.Certificates[0].Certificate) != 2 {
		t.Errorf("leaf and chain: %v, want a certificate with a chain of 2", err)
	}
}
