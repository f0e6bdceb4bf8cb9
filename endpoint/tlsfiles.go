package endpoint

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxPEMSize bounds the size of a certificate or key file: a description
// pointing at /dev/zero or a huge file gets an error, not unbounded memory.
const maxPEMSize = 1 << 20

// readPEM reads a regular file of at most maxPEMSize bytes. A path that is not
// a regular file is refused without being read; it is checked before opening
// and opened non-blocking where the platform allows, because opening a FIFO
// (or some devices) for reading blocks until a writer comes.
func readPEM(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty file name", ErrTLSConfig)
	}
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTLSConfig, err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrTLSConfig, path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTLSConfig, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTLSConfig, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrTLSConfig, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPEMSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTLSConfig, err)
	}
	if len(b) > maxPEMSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrTLSConfig, path, maxPEMSize)
	}
	return b, nil
}

// loadKeyPair loads a certificate chain (the leaf first) from certFile and
// its private key from keyFile. On error it returns the keyword at fault
// (certPart or keyPart) and a reason naming the file at fault and what is
// wrong with it; both files only when the key does not match.
func loadKeyPair(certFile, keyFile, certPart, keyPart string) (tls.Certificate, string, error) {
	certPEM, err := readPEM(certFile)
	if err != nil {
		if certFile == keyFile {
			// certKey= defaulted to privateKey=: name the keyword given.
			certPart = keyPart
		}
		return tls.Certificate{}, certPart, err
	}
	keyPEM, err := readPEM(keyFile)
	if err != nil {
		return tls.Certificate{}, keyPart, err
	}
	keyHint := " (it holds a private key: are the certificate and key files switched?)"
	if certFile == keyFile {
		keyHint = fmt.Sprintf(" (it holds a private key: with %s= alone, the file must hold the certificate too; or give %s=CERT.pem)", keyPart, certPart)
	}
	certs, err := parseCertsPEM(certFile, certPEM, keyHint)
	if err != nil {
		return tls.Certificate{}, certPart, err
	}
	noKeyHint := ""
	if certFile == keyFile {
		noKeyHint = fmt.Sprintf(" (with %s= alone, the file must hold the private key too; or give %s=KEY.pem)", certPart, keyPart)
	}
	key, err := parseKeyPEM(keyFile, keyPEM, noKeyHint)
	if err != nil {
		return tls.Certificate{}, keyPart, err
	}
	pub, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok { // never: the x509 parsers return crypto.Signers
		return tls.Certificate{}, keyPart, fmt.Errorf("%w: %s: unsupported private key type %T", ErrTLSConfig, keyFile, key)
	}
	if !publicKeyEqual(pub.Public(), certs[0].PublicKey) {
		for i, c := range certs[1:] {
			if publicKeyEqual(pub.Public(), c.PublicKey) {
				return tls.Certificate{}, certPart, fmt.Errorf("%w: %s: the certificate of the private key in %s is number %d; it must come first, before its chain", ErrTLSConfig, certFile, keyFile, i+2)
			}
		}
		return tls.Certificate{}, keyPart, fmt.Errorf("%w: the private key in %s does not match the certificate in %s", ErrTLSConfig, keyFile, certFile)
	}
	// The pair is checked: built from what was parsed, not parsed again
	// (tls.X509KeyPair would).
	cert := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, c := range certs {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, "", nil
}

// parseCertsPEM parses every CERTIFICATE block of the file path holds
// (other blocks, such as a key in a combined file, are skipped); there must
// be at least one, and each must parse. keyHint ends the error of a file
// that holds a private key and no certificate.
func parseCertsPEM(path string, b []byte, keyHint string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	sawKey := false
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			sawKey = sawKey || strings.HasSuffix(block.Type, "PRIVATE KEY")
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: certificate %d: %w", ErrTLSConfig, path, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		hint := ""
		if sawKey {
			hint = keyHint
		}
		return nil, fmt.Errorf("%w: %s holds no PEM certificate%s", ErrTLSConfig, path, hint)
	}
	return certs, nil
}

// parseKeyPEM parses the first private key block of the file path holds (a
// combined file may hold certificates too), as the TLS stack does: PKCS #1,
// PKCS #8 or SEC 1 (EC). noKeyHint ends the error of a file with no key.
func parseKeyPEM(path string, b []byte, noKeyHint string) (crypto.PrivateKey, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%w: %s holds no PEM private key%s", ErrTLSConfig, path, noKeyHint)
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] == "4,ENCRYPTED" {
			return nil, fmt.Errorf("%w: %s: the private key is encrypted (not supported: store it decrypted, readable only by the server)", ErrTLSConfig, path)
		}
		if block.Type != "PRIVATE KEY" && !strings.HasSuffix(block.Type, " PRIVATE KEY") {
			continue
		}
		if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			return k, nil
		}
		if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			return k, nil
		}
		if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
			return k, nil
		}
		return nil, fmt.Errorf("%w: %s: the %s block is not a valid PKCS #1, PKCS #8 or EC private key", ErrTLSConfig, path, block.Type)
	}
}

// publicKeyEqual reports whether two public keys are the same key.
func publicKeyEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// loadCertPool loads a PEM bundle of trusted CA certificates.
func loadCertPool(path string) (*x509.CertPool, error) {
	b, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrTLSConfig, path)
	}
	return pool, nil
}

// loadCertDir loads the CA certificates of the *.pem files in dir (Twisted's
// caCertsDir= and trustRoots=). As in Twisted, a file that cannot be read or
// holds no certificate is skipped; unlike Twisted, a directory with no
// certificate at all is an error rather than a client that trusts nothing.
func loadCertDir(dir string) (*x509.CertPool, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty directory name", ErrTLSConfig)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTLSConfig, err)
	}
	pool := x509.NewCertPool()
	found := false
	for _, e := range ents {
		if !strings.EqualFold(filepath.Ext(e.Name()), ".pem") {
			continue
		}
		b, err := readPEM(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if pool.AppendCertsFromPEM(b) {
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: directory %s holds no *.pem file with a PEM certificate", ErrTLSConfig, dir)
	}
	return pool, nil
}
