package client

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/endpoint"
	"go.uber.org/goleak"
)

// An Initial longer than the default cap is honoured: with Max zero, the
// first retry waits Initial, as its doc says, not the default 120 s cap. (The
// cap is then Initial; an explicit Max still caps everything, Initial
// included, as Twisted's maxDelay does.)
func TestExponentialInitialAboveDefaultMax(t *testing.T) {
	for _, b := range []*Exponential{
		{Initial: 5 * time.Minute},
		{Initial: 5 * time.Minute, Multiplier: 2},
		{Initial: 5 * time.Minute, Multiplier: 2, Jitter: 0.2, Rand: fixedRand{f: 0.5}},
	} {
		for retry := 1; retry <= 4; retry++ {
			if d := b.Delay(retry); d != 5*time.Minute {
				t.Errorf("%+v: Delay(%d) = %v, want Initial (5m0s): the default cap must not cut an explicit Initial", b, retry, d)
			}
		}
	}
	// An explicit Max below Initial caps it (Twisted: min(delay*factor, maxDelay)).
	if d := (&Exponential{Initial: 5 * time.Minute, Max: time.Minute}).Delay(1); d != time.Minute {
		t.Errorf("explicit Max 1m, Initial 5m: Delay(1) = %v, want 1m0s", d)
	}
	// Below the default cap nothing changes.
	if d := (&Exponential{Initial: time.Minute, Multiplier: 4}).Delay(3); d != 120*time.Second {
		t.Errorf("Initial 1m ×4: Delay(3) = %v, want the default cap 2m0s", d)
	}
}

// fixedRand is a Rand that always draws the same values.
type fixedRand struct{ f, n float64 }

func (r fixedRand) Float64() float64     { return r.f }
func (r fixedRand) NormFloat64() float64 { return r.n }

// closedByClient reports whether the client closed its end of a net.Pipe:
// the server end reads io.EOF, not a deadline error.
func closedByClient(t *testing.T, s net.Conn) bool {
	t.Helper()
	s.SetReadDeadline(time.Now().Add(time.Second))
	_, err := s.Read(make([]byte, 1))
	return err == io.EOF
}

// A DialFunc that returns a connection together with an error (as
// tls.Client followed by a failed Handshake does) gets a failed attempt, and
// the connection is closed, not leaked once per retry.
func TestReconnectingDialerConnAndError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var servers []net.Conn
		defer func() {
			for _, s := range servers {
				s.Close()
			}
		}()
		var failures []error
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, Backoff: &Exponential{}, MaxRetries: 1,
			Dialer: func(context.Context, string) (net.Conn, error) {
				cli, s := net.Pipe()
				servers = append(servers, s)
				return cli, errRefused
			},
			OnConnectFailed: func(err error, _ int, _ time.Duration) { failures = append(failures, err) },
		}
		if err := runNoPanic(t, r, t.Context()); !errors.Is(err, ErrGaveUp) || !errors.Is(err, errRefused) || len(failures) != 2 {
			t.Fatalf("Run = %v after failures %v; want ErrGaveUp wrapping errRefused after 2 failed attempts", err, failures)
		}
		for i, s := range servers {
			if !closedByClient(t, s) {
				t.Errorf("connection %d, returned with an error, left open (leaked)", i)
			}
		}
	})
}

// Dial likewise closes a connection its Dialer returned with an error.
func TestDialDialerConnAndError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cli, s := net.Pipe()
		defer s.Close()
		c, err := Dial(t.Context(), "test", nopProto{}, &Options{
			Dialer: func(context.Context, string) (net.Conn, error) { return cli, errRefused },
		})
		if !errors.Is(err, errRefused) || c != nil {
			t.Fatalf("Dial = (conn: %t), %v; want errRefused", c != nil, err)
		}
		if !closedByClient(t, s) {
			t.Error("connection returned with an error left open (leaked)")
		}
	})
}

// A DialFunc that returns a nil pointer of a net.Conn type (a typed nil,
// e.g. a nil *net.TCPConn) and no error is a broken dialer like one returning
// an untyped nil: a failed attempt, not a nil-pointer panic that would crash
// the program from Start's goroutine.
func TestReconnectingDialerTypedNilConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var failures []error
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, Backoff: &Exponential{}, MaxRetries: 1,
			Dialer: func(context.Context, string) (net.Conn, error) {
				var c *net.TCPConn
				return c, nil
			},
			OnConnectFailed: func(err error, _ int, _ time.Duration) { failures = append(failures, err) },
		}
		err := runNoPanic(t, r, t.Context())
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, errNoConn) || len(failures) != 2 {
			t.Errorf("Run = %v after failures %v; want ErrGaveUp wrapping the no-connection error after 2 failed attempts", err, failures)
		}
	})
}

// Dial with a Dialer returning a typed nil returns an error, not a panic.
func TestDialDialerTypedNilConn(t *testing.T) {
	var c *Conn
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("Dial panicked: %v", p)
				err = errors.New("panicked")
			}
		}()
		c, err = Dial(t.Context(), "test", nopProto{}, &Options{
			Dialer: func(context.Context, string) (net.Conn, error) {
				var c *net.TCPConn
				return c, nil
			},
		})
	}()
	if !errors.Is(err, errNoConn) || c != nil {
		t.Errorf("Dial = (conn: %t), %v; want the no-connection error", c != nil, err)
	}
}

// Configuration errors name the field once, under one "client:" prefix:
// no "client: Reconnecting.Conn: client: weft: ..." stutter.
func TestConfigErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		run  func() error
		want string
	}{
		{func() error {
			return (&Reconnecting{Endpoint: "tcp:h:1", Factory: nopFactory, Conn: &weft.Options{HighWater: -1}}).Run(t.Context())
		}, "client: Reconnecting.Conn: weft: Options.HighWater -1 is negative"},
		{func() error {
			return (&Reconnecting{Endpoint: "tcp:h:1", Factory: nopFactory, Backoff: &Exponential{Jitter: 2}}).Run(t.Context())
		}, "client: Reconnecting.Backoff: Exponential.Jitter 2 is not in [0, 1]"},
		{func() error {
			_, err := Dial(t.Context(), "tcp:h:1", nopProto{}, &Options{Conn: &weft.Options{HighWater: -1}})
			return err
		}, "client: Options.Conn: weft: Options.HighWater -1 is negative"},
		{func() error { return (&Exponential{Jitter: 2}).Validate() }, "client: Exponential.Jitter 2 is not in [0, 1]"},
	} {
		err := tc.run()
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
		if err != nil && strings.Count(err.Error(), "client:") != 1 {
			t.Errorf("error %q: the client: prefix more than once", err)
		}
	}
}

// Connect timeouts are retried like any failure (Twisted #10539 did not
// retry them): against a loopback server that accepts and never answers the
// TLS handshake, each attempt ends after the description's timeout= with
// endpoint.ErrTimeout, the client retries, and MaxRetries ends it.
func TestReconnectingRetriesConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conns = append(conns, c) // read nothing, answer nothing
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // bounded if an attempt hangs
	defer cancel()
	var failures []error
	r := &Reconnecting{
		Endpoint: "tls:127.0.0.1:" + portOf(ln.Addr()) + ":timeout=200ms",
		Factory:  nopFactory, MaxRetries: 2,
		Backoff:         BackoffFunc(func(int) time.Duration { return time.Millisecond }),
		OnConnectFailed: func(err error, _ int, _ time.Duration) { failures = append(failures, err) },
	}
	start := time.Now()
	err = r.Run(ctx)
	elapsed := time.Since(start)
	// The server may accept the last connection a moment after the client
	// gave up on it.
	for deadline := time.Now().Add(5 * time.Second); accepted.Load() < 3 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	ln.Close()
	<-done
	n := accepted.Load()
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, endpoint.ErrTimeout) {
		t.Errorf("Run = %v, want ErrGaveUp wrapping endpoint.ErrTimeout", err)
	}
	if len(failures) != 3 || n != 3 {
		t.Errorf("%d failed attempts, %d connections accepted; want 3 and 3 (1 + MaxRetries 2)", len(failures), n)
	}
	for i, f := range failures {
		if !errors.Is(f, endpoint.ErrTimeout) {
			t.Errorf("attempt %d failed with %v, want endpoint.ErrTimeout", i+1, f)
		}
	}
	// Three attempts of 200 ms each: none hangs past its timeout.
	if elapsed < 600*time.Millisecond || elapsed > 10*time.Second {
		t.Errorf("Run took %v, want about 3 × 200 ms", elapsed)
	}
}

// lostPanic panics in ConnectionLost, dataPanic in DataReceived.
type lostPanic struct{ nopProto }

func (lostPanic) ConnectionLost(error) { panic("lost boom") }

type dataPanic struct{ nopProto }

func (dataPanic) DataReceived([]byte) { panic("data boom") }

// A Protocol that panics after its connection was made (in DataReceived, or
// in ConnectionLost) does not crash the client nor stop it: the connection
// ends with a reason wrapping weft.ErrProtocolPanic and the panic value,
// OnConnectionLost reports it, the client reconnects, and (with StableAfter)
// MaxRetries applies.
func TestReconnectingProtocolPanicsAfterMade(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto func() weftProto
		value string
	}{
		{"DataReceived", func() weftProto { return dataPanic{} }, "data boom"},
		{"ConnectionLost", func() weftProto { return lostPanic{} }, "lost boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var servers []net.Conn
				defer func() {
					for _, s := range servers {
						s.Close()
					}
				}()
				var reasons []error
				r := &Reconnecting{
					Endpoint: "test", Factory: weftFactory(tc.proto), MaxRetries: 2, StableAfter: time.Second,
					Backoff: &Exponential{},
					Dialer: func(context.Context, string) (net.Conn, error) {
						cli, s := net.Pipe()
						servers = append(servers, s)
						go func() { s.Write([]byte("x")); s.Close() }()
						return cli, nil
					},
					OnConnectionLost: func(reason error, _ time.Duration) { reasons = append(reasons, reason) },
				}
				ctx, cancel := context.WithTimeout(t.Context(), time.Hour) // bounded if it never gives up
				defer cancel()
				err := runNoPanic(t, r, ctx)
				if !errors.Is(err, ErrGaveUp) || !errors.Is(err, weft.ErrProtocolPanic) {
					t.Errorf("Run = %v, want ErrGaveUp wrapping weft.ErrProtocolPanic", err)
				}
				if len(reasons) != 3 {
					t.Fatalf("%d connections lost, want 3 (1 + MaxRetries 2)", len(reasons))
				}
				for i, reason := range reasons {
					if !errors.Is(reason, weft.ErrProtocolPanic) || !strings.Contains(reason.Error(), tc.value) {
						t.Errorf("connection %d lost with %v, want weft.ErrProtocolPanic and %q", i+1, reason, tc.value)
					}
				}
			})
		})
	}
}

// startErrFactory's Start fails.
type startErrFactory struct {
	weft.Factory
	err   error
	stops int
}

func (f *startErrFactory) Start(context.Context) error { return f.err }
func (f *startErrFactory) Stop()                       { f.stops++ }

// A Factory whose Start fails ends Run at once with that error (wrapped,
// matching errors.Is), before any dial or hook, and its Stop is not called
// (as the server does: a Start error aborts the start).
func TestReconnectingFactoryStartError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errStart := errors.New("test: no credentials")
		f := &startErrFactory{Factory: nopFactory, err: errStart}
		var ev events
		dials := 0
		r := &Reconnecting{
			Endpoint: "test", Factory: f,
			Dialer: func(context.Context, string) (net.Conn, error) { dials++; return nil, errRefused },
		}
		hook(r, &ev)
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		err := r.Wait()
		if !errors.Is(err, errStart) || !strings.Contains(err.Error(), "factory start") {
			t.Errorf("Wait = %v, want the Factory's Start error", err)
		}
		if dials != 0 || f.stops != 0 || ev.String() != "" {
			t.Errorf("%d dials, %d Stops, events %q; want none", dials, f.stops, ev.String())
		}
		r.Stop() // not running: returns at once
	})
}

// ctxFactory records the context its Start is given and whether it was done
// when Stop ran.
type ctxFactory struct {
	weft.Factory
	ctx          context.Context
	doneAtStop   bool
	starts, stop int
}

func (f *ctxFactory) Start(ctx context.Context) error { f.ctx = ctx; f.starts++; return nil }
func (f *ctxFactory) Stop() {
	f.stop++
	f.doneAtStop = f.ctx.Err() != nil
}

// The context given to the Factory's Start lives as long as the run: not
// done while the client runs, done once Run has returned (so work the Factory
// started with it ends with the client); Stop runs once, before that.
func TestReconnectingFactoryStartContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &ctxFactory{Factory: nopFactory}
		r := &Reconnecting{
			Endpoint: "test", Factory: f, Backoff: &Exponential{}, MaxRetries: 1,
			Dialer: func(context.Context, string) (net.Conn, error) {
				if f.ctx == nil || f.ctx.Err() != nil {
					t.Error("Factory's ctx missing or done while the client runs")
				}
				return nil, errRefused
			},
		}
		if err := r.Run(t.Context()); !errors.Is(err, ErrGaveUp) {
			t.Fatalf("Run = %v", err)
		}
		if f.starts != 1 || f.stop != 1 {
			t.Errorf("Start %d, Stop %d times; want 1 and 1", f.starts, f.stop)
		}
		if f.ctx.Err() == nil {
			t.Error("Factory's ctx still live after Run returned")
		}
		if f.doneAtStop {
			t.Error("Factory's ctx was done before its Stop ran")
		}
	})
}

// A Backoff whose delay is the largest Duration (292 years) is waited as
// such, reported to the hook as is, and Stop still ends the wait at once.
func TestReconnectingHugeDelayStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var next []time.Duration
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory,
			Backoff:         BackoffFunc(func(int) time.Duration { return time.Duration(1<<63 - 1) }),
			Dialer:          func(context.Context, string) (net.Conn, error) { return nil, errRefused },
			OnConnectFailed: func(_ error, _ int, d time.Duration) { next = append(next, d) },
		}
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1000 * time.Hour)
		synctest.Wait()
		if len(next) != 1 || next[0] != time.Duration(1<<63-1) {
			t.Errorf("delays reported %v, want one of 292 years and no retry after 1000 h", next)
		}
		start := time.Now()
		r.Stop()
		if d := time.Since(start); d != 0 {
			t.Errorf("Stop took %v of fake time, want 0", d)
		}
	})
}

// A context that is already done: Run returns its error without dialing or
// calling a hook.
func TestReconnectingCancelledBeforeRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var ev events
		dials := 0
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory,
			Dialer: func(context.Context, string) (net.Conn, error) { dials++; return nil, errRefused },
		}
		hook(r, &ev)
		if err := r.Run(ctx); !errors.Is(err, context.Canceled) || dials != 0 || ev.String() != "" {
			t.Errorf("Run = %v after %d dials, events %q; want context.Canceled, nothing else", err, dials, ev.String())
		}
	})
}

// Before it ever ran, Wait returns nil at once, Stop does nothing and
// Transport is nil.
func TestReconnectingNeverRun(t *testing.T) {
	r := &Reconnecting{Endpoint: "test", Factory: nopFactory}
	if err := r.Wait(); err != nil {
		t.Errorf("Wait = %v", err)
	}
	r.Stop()
	if r.Transport() != nil {
		t.Error("Transport() != nil")
	}
}

// The Twisted() preset (jitter off) through the loop reproduces Twisted's
// ReconnectingClientFactory with resetDelay in connectionMade: the first
// retry waits e s, then e², e³ ...; a connection made resets the delay, so
// its loss waits e s again; maxRetries = 3 schedules three retries and the
// fourth failure abandons (twisted-semantics.md: (1,y) (2,y) (3,y) (4,n)).
func TestReconnectingTwistedPreset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Twisted()
		b.Jitter = 0
		a := &attempts{start: time.Now()}
		var ev events
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, Backoff: b, MaxRetries: 3,
			Dialer: func(context.Context, string) (net.Conn, error) {
				if a.note() != 3 {
					return nil, errRefused
				}
				cli, s := net.Pipe()
				go func() { time.Sleep(time.Hour); s.Close() }()
				return cli, nil
			},
		}
		hook(r, &ev)
		if err := r.Run(t.Context()); !errors.Is(err, ErrGaveUp) {
			t.Fatalf("Run = %v, want ErrGaveUp", err)
		}
		e := func(n float64) time.Duration { return b.Base(int(n)) }
		want := []time.Duration{e(1), e(2), time.Hour + e(1), e(2), e(3)} // the third: the connection's hour, then e s
		got := a.gaps()
		if len(got) != len(want) {
			t.Fatalf("gaps %v, want %v", got, want)
		}
		for i := range want {
			if !near(got[i], want[i]) {
				t.Errorf("gap %d = %v, want %v", i+1, got[i], want[i])
			}
		}
		if !near(e(1), secs(math.E)) || !near(e(2), secs(math.E*math.E)) || !near(e(3), secs(math.E*math.E*math.E)) {
			t.Errorf("Twisted delays %v %v %v, want e, e², e³ s", e(1), e(2), e(3))
		}
		evs := ev.snapshot()
		// The loss is the first failure (retry 1, as Twisted's
		// clientConnectionLost → retry()); the third failed attempt after
		// it is the fourth failure: abandoned.
		if last := evs[len(evs)-1]; last != "failed 3 next -1ns" {
			t.Errorf("last event %q, want the third failed attempt after the loss to give up", last)
		}
	})
}

// Jitter bounds at the edges of the random source: uniform jitter spans
// exactly [d·(1-J), d·(1+J)), full jitter stays strictly below d even for the
// largest draw below 1, Gaussian jitter is clamped at zero, and a jittered
// delay past the Duration range is the largest Duration, never negative.
func TestExponentialJitterEdges(t *testing.T) {
	below1 := math.Nextafter(1, 0)
	for _, base := range []time.Duration{1, 7, time.Second, 1600 * time.Millisecond, 120 * time.Second, time.Hour, 1<<62 + 12345} {
		full := &Exponential{Initial: base, Max: base, FullJitter: true, Rand: fixedRand{f: below1}}
		if d := full.Delay(1); d >= base || d < 0 {
			t.Errorf("full jitter, draw 1-2⁻⁵³, base %v: Delay = %v, want in [0, %v)", base, d, base)
		}
		if d := (&Exponential{Initial: base, Max: base, FullJitter: true, Rand: fixedRand{f: 0}}).Delay(1); d != 0 {
			t.Errorf("full jitter, draw 0: Delay = %v, want 0", d)
		}
		lo := &Exponential{Initial: base, Max: base, Jitter: 0.2, Rand: fixedRand{f: 0}}
		if d, want := lo.Delay(1), time.Duration(float64(base)*0.8); d != want {
			t.Errorf("uniform ±20 %%, draw 0, base %v: Delay = %v, want %v", base, d, want)
		}
		hi := &Exponential{Initial: base, Max: base, Jitter: 0.2, Rand: fixedRand{f: below1}}
		if d, bound := hi.Delay(1), float64(base)*1.2; float64(d) > bound || d < base {
			t.Errorf("uniform ±20 %%, draw 1-2⁻⁵³, base %v: Delay = %v, want in [%v, %v)", base, d, base, bound)
		}
		g := &Exponential{Initial: base, Max: base, Jitter: 0.5, Gaussian: true, Rand: fixedRand{n: -100}}
		if d := g.Delay(1); d != 0 {
			t.Errorf("Gaussian, draw -100σ: Delay = %v, want 0 (clamped)", d)
		}
	}
	huge := &Exponential{Initial: time.Duration(1<<63 - 1), Max: time.Duration(1<<63 - 1), Jitter: 1, Rand: fixedRand{f: below1, n: 1e300}}
	if d := huge.Delay(math.MaxInt); d != time.Duration(1<<63-1) {
		t.Errorf("uniform jitter past the Duration range: Delay = %v, want the largest Duration", d)
	}
	huge.Gaussian = true
	if d := huge.Delay(math.MaxInt); d != time.Duration(1<<63-1) {
		t.Errorf("Gaussian jitter past the Duration range: Delay = %v, want the largest Duration", d)
	}
}

// Stop at the very instant the server hangs up: whichever the client sees
// first, there is one connection, one loss reported, no new attempt, and Stop
// returns without waiting for a timer.
func TestReconnectingStopAsConnectionEnds(t *testing.T) {
	for _, order := range []string{"hang-up first", "Stop first"} {
		t.Run(order, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var ev events
				dials := 0
				r := &Reconnecting{
					Endpoint: "test", Factory: &recFactory{ev: &ev}, Backoff: &Exponential{},
					Dialer: func(context.Context, string) (net.Conn, error) {
						dials++
						cli, s := net.Pipe()
						go func() {
							time.Sleep(time.Second)
							if order == "Stop first" {
								synctest.Wait() // let Stop's cancellation go first where it can
							}
							s.Close()
						}()
						return cli, nil
					},
				}
				hook(r, &ev)
				if err := r.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second)
				if order == "hang-up first" {
					synctest.Wait()
				}
				start := time.Now()
				r.Stop()
				if d := time.Since(start); d != 0 {
					t.Errorf("Stop took %v of fake time, want 0", d)
				}
				if err := r.Wait(); err != nil {
					t.Errorf("Wait = %v, want nil", err)
				}
				lost := 0
				for _, e := range ev.snapshot() {
					if strings.HasPrefix(e, "lost ") {
						lost++
					}
				}
				if dials != 1 || lost != 1 {
					t.Errorf("%d dials, %d losses reported (%s); want 1 and 1", dials, lost, &ev)
				}
			})
		})
	}
}

// slowFactory sleeps (fake time) in BuildProtocol, then builds a recProto.
type slowFactory struct {
	recFactory
	d time.Duration
}

func (f *slowFactory) BuildProtocol(a net.Addr) weft.Protocol {
	time.Sleep(f.d)
	return f.recFactory.BuildProtocol(a)
}

// Stop while the Factory builds the Protocol (a BuildProtocol that loads
// state, say) cancels the attempt: the connection is closed unused and the
// Protocol's ConnectionMade never runs after Stop began, as for a dial that
// completes as Stop comes (TestReconnectingStopDuringDialReturningConn).
func TestReconnectingStopDuringBuildProtocol(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		srv := make(chan net.Conn, 1)
		r := &Reconnecting{
			Endpoint: "test", Backoff: &Exponential{},
			Factory: &slowFactory{recFactory: recFactory{ev: &ev}, d: 10 * time.Second},
			Dialer: func(context.Context, string) (net.Conn, error) {
				cli, s := net.Pipe()
				srv <- s
				return cli, nil
			},
		}
		hook(r, &ev)
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // in BuildProtocol
		r.Stop()
		if err := r.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
		if got, want := ev.String(), "connecting 1"; got != want {
			t.Errorf("events %q, want %q: no ConnectionMade after Stop", got, want)
		}
		if s := <-srv; !closedByClient(t, s) {
			t.Error("connection left open")
		}
	})
}

// Cancelling ctx (or Stop, from another goroutine) while OnConnecting runs
// cancels the attempt it announces: the dial function is not called, Run
// returns ctx's error.
func TestReconnectingCancelInOnConnecting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		dials := 0
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, Backoff: &Exponential{},
			Dialer:       func(context.Context, string) (net.Conn, error) { dials++; return nil, errRefused },
			OnConnecting: func(int) { cancel() },
		}
		if err := r.Run(ctx); !errors.Is(err, context.Canceled) || dials != 0 {
			t.Errorf("Run = %v after %d dials; want context.Canceled and no dial", err, dials)
		}
	})
}

// After Stop, over real loopback TCP and the default dialer, no goroutine of
// the client or its connection is left (docs/guide.md §5: Stop returns once
// every goroutine has exited).
func TestReconnectingStopLeavesNoGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c) // until the client closes
		c.Close()
	}()
	var ev events
	r := &Reconnecting{Endpoint: "tcp:127.0.0.1:" + portOf(ln.Addr()) + ":timeout=5", Factory: &recFactory{ev: &ev}}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); r.Transport() == nil && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if r.Transport() == nil {
		t.Fatalf("not connected within 10 s; events %s", &ev)
	}
	r.Stop()
	ln.Close()
	<-served
	goleak.VerifyNone(t, ignore)
}
