package weft_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// halfRecorder is a recorder that is HalfCloseable: it counts
// ReadConnectionLost and answers it with "bye\n" and a LoseConnection.
type halfRecorder struct {
	*recorder
	readLost atomic.Int32
}

func (h *halfRecorder) ReadConnectionLost() {
	h.readLost.Add(1)
	h.transport().Write([]byte("bye\n"))
	h.transport().LoseConnection()
}

// TestTLSTruncated: after StartTLS, a peer that ends the stream under TLS
// without a close_notify alert (a FIN on the socket, or a half-close of it)
// gives ConnectionLost ErrTLSTruncated, which also matches
// io.ErrUnexpectedEOF, and never ReadConnectionLost; the output written
// before still reaches the peer. A close_notify (Close, or CloseWrite: the
// TLS half-close) ends cleanly, as before. On both engines.
func TestTLSTruncated(t *testing.T) {
	for _, tc := range []struct {
		name      string
		half      bool                      // the Protocol is HalfCloseable
		end       func(*tls.Conn, net.Conn) // how the peer ends its side
		truncated bool
		readLost  int32
	}{
		{"close_notify then close", false, func(tc *tls.Conn, _ net.Conn) { tc.Close() }, false, 0},
		{"socket closed, no close_notify", false, func(_ *tls.Conn, raw net.Conn) { raw.Close() }, true, 0},
		{"TLS half-close (close_notify)", true, func(tc *tls.Conn, _ net.Conn) { tc.CloseWrite() }, false, 1},
		{"socket half-closed, no close_notify", true, func(_ *tls.Conn, raw net.Conn) { raw.(*net.TCPConn).CloseWrite() }, true, 0},
	} {
		for _, tr := range tcpAndEngine {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				cfg, pool := testCert(t)
				s, c := tr.pair(t)
				r := newRecorder(t)
				r.onMade = func(tr weft.Transport) {
					if err := tr.StartTLS(cfg); err != nil {
						t.Error(err)
					}
				}
				var answered atomic.Bool
				r.onData = func(tr weft.Transport, d []byte) {
					if !answered.Swap(true) {
						tr.Write([]byte("got it\n"))
					}
				}
				var proto weft.Protocol = r
				hr := &halfRecorder{recorder: r}
				if tc.half {
					proto = hr
				}
				done := serve(s, proto, nil)
				client := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
				c.SetDeadline(time.Now().Add(10 * time.Second))
				raw := c
				if _, err := client.Write([]byte("hello\n")); err != nil {
					t.Fatal(err)
				}
				readAll := func(want string) {
					t.Helper()
					got, err := io.ReadAll(client)
					if string(got) != want || err != nil {
						t.Errorf("the peer read %q, %v; want %q then the end (a close_notify)", got, err, want)
					}
				}
				if tc.half {
					// The peer can still read: the reply written before
					// the end was seen, and the answer to a clean end,
					// come after it.
					tc.end(client, raw)
					want := "got it\n"
					if tc.readLost > 0 {
						want += "bye\n"
					}
					readAll(want)
				} else {
					got := make([]byte, len("got it\n"))
					if _, err := io.ReadFull(client, got); err != nil || string(got) != "got it\n" {
						t.Fatalf("reply %q, %v", got, err)
					}
					tc.end(client, raw)
				}
				reason := r.waitLost(t)
				if tc.truncated {
					if !errors.Is(reason, weft.ErrTLSTruncated) || !errors.Is(reason, io.ErrUnexpectedEOF) {
						t.Errorf("ConnectionLost(%v), want ErrTLSTruncated (and io.ErrUnexpectedEOF)", reason)
					}
				} else if reason != nil {
					t.Errorf("ConnectionLost(%v), want nil", reason)
				}
				if got := hr.readLost.Load(); got != tc.readLost {
					t.Errorf("ReadConnectionLost called %d times, want %d", got, tc.readLost)
				}
				if got := string(r.received()); got != "hello\n" {
					t.Errorf("received %q, want \"hello\\n\"", got)
				}
				if err := waitServe(t, done); err != reason {
					t.Errorf("Serve = %v, want ConnectionLost's reason %v", err, reason)
				}
			})
		}
	}
}
