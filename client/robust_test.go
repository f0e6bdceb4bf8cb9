package client

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// runNoPanic runs r.Run and turns a panic into a test failure.
func runNoPanic(t *testing.T, r *Reconnecting, ctx context.Context) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("Run panicked: %v", p)
			err = errors.New("panicked")
		}
	}()
	return r.Run(ctx)
}

// A broken Dialer that returns neither a connection nor an error gets a
// failed attempt, not a nil-pointer panic.
func TestReconnectingDialerNilConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var failures []error
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, Backoff: &Exponential{}, MaxRetries: 1,
			Dialer:          func(context.Context, string) (net.Conn, error) { return nil, nil },
			OnConnectFailed: func(err error, _ int, _ time.Duration) { failures = append(failures, err) },
		}
		err := runNoPanic(t, r, t.Context())
		if !errors.Is(err, ErrGaveUp) || len(failures) != 2 {
			t.Errorf("Run = %v after failures %v; want ErrGaveUp after two failed attempts", err, failures)
		}
	})
}

// Dial with a Dialer that returns neither a connection nor an error
// returns an error, not a nil Conn with a nil error.
func TestDialDialerNilConn(t *testing.T) {
	c, err := Dial(t.Context(), "test", nopProto{}, &Options{
		Dialer: func(context.Context, string) (net.Conn, error) { return nil, nil },
	})
	if err == nil || c != nil {
		t.Errorf("Dial = (conn: %t), %v; want an error", c != nil, err)
	}
}

// madePanic panics in ConnectionMade.
type madePanic struct{ lost chan error }

func (madePanic) ConnectionMade(weft.Transport) { panic("boom") }
func (madePanic) DataReceived([]byte)           {}
func (p madePanic) ConnectionLost(reason error) {
	if p.lost != nil {
		p.lost <- reason
	}
}

// A Protocol whose ConnectionMade panics did not get connected: Dial
// returns the panic (ErrProtocolPanic), not a Conn that is already dead.
func TestDialConnectionMadePanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cli, srv := net.Pipe()
		defer srv.Close()
		c, err := Dial(t.Context(), "test", madePanic{}, &Options{
			Dialer: func(context.Context, string) (net.Conn, error) { return cli, nil },
		})
		if !errors.Is(err, weft.ErrProtocolPanic) || c != nil {
			t.Errorf("Dial = (conn: %t), %v; want ErrProtocolPanic", c != nil, err)
			if c != nil {
				c.Close()
			}
		}
	})
}

// A Protocol whose ConnectionMade panics every time is a failed attempt:
// MaxRetries applies, and the client gives up instead of retrying forever
// (a panicking connection used to count as a successful one, resetting the
// retry count).
func TestReconnectingConnectionMadePanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var servers []net.Conn
		defer func() {
			for _, s := range servers {
				s.Close()
			}
		}()
		dials := 0
		r := &Reconnecting{
			Endpoint: "test", Backoff: &Exponential{}, MaxRetries: 2,
			Factory: weftFactory(func() weftProto { return madePanic{} }),
			Dialer: func(context.Context, string) (net.Conn, error) {
				if dials++; dials > 10 { // it never gives up: end the test
					cancel()
					return nil, errRefused
				}
				cli, srv := net.Pipe()
				servers = append(servers, srv)
				return cli, nil
			},
		}
		err := runNoPanic(t, r, ctx)
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, weft.ErrProtocolPanic) || dials != 3 {
			t.Errorf("Run = %v after %d dials; want ErrGaveUp wrapping ErrProtocolPanic after 3", err, dials)
		}
	})
}

// Close cannot be held forever by a peer that stops reading: after
// DefaultStopTimeout the connection is aborted (as Reconnecting.Stop does).
func TestDialCloseNonReadingPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cli, srv := net.Pipe() // nobody ever reads srv
		defer srv.Close()
		var ev events
		c, err := Dial(t.Context(), "test", &writer{data: make([]byte, 256<<10), ev: &ev}, &Options{
			Dialer: func(context.Context, string) (net.Conn, error) { return cli, nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		closed := make(chan error, 1)
		start := time.Now()
		go func() { closed <- c.Close() }()
		select {
		case <-closed:
			if d := time.Since(start); d != DefaultStopTimeout {
				t.Errorf("Close took %v, want DefaultStopTimeout (%v)", d, DefaultStopTimeout)
			}
		case <-time.After(time.Hour): // fake time
			t.Error("Close blocked for an hour on a peer that does not read")
			c.Transport().Abort()
			<-closed
		}
	})
}

// Options.CloseTimeout sets Close's bound; a negative one is refused.
func TestDialCloseTimeoutOption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cli, srv := net.Pipe() // nobody ever reads srv
		defer srv.Close()
		var ev events
		dialer := func(context.Context, string) (net.Conn, error) { return cli, nil }
		if _, err := Dial(t.Context(), "test", nopProto{}, &Options{Dialer: dialer, CloseTimeout: -1}); err == nil {
			t.Error("negative CloseTimeout accepted")
		}
		c, err := Dial(t.Context(), "test", &writer{data: make([]byte, 256<<10), ev: &ev},
			&Options{Dialer: dialer, CloseTimeout: 42 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		c.Close()
		if d := time.Since(start); d != 42*time.Second {
			t.Errorf("Close took %v, want CloseTimeout (42s)", d)
		}
	})
}

// A connection that the dial function returns after Stop (a dial that
// completed as it was being cancelled) is closed unused: no Protocol is
// built, and ConnectionMade does not run after Stop began.
func TestReconnectingStopDuringDialReturningConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		srv := make(chan net.Conn, 1)
		r := &Reconnecting{
			Endpoint: "test", Factory: &recFactory{ev: &ev}, Backoff: &Exponential{},
			Dialer: func(ctx context.Context, _ string) (net.Conn, error) {
				<-ctx.Done()
				cli, s := net.Pipe()
				srv <- s
				return cli, nil
			},
		}
		hook(r, &ev)
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		r.Stop()
		if got, want := ev.String(), "connecting 1"; got != want {
			t.Errorf("events %q, want %q", got, want)
		}
		s := <-srv
		if _, err := s.Read(make([]byte, 1)); err == nil {
			t.Error("connection left open")
		}
	})
}

// A Factory whose BuildProtocol panics gets a failed attempt that reports
// the panic (ErrProtocolPanic, with its value), not a crashed process; the
// connection it was given is closed, not leaked, and MaxRetries applies.
func TestReconnectingBuildProtocolPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var servers []net.Conn
		defer func() {
			for _, s := range servers {
				s.Close()
			}
		}()
		var failures []error
		r := &Reconnecting{
			Endpoint: "test", Backoff: &Exponential{}, MaxRetries: 1,
			Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol { panic("factory boom") }),
			Dialer: func(context.Context, string) (net.Conn, error) {
				cli, srv := net.Pipe()
				servers = append(servers, srv)
				return cli, nil
			},
			OnConnectFailed: func(err error, _ int, _ time.Duration) { failures = append(failures, err) },
		}
		err := runNoPanic(t, r, t.Context())
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, weft.ErrProtocolPanic) || !strings.Contains(err.Error(), "factory boom") {
			t.Errorf("Run = %v; want ErrGaveUp wrapping ErrProtocolPanic and the panic value", err)
		}
		if len(failures) != 2 {
			t.Errorf("failed attempts %v, want 2", failures)
		}
		for i, s := range servers {
			s.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := s.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("connection %d: Read = %v, want io.EOF (closed by the client)", i, err)
			}
		}
	})
}
