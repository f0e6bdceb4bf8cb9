package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// stGreeter answers "STARTTLS\r\n" with "220 go\r\n" and StartTLS.
type stGreeter struct {
	cfg  *tls.Config
	t    weft.Transport
	lost chan error
}

func (g *stGreeter) ConnectionMade(t weft.Transport) { g.t = t }
func (g *stGreeter) DataReceived(d []byte) {
	if rest, ok := bytes.CutPrefix(d, []byte("STARTTLS\r\n")); ok {
		g.t.Write([]byte("220 go\r\n"))
		weft.StartTLS(g.t, g.cfg, rest)
	}
}
func (g *stGreeter) ConnectionLost(err error) { g.lost <- err }

// A client that asks for STARTTLS and never handshakes is cut at the
// server's HandshakeTimeout (DefaultHandshakeTimeout when zero), as a TLS
// listener's client would be, not held until IdleTimeout or for ever.
func TestStartTLSHandshakeTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  time.Duration
		want time.Duration
	}{
		{"default", 0, DefaultHandshakeTimeout},
		{"3s", 3 * time.Second, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg, _ := testTLS(t)
				lost := make(chan error, 1)
				s := &Server{Factory: factoryOf(func() *stGreeter { return &stGreeter{cfg: cfg, lost: lost} }), HandshakeTimeout: tc.set}
				pl := newPipeListener()
				done := make(chan error, 1)
				go func() { done <- s.Serve(pl) }()
				defer func() { s.Close(); <-done }()
				c := pl.Dial()
				defer c.Close()
				c.Write([]byte("STARTTLS\r\n"))
				reply := make([]byte, len("220 go\r\n"))
				if _, err := io.ReadFull(c, reply); err != nil {
					t.Fatal(err)
				}
				time.Sleep(tc.want - time.Millisecond)
				synctest.Wait()
				select {
				case err := <-lost:
					t.Fatalf("closed %v before the handshake timeout: %v", tc.want-time.Millisecond, err)
				default:
				}
				time.Sleep(2 * time.Millisecond)
				synctest.Wait()
				select {
				case err := <-lost:
					if !errors.Is(err, weft.ErrHandshakeTimeout) {
						t.Errorf("ConnectionLost(%v), want ErrHandshakeTimeout", err)
					}
				default:
					t.Fatalf("a stalled StartTLS handshake outlived the server's HandshakeTimeout (%v)", tc.want)
				}
			})
		})
	}
}
