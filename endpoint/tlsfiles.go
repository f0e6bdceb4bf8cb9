package endpoint

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
)

// maxPEMSize bounds the size of a certificate or key file: a description
// pointing at /dev/zero or a huge file gets an error, not unbounded memory.
const maxPEMSize = 1 << 20

// readPEM reads a regular file of at most maxPEMSize bytes. A path that is not
// a regular file is refused without being read; it is checked before opening
// and opened non-blocking where the platform allows, because opening a FIFO
// (or some devices) for reading blocks until a writer comes.
func readPEM(path string) ([]byte, error) {
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

// loadKeyPair loads a certificate chain and its key; part names the keyword
// at fault on error.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, string, error) {
	certPEM, err := readPEM(certFile)
	if err != nil {
		return tls.Certificate{}, "certKey", err
	}
	keyPEM, err := readPEM(keyFile)
	if err != nil {
		return tls.Certificate{}, "privateKey", err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, "privateKey", fmt.Errorf("%w: %s / %s: %w", ErrTLSConfig, certFile, keyFile, err)
	}
	return cert, "", nil
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
