package weft_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// embeddedTLS is a wrapper that embeds a *tls.Conn: it gets the TLS
// layer's methods, NetConn among them, which returns the socket under the
// TLS layer (skipping it).
type embeddedTLS struct{ *tls.Conn }

// rawTap records the bytes read through it.
type rawTap struct {
	net.Conn
	mu  sync.Mutex
	got []byte
}

func (r *rawTap) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.got = append(r.got, p[:n]...)
	r.mu.Unlock()
	return n, err
}

// recordTypes returns the content types of the TLS records in b.
func recordTypes(b []byte) []byte {
	var types []byte
	for len(b) >= 5 {
		n := int(b[3])<<8 | int(b[4])
		types = append(types, b[0])
		if len(b) < 5+n {
			break
		}
		b = b[5+n:]
	}
	return types
}

// LoseWriteConnection on a wrapper that embeds a *tls.Conn (its NetConn,
// promoted, exposes the socket and hides the TLS layer): the half-close
// must not shut the socket's write side under the TLS layer without its
// close_notify (the peer could not tell the end from a truncation). It
// either reports ErrNotSupported, as for other wrappers around a
// *tls.Conn, or sends close_notify first.
func TestReview2LoseWriteConnectionEmbeddedTLS(t *testing.T) {
	cfg, pool := testCert(t)
	s, c := tcpPair(t)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	lwc := make(chan error, 1)
	p := newRecorder(t)
	p.onMade = func(tr weft.Transport) {
		tr.Write([]byte("hello"))
		err := weft.LoseWriteConnection(tr)
		if err != nil {
			tr.LoseConnection()
		}
		lwc <- err
	}
	done := serve(embeddedTLS{tls.Server(s, cfg)}, p, &weft.Options{})
	tap := &rawTap{Conn: c}
	tc := tls.Client(tap, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12})
	got, rerr := io.ReadAll(tc)
	if string(got) != "hello" {
		t.Errorf("client read %q (%v), want hello", got, rerr)
	}
	err := <-lwc
	if err == nil {
		tap.mu.Lock()
		types := recordTypes(tap.got)
		tap.mu.Unlock()
		alert := false
		for _, typ := range types {
			alert = alert || typ == 21 // TLS 1.2: an alert record (close_notify)
		}
		if !alert {
			t.Errorf("LoseWriteConnection = nil, but the peer got the end of stream without a close_notify (records %v)", types)
		}
	} else if !errors.Is(err, weft.ErrNotSupported) {
		t.Errorf("LoseWriteConnection = %v, want nil or ErrNotSupported", err)
	}
	tc.Close()
	c.Close()
	if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("Serve = %v", err)
	}
}
