package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// closedNow reports whether the server end of the pipe c was closed already
// (without waiting: a read with an expired deadline). Bytes the server is
// still trying to write are left unread.
func closedNow(c net.Conn) bool {
	c.SetReadDeadline(time.Now())
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := c.Read(b[:0])
	if err == nil {
		_, err = c.Read(b[:])
	}
	return errors.Is(err, io.EOF)
}

// TestHandshakeFlood: silent clients on a TLS listener each hold a goroutine
// and a descriptor for HandshakeTimeout; beyond DefaultMaxHandshakes at once
// a new one is closed at once (no goroutine), counted in
// Rejected["max handshakes"], and the ones within the cap are unaffected.
// Once the silent ones timed out, their slots are free again.
func TestHandshakeFlood(t *testing.T) {
	srvTLS, cliTLS := testTLS(t)
	const limit = DefaultMaxHandshakes
	const n = limit + 76
	now := time.Now() // the certificate's clock: the bubble's starts in 2000
	cliTLS.Time = func() time.Time { return now }
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: echoFactory()}
		pl := newPipeListener()
		done := make(chan error, 1)
		go func() { done <- s.Serve(tls.NewListener(pl, srvTLS)) }()
		clients := make([]net.Conn, n)
		for i := range clients {
			clients[i] = pl.Dial()
		}
		synctest.Wait()
		closed := 0
		for _, c := range clients {
			if closedNow(c) {
				closed++
			}
		}
		if closed != n-limit {
			t.Errorf("%d of %d silent TLS clients closed at once, want %d (all but %d handshakes at once)", closed, n, n-limit, limit)
		}
		snap := s.Snapshot()
		if got := snap.Rejected["max handshakes"]; got != n-limit {
			t.Errorf("Rejected[max handshakes] = %d, want %d", got, n-limit)
		}
		if snap.Handshaking != limit {
			t.Errorf("Handshaking = %d, want %d", snap.Handshaking, limit)
		}
		if snap.Closed["rejected"] != n-limit {
			t.Errorf("Closed[rejected] = %d, want %d", snap.Closed["rejected"], n-limit)
		}
		// The silent ones time out and give their slots back.
		time.Sleep(DefaultHandshakeTimeout)
		synctest.Wait()
		snap = s.Snapshot()
		if snap.Handshaking != 0 || snap.Closed["handshake timeout"] != limit {
			t.Errorf("after the timeout: Handshaking %d, Closed[handshake timeout] %d; want 0 and %d",
				snap.Handshaking, snap.Closed["handshake timeout"], limit)
		}
		for _, c := range clients {
			c.Close()
		}
		tc := tls.Client(pl.Dial(), cliTLS)
		go func() {
			tc.Write([]byte("after the flood"))
		}()
		got := make([]byte, len("after the flood"))
		if _, err := io.ReadFull(tc, got); err != nil || string(got) != "after the flood" {
			t.Errorf("TLS client after the flood: %q, %v", got, err)
		}
		tc.Close()
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
	})
}

// TestMaxHandshakes: the configured cap, on a TLS listener and on a PROXY
// listener (trusted source reading a header, untrusted one awaiting its
// first bytes); a plain listener's connections take no slot.
func TestMaxHandshakes(t *testing.T) {
	srvTLS, _ := testTLS(t)
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	for _, tc := range []struct {
		name  string
		serve func(s *Server, l *pipeListener) error
		limit int
	}{
		{"tls", func(s *Server, l *pipeListener) error { return s.Serve(tls.NewListener(l, srvTLS)) }, 2},
		{"proxy-trusted", func(s *Server, l *pipeListener) error { return s.ServeProxy(tcpAddrListener{l}, trusted) }, 2},
		{"proxy-untrusted", func(s *Server, l *pipeListener) error {
			return s.ServeProxy(tcpAddrListener{l}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		}, 2},
		{"plain", func(s *Server, l *pipeListener) error { return s.Serve(l) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), MaxHandshakes: 2}
				pl := newPipeListener()
				done := make(chan error, 1)
				go func() { done <- tc.serve(s, pl) }()
				const n = 5
				var clients []net.Conn
				for range n {
					clients = append(clients, pl.Dial())
				}
				synctest.Wait()
				closed := 0
				for _, c := range clients {
					if closedNow(c) {
						closed++
					}
				}
				want := 0
				if tc.limit > 0 {
					want = n - tc.limit
				}
				if closed != want {
					t.Errorf("%d of %d closed at once, want %d", closed, n, want)
				}
				if got := s.Snapshot().Rejected["max handshakes"]; got != int64(want) {
					t.Errorf("Rejected[max handshakes] = %d, want %d", got, want)
				}
				if got := s.Snapshot().Handshaking; got != int64(tc.limit) {
					t.Errorf("Handshaking = %d, want %d", got, tc.limit)
				}
				s.Close()
				for _, c := range clients {
					c.Close()
				}
				if err := <-done; !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve = %v", err)
				}
				if got := s.Snapshot().Handshaking; got != 0 {
					t.Errorf("Handshaking after Close = %d, want 0", got)
				}
			})
		})
	}
}

// TestRejectLingerFlood: rejected clients that neither read nor close each
// keep a goroutine and a descriptor for RejectLinger; beyond MaxLingering
// (DefaultMaxLingering, or the field) lingering at once a rejected one is
// closed at once, without the message, and counted in LingerSkipped.
func TestRejectLingerFlood(t *testing.T) {
	for _, tc := range []struct {
		name     string
		field    int
		limit, n int
	}{
		{"default", 0, DefaultMaxLingering, DefaultMaxLingering + 44},
		{"field", 3, 3, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), MaxConns: 1, RejectMessage: []byte("busy\r\n"), MaxLingering: tc.field}
				pl := newPipeListener()
				done := make(chan error, 1)
				go func() { done <- s.Serve(pl) }()
				occupant := pl.Dial()
				synctest.Wait()
				clients := make([]net.Conn, tc.n)
				for i := range clients {
					clients[i] = pl.Dial()
				}
				synctest.Wait()
				closed := 0
				for _, c := range clients {
					if closedNow(c) {
						closed++
					}
				}
				if closed != tc.n-tc.limit {
					t.Errorf("%d of %d rejected clients closed at once, want %d (all but %d lingering at once)", closed, tc.n, tc.n-tc.limit, tc.limit)
				}
				snap := s.Snapshot()
				if snap.Rejected["max conns"] != int64(tc.n) || snap.LingerSkipped != int64(tc.n-tc.limit) || snap.Lingering != int64(tc.limit) {
					t.Errorf("Rejected[max conns] %d, LingerSkipped %d, Lingering %d; want %d, %d, %d",
						snap.Rejected["max conns"], snap.LingerSkipped, snap.Lingering, tc.n, tc.n-tc.limit, tc.limit)
				}
				// A client within the cap still gets the whole message
				// (then EOF when its linger ends).
				lingering := 0
				reads := make(chan string, tc.n)
				for _, c := range clients {
					if closedNow(c) {
						continue
					}
					lingering++
					go func() {
						b, err := io.ReadAll(c)
						reads <- fmt.Sprintf("%q, %v", b, err)
					}()
				}
				for range lingering {
					if got, want := <-reads, `"busy\r\n", <nil>`; got != want {
						t.Errorf("lingering client read %s; want %s", got, want)
					}
				}
				if lingering != tc.limit {
					t.Errorf("%d clients lingering, want %d", lingering, tc.limit)
				}
				synctest.Wait()
				if got := s.Snapshot().Lingering; got != 0 {
					t.Errorf("Lingering = %d after the clients read, want 0", got)
				}
				occupant.Close()
				s.Close()
				for _, c := range clients {
					c.Close()
				}
				if err := <-done; !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve = %v", err)
				}
			})
		})
	}
}

// slowStopFactory's Stop takes a second (of fake time in a bubble).
type slowStopFactory struct {
	weft.Factory
	stopped atomic.Bool
}

func (f *slowStopFactory) Stop() { time.Sleep(time.Second); f.stopped.Store(true) }

// TestCloseWaitsForFactoryStop: Close (and Shutdown) return only once the
// Factory's Stop has returned, with or without connections.
// (Over net.Pipe in a synctest bubble, where a readiness engine cannot
// run: it takes sockets only, and its epoll waits are no durable block.
// TestCloseWaitsForFactoryStopLoopback runs this on both engines over loopback.)
func TestCloseWaitsForFactoryStop(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conn  bool
		close func(s *Server)
	}{
		{"close", false, func(s *Server) { s.Close() }},
		{"close-with-conn", true, func(s *Server) { s.Close() }},
		{"shutdown", false, func(s *Server) { s.Shutdown(context.Background()) }},
		{"shutdown-with-conn", true, func(s *Server) { s.Shutdown(context.Background()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &slowStopFactory{Factory: echoFactory()}
				s := &Server{Factory: f}
				pl := newPipeListener()
				done := make(chan error, 1)
				go func() { done <- s.Serve(pl) }()
				if tc.conn {
					c := pl.Dial()
					defer c.Close()
					go io.Copy(io.Discard, c)
				}
				synctest.Wait()
				tc.close(s)
				if !f.stopped.Load() {
					t.Errorf("%s returned before the Factory's Stop did", tc.name)
				}
				if err := <-done; !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve = %v", err)
				}
			})
		})
	}
}

// TestBuildProtocolPanic: a BuildProtocol that panics costs its connection
// only: closed, counted as Closed["panic"], logged at Error with the panic
// value; the server keeps serving.
func TestBuildProtocolPanic(t *testing.T) {
	for name, engine := range engines(t) {
		for _, maxConns := range []int{0, 10} {
			t.Run(fmt.Sprintf("%s/maxconns=%d", name, maxConns), func(t *testing.T) {
				var calls atomic.Int32
				f := weft.FactoryFunc(func(net.Addr) weft.Protocol {
					if calls.Add(1) == 1 {
						panic("boom in BuildProtocol")
					}
					return &echo{}
				})
				var logs testenv.SyncBuffer
				s := &Server{Factory: f, MaxConns: maxConns, Engine: engine(t),
					Logger: slog.New(slog.NewTextHandler(&logs, nil))}
				addr := serve(t, s)
				if got := readAll(t, dial(t, addr)); len(got) != 0 {
					t.Errorf("client of the panicking BuildProtocol got %q", got)
				}
				roundTrip(t, dial(t, addr), "still serving")
				waitFor(t, "panic counted", func() bool { return s.Snapshot().Closed["panic"] == 1 })
				// Logged right after it is counted.
				waitFor(t, "an Error line with the panic value", func() bool {
					l := logs.String()
					return strings.Contains(l, "level=ERROR") && strings.Contains(l, "boom in BuildProtocol")
				})
				if s.MaxConns > 0 {
					// The slot was given back.
					s.mu.Lock()
					active := s.active
					s.mu.Unlock()
					if active != 1 {
						t.Errorf("active slots = %d, want 1 (the echo client)", active)
					}
				}
			})
		}
	}
}
