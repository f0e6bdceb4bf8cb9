package endpoint

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Twisted's TLS server keywords extraCertChain, sslmethod and dhParameters:
// the chain is sent after the certificate, the method pins the version,
// the DH parameters file is checked and not used.
func TestServerTLSTwistedKeywords(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	chainFile, _, chainCert := writeCert(t, t.TempDir())
	dhFile := filepath.Join(dir, "dh.pem")
	if err := os.WriteFile(dhFile, []byte("-----BEGIN DH PARAMETERS-----\nMAYCAQACAQI=\n-----END DH PARAMETERS-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "ssl:8443:privateKey=" + Quote(keyFile) + ":certKey=" + Quote(certFile)

	s, err := ParseServer(base + ":extraCertChain=" + Quote(chainFile) + ":dhParameters=" + Quote(dhFile))
	if err != nil {
		t.Fatal(err)
	}
	chain := s.TLS.Certificates[0].Certificate
	if len(chain) != 2 || string(chain[1]) != string(chainCert.Raw) {
		t.Errorf("certificate chain has %d certificates, want the leaf then extraCertChain's", len(chain))
	}

	for _, tc := range []struct {
		method   string
		min, max uint16
	}{
		{"SSLv23_METHOD", tls.VersionTLS12, 0},
		{"TLS_METHOD", tls.VersionTLS12, 0},
		{"TLSv1_METHOD", tls.VersionTLS10, tls.VersionTLS10},
		{"TLSv1_1_METHOD", tls.VersionTLS11, tls.VersionTLS11},
		{"TLSv1_2_METHOD", tls.VersionTLS12, tls.VersionTLS12},
	} {
		s, err := ParseServer(base + ":sslmethod=" + tc.method)
		if err != nil {
			t.Errorf("%s: %v", tc.method, err)
			continue
		}
		if s.TLS.MinVersion != tc.min || s.TLS.MaxVersion != tc.max {
			t.Errorf("%s: versions %#x–%#x, want %#x–%#x", tc.method, s.TLS.MinVersion, s.TLS.MaxVersion, tc.min, tc.max)
		}
	}

	for _, tc := range []struct {
		extra, part string
		want        []string
	}{
		{":sslmethod=SSLv3_METHOD", "sslmethod", []string{"SSLv3_METHOD", "TLSv1_2_METHOD"}},
		{":extraCertChain=" + Quote(keyFile), "extraCertChain", []string{keyFile, "no PEM certificate"}},
		{":extraCertChain=" + Quote(filepath.Join(dir, "missing.pem")), "extraCertChain", []string{"missing.pem"}},
		{":dhParameters=" + Quote(dir), "dhParameters", []string{"not a regular file"}},
	} {
		_, err := ParseServer(base + tc.extra)
		var e *Error
		if !errors.As(err, &e) || e.Part != tc.part {
			t.Errorf("%s: error %v, want one about %s", tc.extra, err, tc.part)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.extra, err, w)
			}
		}
	}
}
