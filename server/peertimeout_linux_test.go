package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestPeerTimeoutRealSocket: a client that stops taking the server's output
// (a zero receive window it never opens again, as a host that froze keeps
// it) is dropped by the kernel once TCP_USER_TIMEOUT passes (Linux applies
// it to zero-window probes); the server's write then fails with ETIMEDOUT,
// which it counts as "peer timeout" and logs at Debug. The listener's
// TCP_USER_TIMEOUT (300 ms) is inherited by the accepted sockets.
// MaxWriteBuffer is large enough that the server does not drop the client
// as a slow consumer first.
func TestPeerTimeoutRealSocket(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
				var serr error
				err := c.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, 0x12 /* TCP_USER_TIMEOUT */, 300)
				})
				return errors.Join(err, serr)
			}}
			l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			rec := &recordHandler{}
			lost := make(chan error, 1)
			f := weft.FactoryFunc(func(net.Addr) weft.Protocol { return &flooder{lost: lost} })
			s := &Server{Factory: f, Logger: slog.New(rec), Engine: engine(t), MaxWriteBuffer: 64 << 20}
			serveWith(t, s, func() error { return s.Serve(l) })
			d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
				return c.Control(func(fd uintptr) {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
				})
			}}
			c, err := d.Dial("tcp4", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close() // never read: the window closes and stays closed
			select {
			case err := <-lost:
				if !errors.Is(err, syscall.ETIMEDOUT) {
					t.Fatalf("ConnectionLost(%v), want ETIMEDOUT", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no ConnectionLost within 20 s of a closed window with TCP_USER_TIMEOUT 300 ms")
			}
			wantQuietClose(t, s, rec, "peer timeout")
		})
	}
}
