package server

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"
)

// fuzzConn returns the server end of a pipe whose client writes data, then
// hangs up; cleanup closes both ends.
func fuzzConn(t *testing.T, data []byte) net.Conn {
	c, s := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Write(data)
		c.Close()
	}()
	t.Cleanup(func() { s.Close(); c.Close(); <-done })
	return s
}

func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		"", "hello\r\n", "PROXY ", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\ndata",
		"PROXY UNKNOWN\r\n", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02rest",
		"\r\n\r\n", "\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00", "PROX", "GET / HTTP/1.0\r\n",
	} {
		f.Add([]byte(s))
	}
}

// FuzzSniffUntrusted: whatever an untrusted client sends first, the sniffer
// either refuses a real PROXY signature or returns a prefix of the input of
// at most 12 bytes; it never panics or hangs.
func FuzzSniffUntrusted(f *testing.F) {
	fuzzSeeds(f)
	s := &Server{Factory: echoFactory(), HandshakeTimeout: time.Second}
	if err := s.init(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		head, err := s.sniffUntrusted(fuzzConn(t, data))
		switch {
		case errors.Is(err, ErrUntrustedProxy):
			if !bytes.HasPrefix(data, proxyV1Sig) && !bytes.HasPrefix(data, proxyV2Sig) {
				t.Fatalf("refused %q, which has no PROXY signature", data)
			}
		case err != nil:
			t.Fatalf("error %v", err)
		case len(head) > 12 || !bytes.HasPrefix(data, head):
			t.Fatalf("head %q is not a short prefix of %q", head, data)
		case bytes.HasPrefix(data, proxyV1Sig) || bytes.HasPrefix(data, proxyV2Sig):
			t.Fatalf("%q has a PROXY signature but was accepted", data)
		}
	})
}

// FuzzReadProxyHeader: a trusted source's header reader never panics or
// hangs, and the bytes it hands on appear in the input after a header.
func FuzzReadProxyHeader(f *testing.F) {
	fuzzSeeds(f)
	s := &Server{Factory: echoFactory(), HandshakeTimeout: time.Second}
	if err := s.init(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		remote, pre, err := s.readProxyHeader(fuzzConn(t, data))
		if err != nil {
			return
		}
		if remote == nil {
			t.Fatal("nil remote address without an error")
		}
		if !bytes.Contains(data, pre) {
			t.Fatalf("preread %q is not part of the input %q", pre, data)
		}
	})
}
