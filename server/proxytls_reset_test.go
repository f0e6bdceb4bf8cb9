package server

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// aborter aborts its connection on the first bytes it receives.
type aborter struct{ t weft.Transport }

func (a *aborter) ConnectionMade(t weft.Transport) { a.t = t }
func (a *aborter) DataReceived([]byte)             { a.t.Abort() }
func (a *aborter) ConnectionLost(error)            {}

// TestAbortResetsUnderProxyTLS: Abort is a reset on a TLS connection whose
// socket is wrapped to replay the bytes read past a PROXY header (the
// server's path for a TLS client behind a proxy), as it is on a plain TLS
// one: the runtime finds the socket through NetConn. Before, the wrapper hid
// it, and the client read a clean close_notify and EOF.
func TestAbortResetsUnderProxyTLS(t *testing.T) {
	srvCfg, cliCfg := testTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	cli := tls.Client(c, cliCfg)
	defer cli.Close()
	srv := tls.Server(&prereadConn{Conn: s}, srvCfg)
	hs := make(chan error, 1)
	go func() { hs <- cli.Handshake() }()
	if err := srv.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-hs; err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	weft.NewConn(srv, &aborter{}, nil).Start(func(err error) { done <- err })
	if _, err := cli.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the connection did not end after Abort")
	}
	_ = cli.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, cli)
	if err == nil || !strings.Contains(err.Error(), "reset") {
		t.Errorf("client read %d bytes, %v; want a reset", n, err)
	}
}
