package server

import (
	"net"
	"testing"

	"github.com/weftkit/weft"
)

// onEngines runs test as one subtest per runtime of engines(t): the
// goroutine engine (e nil) and the readiness engine. A test that serves a
// plain TCP listener without MaxConns takes, with the engine, the
// descriptor accept path (acceptfd_linux.go), the default of weft serve;
// wantFDPath checks it did.
func onEngines(t *testing.T, test func(t *testing.T, e *weft.Engine)) {
	t.Helper()
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) { test(t, engine(t)) })
	}
}

// listenFor returns a listener for a test run by onEngines, and a function
// that connects a client to it: without an engine, an in-memory pipe
// listener (as the test had before it ran on both); with one, a loopback TCP
// listener, since an engine takes sockets only (and a server with an Engine
// and no MaxConns accepts descriptors from it). The caller serves it.
func listenFor(t *testing.T, engine *weft.Engine) (net.Listener, func() net.Conn) {
	t.Helper()
	if engine == nil {
		pl := newPipeListener()
		return pl, pl.Dial
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l, func() net.Conn { return dial(t, l.Addr().String()) }
}
