package server

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestHandshakeAbandonedLogsDebug: a client that goes away during the TLS
// handshake or before its PROXY header is whole (a port scanner, a load
// balancer's TCP health check, a browser dropping a connection it opened
// ahead) is counted as "handshake failed" but logged at Debug, like a clean
// close; on a public server these outnumber real failures. A client that
// sends what is not a handshake (plain text to a TLS listener, a bad PROXY
// header) is still a failure logged at Warn.
func TestHandshakeAbandonedLogsDebug(t *testing.T) {
	cases := []struct {
		name  string
		proxy bool
		act   func(t *testing.T, c net.Conn)
		warn  bool
		want  string // the close reason; "" is "handshake failed"
	}{
		{"tls/closed at once", false, func(t *testing.T, c net.Conn) { c.Close() }, false, ""},
		{"tls/reset at once", false, func(t *testing.T, c net.Conn) { resetClose(t, c) }, false, ""},
		{"tls/closed mid-hello", false, func(t *testing.T, c net.Conn) {
			c.Write([]byte{0x16, 0x03, 0x01, 0x01, 0x00, 0x01}) // a record header and a byte of a ClientHello
			c.Close()
		}, false, ""},
		{"tls/reset mid-hello", false, func(t *testing.T, c net.Conn) {
			c.Write([]byte{0x16, 0x03, 0x01, 0x01, 0x00, 0x01})
			time.Sleep(20 * time.Millisecond) // read by the server before the reset
			resetClose(t, c)
		}, false, ""},
		{"tls/plain text", false, func(t *testing.T, c net.Conn) {
			c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			readAll(t, c)
			c.Close()
		}, true, ""},
		// No byte at all before the end is a clean close (as a TCP health
		// check's), where a PROXY header is expected.
		{"proxy/closed at once", true, func(t *testing.T, c net.Conn) { c.Close() }, false, "clean"},
		{"proxy/closed mid-header", true, func(t *testing.T, c net.Conn) {
			c.Write([]byte("PROXY TCP4 192.0.2.1 "))
			c.Close()
		}, false, ""},
		{"proxy/reset mid-header", true, func(t *testing.T, c net.Conn) {
			c.Write([]byte("PROXY TCP4 192.0.2.1 "))
			time.Sleep(20 * time.Millisecond)
			resetClose(t, c)
		}, false, ""},
		{"proxy/bad header", true, func(t *testing.T, c net.Conn) {
			c.Write([]byte("PROXY SCTP 1 2 3 4\r\n"))
			readAll(t, c)
			c.Close()
		}, true, ""},
	}
	for _, tc := range cases {
		if tc.want == "" {
			tc.want = "handshake failed"
		}
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordHandler{}
			s := &Server{Factory: echoFactory(), Logger: slog.New(rec)}
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if tc.proxy {
				serveWith(t, s, func() error { return s.ServeProxy(l, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}) })
			} else {
				srvTLS, _ := testTLS(t)
				serveWith(t, s, func() error { return s.Serve(tls.NewListener(l, srvTLS)) })
			}
			c := dial(t, l.Addr().String())
			c.SetDeadline(time.Now().Add(10 * time.Second))
			tc.act(t, c)
			waitFor(t, "the close counted", func() bool { return sum(s.Snapshot().Closed) == 1 })
			waitFor(t, "the close logged", func() bool {
				return rec.has(slog.LevelDebug, "server: closed") || rec.has(slog.LevelWarn, "server: connection failed")
			})
			if closed := nonZero(s.Snapshot().Closed); len(closed) != 1 || closed[tc.want] != 1 {
				t.Errorf("Snapshot.Closed %v, want {%s: 1}", closed, tc.want)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			var warned, debug bool
			for _, r := range rec.recs {
				switch {
				case r.Level == slog.LevelWarn && r.Message == "server: connection failed":
					warned = true
				case r.Level >= slog.LevelWarn:
					t.Errorf("logged at %v: %s %s", r.Level, r.Message, attrsOf(r))
				case r.Level == slog.LevelDebug && r.Message == "server: closed":
					debug = true
					if got := attrsOf(r)["reason"]; got != tc.want {
						t.Errorf("Debug %q with reason %q, want %q", r.Message, got, tc.want)
					}
				}
			}
			if warned != tc.warn || debug == tc.warn {
				t.Errorf("Warn %v, Debug %v; want Warn %v (the client %s)", warned, debug, tc.warn,
					map[bool]string{true: "sent what is not a handshake", false: "went away"}[tc.warn])
			}
		})
	}
}

// sum returns the total of a Snapshot's counts.
func sum(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}
