package weft_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// StartTLS on both engines: on the readiness engine a switch hands the
// connection over to a goroutine of its own (handOff), which switches as
// the goroutine engine does. The StartTLS tests that need a socket run
// over tcpAndEngine; the others over every transport.

// tcpAndEngine are the socket transports of the StartTLS tests: loopback
// TCP on the goroutine engine and on the readiness engine.
var tcpAndEngine = []struct {
	name string
	pair func(t testing.TB) (server, client net.Conn)
}{
	{"tcp", tcpPair},
	{"epoll", enginePair},
}

// withEngine returns opts for the server connection s: for one marked for
// the readiness engine (engineConn, engineUnix), a copy with Options.Engine
// set to the test engine, as serve and serveConn do; opts otherwise.
func withEngine(s net.Conn, opts *weft.Options) *weft.Options {
	switch s.(type) {
	case engineConn, engineUnix:
	default:
		return opts
	}
	o := weft.Options{}
	if opts != nil {
		o = *opts
	}
	o.Engine = testEngine
	return &o
}

// TestStartTLSIdleTimeoutEngines: IdleTimeout after a switch to TLS, in
// real time over TCP on both engines (on the readiness engine the
// connection now lives on the goroutine it was handed over to, and its
// idle timer must follow it): traffic over TLS every 100 ms keeps a
// connection with a 1 s IdleTimeout open for 2.5 s; once the peer stops,
// it ends with ErrIdleTimeout, not before 1 s after the last byte, and
// within 10 s.
func TestStartTLSIdleTimeoutEngines(t *testing.T) {
	const idle = time.Second
	cfg, pool := testCert(t)
	for _, tr := range tcpAndEngine {
		t.Run(tr.name, func(t *testing.T) {
			s, c := tr.pair(t)
			p := newSTServer(cfg)
			p.tlsData = func(tr weft.Transport, d []byte) { tr.Write(d) }
			done := serve(s, p, &weft.Options{IdleTimeout: idle})
			_, tc, _ := stClient(t, c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			if err := <-p.errc; err != nil {
				t.Fatalf("StartTLS = %v", err)
			}
			buf := make([]byte, 1)
			var last, sent time.Time // the peer's last read of an echo, and the ping before it
			for start := time.Now(); time.Since(start) < 5*idle/2; {
				if !last.IsZero() && time.Since(last) > idle*7/10 {
					t.Skipf("the test goroutine stalled for %v between two pings (IdleTimeout %v): a loaded machine", time.Since(last), idle)
				}
				sent = time.Now() // the server's last activity is after this
				if _, err := tc.Write([]byte("p")); err != nil {
					t.Fatalf("ping after %v: %v", time.Since(start), err)
				}
				if _, err := io.ReadFull(tc, buf); err != nil {
					select {
					case err := <-done:
						t.Fatalf("the connection ended (%v) after %v of traffic every 100 ms", err, time.Since(start))
					default:
					}
					t.Fatalf("echo after %v: %v", time.Since(start), err)
				}
				last = time.Now()
				time.Sleep(idle / 10)
			}
			select {
			case err := <-done:
				t.Fatalf("Serve = %v during traffic every 100 ms", err)
			default:
			}
			select {
			case err := <-done:
				if d := time.Since(sent); d < idle {
					t.Errorf("Serve returned %v %v after the last ping, before IdleTimeout %v", err, d, idle)
				}
				if !errors.Is(err, weft.ErrIdleTimeout) {
					t.Errorf("Serve = %v, want ErrIdleTimeout", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("an idle connection switched to TLS outlived IdleTimeout by 10 s")
			}
			if n, err := tc.Read(buf); n != 0 || err == nil {
				t.Errorf("peer read %d bytes, %v after the idle timeout; want the end", n, err)
			}
		})
	}
}
