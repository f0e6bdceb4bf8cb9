package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

var errRefused = errors.New("test: connection refused")

// attempts records the (fake) time of each dial since start.
type attempts struct {
	mu    sync.Mutex
	start time.Time
	at    []time.Duration
}

func (a *attempts) note() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at = append(a.at, time.Since(a.start))
	return len(a.at)
}

func (a *attempts) gaps() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var g []time.Duration
	for i := 1; i < len(a.at); i++ {
		g = append(g, a.at[i]-a.at[i-1])
	}
	return g
}

func TestReconnectingDelaysNoJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &attempts{start: time.Now()}
		var ev events
		r := &Reconnecting{
			Endpoint:   "test",
			Factory:    nopFactory,
			Backoff:    &Exponential{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2},
			MaxRetries: 5,
			Dialer: func(ctx context.Context, desc string) (net.Conn, error) {
				a.note()
				return nil, errRefused
			},
		}
		hook(r, &ev)
		err := r.Run(t.Context())
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, errRefused) {
			t.Fatalf("Run = %v, want ErrGaveUp wrapping the last error", err)
		}
		s := time.Second
		if want := []time.Duration{1 * s, 2 * s, 4 * s, 4 * s, 4 * s}; !reflect.DeepEqual(a.gaps(), want) {
			t.Errorf("gaps between attempts = %v, want %v (1 try + MaxRetries=5 retries, capped at 4s)", a.gaps(), want)
		}
		want := []string{"connecting 1", "failed 1 next 1s", "connecting 2", "failed 2 next 2s", "connecting 3",
			"failed 3 next 4s", "connecting 4", "failed 4 next 4s", "connecting 5", "failed 5 next 4s",
			"connecting 6", "failed 6 next -1ns"}
		if got := ev.snapshot(); !reflect.DeepEqual(got, want) {
			t.Errorf("hooks:\n got %q\nwant %q", got, want)
		}
	})
}

// The jittered delays are exactly the backoff's draws, in order, and each
// lies within its bounds.
func TestReconnectingDelaysJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &attempts{start: time.Now()}
		b := GRPC()
		b.Rand = rand.New(rand.NewPCG(42, 1))
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, Backoff: b, MaxRetries: 12,
			Dialer: func(context.Context, string) (net.Conn, error) { a.note(); return nil, errRefused },
		}
		if err := r.Run(t.Context()); !errors.Is(err, ErrGaveUp) {
			t.Fatalf("Run = %v", err)
		}
		replay := GRPC()
		replay.Rand = rand.New(rand.NewPCG(42, 1))
		gaps := a.gaps()
		if len(gaps) != 12 {
			t.Fatalf("%d retries, want 12", len(gaps))
		}
		for i, g := range gaps {
			base := b.Base(i + 1)
			lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
			if want := replay.Delay(i + 1); g != want || g < lo || g >= hi {
				t.Errorf("retry %d waited %v, want %v within [%v, %v)", i+1, g, want, lo, hi)
			}
		}
	})
}

// After a successful connection the delay sequence restarts; the loss counts
// as the first retry (as in Twisted), and MaxRetries counts from there.
func TestReconnectingResetAfterSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &attempts{start: time.Now()}
		var ev events
		r := &Reconnecting{
			Endpoint:   "test",
			Factory:    &recFactory{ev: &ev},
			Backoff:    &Exponential{Initial: time.Second, Max: 60 * time.Second, Multiplier: 2},
			MaxRetries: 3,
			Dialer: func(ctx context.Context, desc string) (net.Conn, error) {
				if a.note() != 3 {
					return nil, errRefused
				}
				cli, srv := net.Pipe()
				go func() { // the server hangs up after 10 s
					time.Sleep(10 * time.Second)
					srv.Close()
				}()
				return cli, nil
			},
		}
		hook(r, &ev)
		if err := r.Run(t.Context()); !errors.Is(err, ErrGaveUp) {
			t.Fatalf("Run = %v", err)
		}
		s := time.Second
		// fail, 1s, fail, 2s, connect (10 s), loss, 1s (reset), fail, 2s, fail, 4s, fail: give up.
		if want := []time.Duration{0, 1 * s, 3 * s, 14 * s, 16 * s, 20 * s}; !reflect.DeepEqual(a.at, want) {
			t.Errorf("attempts at %v, want %v", a.at, want)
		}
		want := []string{"connecting 1", "failed 1 next 1s", "connecting 2", "failed 2 next 2s", "connecting 3",
			"made 1", "connectionLost 1 <nil>", "lost <nil> next 1s",
			"connecting 1", "failed 1 next 2s", "connecting 2", "failed 2 next 4s", "connecting 3", "failed 3 next -1ns"}
		if got := ev.snapshot(); !reflect.DeepEqual(got, want) {
			t.Errorf("hooks:\n got %q\nwant %q", got, want)
		}
	})
}

// Stop and cancellation end the client in every state without letting
// (fake) time pass: nothing waits for a timer.
func TestReconnectingStop(t *testing.T) {
	states := []struct {
		name string
		dial func(ctx context.Context, srv chan<- net.Conn) (net.Conn, error)
		want []string // events after Stop
	}{
		{"waiting", func(context.Context, chan<- net.Conn) (net.Conn, error) { return nil, errRefused },
			[]string{"connecting 1", "failed 1 next 1s"}},
		{"connecting", func(ctx context.Context, _ chan<- net.Conn) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, []string{"connecting 1"}},
		{"connected", func(_ context.Context, srv chan<- net.Conn) (net.Conn, error) {
			cli, s := net.Pipe()
			srv <- s
			return cli, nil
		}, []string{"connecting 1", "made 1", "connectionLost 1 <nil>", "lost <nil> next -1ns"}},
	}
	for _, st := range states {
		for _, how := range []string{"Stop", "cancel"} {
			t.Run(st.name+"/"+how, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					var ev events
					srv := make(chan net.Conn, 1)
					dials := 0
					r := &Reconnecting{
						Endpoint: "test",
						Factory:  &recFactory{ev: &ev},
						Backoff:  &Exponential{},
						Dialer: func(ctx context.Context, _ string) (net.Conn, error) {
							dials++
							return st.dial(ctx, srv)
						},
					}
					hook(r, &ev)
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					if err := r.Start(ctx); err != nil {
						t.Fatal(err)
					}
					synctest.Wait() // the client is now blocked in the state under test
					before := time.Now()
					var err error
					if how == "Stop" {
						r.Stop()
						err = r.Wait()
					} else {
						cancel()
						err = r.Wait()
					}
					if elapsed := time.Since(before); elapsed != 0 {
						t.Errorf("stopping took %v of fake time, want 0 (no timer awaited)", elapsed)
					}
					if how == "Stop" && err != nil || how == "cancel" && !errors.Is(err, context.Canceled) {
						t.Errorf("Run result = %v", err)
					}
					if dials != 1 {
						t.Errorf("%d dials, want 1", dials)
					}
					if got := ev.snapshot(); !reflect.DeepEqual(got, st.want) {
						t.Errorf("events:\n got %q\nwant %q", got, st.want)
					}
					select {
					case s := <-srv: // the server side sees the connection closed
						if _, err := s.Read(make([]byte, 1)); err == nil {
							t.Error("server side still open after Stop")
						}
					default:
					}
					if r.Transport() != nil {
						t.Error("Transport() != nil after Stop")
					}
				})
			})
		}
	}
}

func TestReconnectingConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		r    *Reconnecting
	}{
		{"Factory", &Reconnecting{Endpoint: "tcp:h:1"}},
		{"MaxRetries", &Reconnecting{Endpoint: "tcp:h:1", Factory: nopFactory, MaxRetries: -1}},
		{"Backoff", &Reconnecting{Endpoint: "tcp:h:1", Factory: nopFactory, Backoff: &Exponential{Jitter: 2}}},
		{"Endpoint", &Reconnecting{Endpoint: "tcp:nohost", Factory: nopFactory}},
	}
	for _, tt := range tests {
		err := tt.r.Run(t.Context())
		if err == nil || !containsWord(err.Error(), tt.name) {
			t.Errorf("%s: Run = %v, want an error naming %s", tt.name, err, tt.name)
		}
	}
	// Running twice.
	synctest.Test(t, func(t *testing.T) {
		r := &Reconnecting{Endpoint: "x", Factory: nopFactory,
			Dialer: func(ctx context.Context, _ string) (net.Conn, error) { <-ctx.Done(); return nil, ctx.Err() }}
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(t.Context()); !errors.Is(err, ErrRunning) {
			t.Errorf("second Start = %v, want ErrRunning", err)
		}
		r.Stop()
		r.Stop() // idempotent
	})
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}

// A peer that stops reading cannot hold Stop forever: after StopTimeout the
// connection is aborted.
func TestReconnectingStopTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		cli, srv := net.Pipe() // nobody ever reads srv
		defer srv.Close()
		big := make([]byte, 256<<10)
		r := &Reconnecting{
			Endpoint: "test",
			Factory: weftFactory(func() weftProto {
				return &writer{data: big, ev: &ev}
			}),
			StopTimeout: 3 * time.Second,
			Dialer:      func(context.Context, string) (net.Conn, error) { return cli, nil },
		}
		hook(r, &ev)
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		start := time.Now()
		r.Stop()
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("Stop took %v, want StopTimeout (3s)", d)
		}
		// The runtime keeps LoseConnection's nil reason when the Abort that
		// follows discards the unsent output (reported to the runtime's
		// owner); the test only asserts that the connection ended.
		got := ev.snapshot()
		if want := []string{"connecting 1"}; len(got) != 3 || got[0] != want[0] ||
			!containsWord(got[1], "connectionLost") || !containsWord(got[2], "next -1ns") {
			t.Errorf("events: %q; want the connection closed and no retry", got)
		}
	})
}

// A Factory that refuses (BuildProtocol returns nil) counts as a failed
// attempt; the connection is closed.
func TestReconnectingFactoryRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var errs []error
		var servers []net.Conn
		r := &Reconnecting{
			Endpoint: "test", MaxRetries: 1, Backoff: &Exponential{},
			Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol { return nil }),
			Dialer: func(context.Context, string) (net.Conn, error) {
				cli, srv := net.Pipe()
				servers = append(servers, srv)
				return cli, nil
			},
			OnConnectFailed: func(err error, _ int, _ time.Duration) { errs = append(errs, err) },
		}
		err := r.Run(t.Context())
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, ErrNoProtocol) || len(errs) != 2 {
			t.Fatalf("Run = %v, failures %v; want two ErrNoProtocol failures then ErrGaveUp", err, errs)
		}
		for _, s := range servers {
			if _, err := s.Read(make([]byte, 1)); err == nil {
				t.Error("refused connection left open")
			}
		}
	})
}

// transportChecker asks its Reconnecting for the live Transport in each of
// its callbacks.
type transportChecker struct {
	check func(where string, want weft.Transport)
	t     weft.Transport
}

func (p *transportChecker) ConnectionMade(t weft.Transport) { p.t = t; p.check("ConnectionMade", t) }
func (p *transportChecker) DataReceived([]byte)             { p.check("DataReceived", p.t) }
func (p *transportChecker) ConnectionLost(error)            { p.check("ConnectionLost", p.t) }

// Reconnecting.Transport is the live connection's Transport from before its
// Protocol's ConnectionMade until after its ConnectionLost (it was once set
// only after ConnectionMade, so nil while the first DataReceived ran), and
// nil between connections: in the hooks and while the next one is dialed.
func TestReconnectingTransportDuringCallbacks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		r := &Reconnecting{Endpoint: "test", Backoff: &Exponential{}, MaxRetries: 1}
		check := func(where string, want weft.Transport) {
			ev.add("%s", where)
			if got := r.Transport(); got != want {
				t.Errorf("%s: Transport() = %s, want %s", where, transportName(got), transportName(want))
			}
		}
		r.Factory = weftFactory(func() weftProto { return &transportChecker{check: check} })
		dials := 0
		r.Dialer = func(context.Context, string) (net.Conn, error) {
			dials++
			check("dial", nil)
			if dials > 1 {
				return nil, errRefused
			}
			cli, srv := net.Pipe()
			go func() { // greets, then hangs up
				srv.Write([]byte("hello"))
				srv.Close()
			}()
			return cli, nil
		}
		r.OnConnecting = func(int) { check("OnConnecting", nil) }
		r.OnConnectFailed = func(error, int, time.Duration) { check("OnConnectFailed", nil) }
		r.OnConnectionLost = func(error, time.Duration) { check("OnConnectionLost", nil) }
		if err := r.Run(t.Context()); !errors.Is(err, ErrGaveUp) {
			t.Fatalf("Run = %v, want ErrGaveUp", err)
		}
		want := []string{"OnConnecting", "dial", "ConnectionMade", "DataReceived", "ConnectionLost",
			"OnConnectionLost", "OnConnecting", "dial", "OnConnectFailed"}
		if got := ev.snapshot(); !reflect.DeepEqual(got, want) {
			t.Errorf("callbacks:\n got %q\nwant %q", got, want)
		}
	})
}

// transportName names a Transport for a failure message: nil, or its type
// and address.
func transportName(t weft.Transport) string {
	if t == nil {
		return "nil"
	}
	return fmt.Sprintf("%T %p", t, t)
}
