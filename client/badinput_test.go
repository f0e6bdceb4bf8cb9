package client

import (
	"context"
	"fmt"
	"math"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// TestBadInputClient: Dial, Conn, Reconnecting and Exponential given hostile
// or degenerate values. Before the fix, a zero Conn (not made by Dial)
// panicked in Close with "runtime error: invalid memory address or nil
// pointer dereference", and its Wait and Done hung forever ("hang").
func TestBadInputClient(t *testing.T) {
	bg := context.Background()
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	fac := weft.FactoryFunc(func(net.Addr) weft.Protocol { return nopProto{} })
	refused := func(ctx context.Context, desc string) (net.Conn, error) { return nil, fmt.Errorf("refused") }
	run := func(r *Reconnecting) func() error {
		return func() error {
			ctx, c := context.WithTimeout(bg, 200*time.Millisecond)
			defer c()
			return r.Run(ctx)
		}
	}
	exp := func(e *Exponential) func() error {
		return func() error {
			if err := e.Validate(); err != nil {
				return err
			}
			for _, n := range []int{math.MinInt, -1, 0, 1, 2, 64, 1000, math.MaxInt} {
				if d := e.Delay(n); d < 0 {
					return fmt.Errorf("Delay(%d) = %v < 0", n, d)
				}
				if d := e.Base(n); d < 0 {
					return fmt.Errorf("Base(%d) = %v < 0", n, d)
				}
			}
			return nil
		}
	}
	cases := []biCase{
		{"Dial nil protocol", func() error { _, err := Dial(bg, "tcp:127.0.0.1:1", nil, nil); return err }, "err: client: Dial: nil Protocol"},
		{"Dial empty desc", func() error { _, err := Dial(bg, "", nopProto{}, nil); return err }, "err: endpoint: : type: syntax error: empty description"},
		{"Dial cancelled", func() error { _, err := Dial(cancelled, "tcp:127.0.0.1:1", nopProto{}, nil); return err }, "err: endpoint: dial tcp:127.0.0.1:1: dial tcp 127.0.0.1:1: operation was canceled"},
		{"Dial neg CloseTimeout", func() error {
			_, err := Dial(bg, "tcp:127.0.0.1:1", nopProto{}, &Options{CloseTimeout: -1, Dialer: refused})
			return err
		}, "err: client: Options.CloseTimeout -1ns is negative"},
		{"Dial bad Conn opts", func() error {
			_, err := Dial(bg, "x", nopProto{}, &Options{Conn: &weft.Options{MaxWriteBuffer: -1}, Dialer: refused})
			return err
		}, "err: client: Options.Conn: weft: Options.MaxWriteBuffer -1 is negative"},
		{"Dial nil nil conn", func() error {
			_, err := Dial(bg, "x", nopProto{}, &Options{Dialer: func(context.Context, string) (net.Conn, error) { return nil, nil }})
			return err
		}, "err: client: dialer returned a nil connection and no error"},
		{"Dial typed nil conn", func() error {
			_, err := Dial(bg, "x", nopProto{}, &Options{Dialer: func(context.Context, string) (net.Conn, error) { return (*net.TCPConn)(nil), nil }})
			return err
		}, "err: client: dialer returned a nil connection and no error"},
		{"zero Conn methods", func() error {
			var c Conn
			_ = c.Transport()
			return c.Close()
		}, "err: client: Conn not made by Dial (a zero Conn): no connection"},
		{"zero Conn Wait", func() error { var c Conn; return c.Wait() }, "err: client: Conn not made by Dial (a zero Conn): no connection"},
		{"zero Conn Done", func() error { var c Conn; <-c.Done(); return nil }, "ok"},
		{"zero Reconnecting Start", func() error { return (&Reconnecting{}).Start(bg) }, "err: client: Reconnecting.Factory is nil"},
		{"zero Reconnecting Run", func() error { return (&Reconnecting{}).Run(bg) }, "err: client: Reconnecting.Factory is nil"},
		{"zero Reconnecting Stop", func() error { (&Reconnecting{}).Stop(); return nil }, "ok"},
		{"zero Reconnecting Wait", func() error { return (&Reconnecting{}).Wait() }, "ok"},
		{"zero Reconnecting Transport", func() error { _ = (&Reconnecting{}).Transport(); return nil }, "ok"},
		{"nil FactoryFunc", run(&Reconnecting{Factory: weft.FactoryFunc(nil), Dialer: refused}), "err: client: Reconnecting.Factory is nil"},
		{"no endpoint", run(&Reconnecting{Factory: fac}), "err: client: Reconnecting.Endpoint: endpoint: : type: syntax error: empty description"},
		{"neg MaxRetries", run(&Reconnecting{Factory: fac, Dialer: refused, MaxRetries: -1}), "err: client: Reconnecting.MaxRetries -1 is negative"},
		{"neg StableAfter", run(&Reconnecting{Factory: fac, Dialer: refused, StableAfter: -1}), "err: client: Reconnecting.StableAfter -1ns is negative"},
		{"neg StopTimeout", run(&Reconnecting{Factory: fac, Dialer: refused, StopTimeout: -1}), "err: client: Reconnecting.StopTimeout -1ns is negative"},
		{"nil *Exponential", run(&Reconnecting{Factory: fac, Dialer: refused, Backoff: (*Exponential)(nil)}), "err: client: Reconnecting.Backoff: Exponential is a nil pointer"},
		{"nil BackoffFunc", run(&Reconnecting{Factory: fac, Dialer: refused, Backoff: BackoffFunc(nil)}), "err: client: Reconnecting.Backoff is a nil BackoffFunc"},
		{"bad Exponential", run(&Reconnecting{Factory: fac, Dialer: refused, Backoff: &Exponential{Multiplier: math.NaN()}}), "err: client: Reconnecting.Backoff: Exponential.Multiplier NaN is not a finite number >= 1"},
		{"Preread", run(&Reconnecting{Factory: fac, Dialer: refused, Conn: &weft.Options{Preread: []byte("x")}}), "err: client: Reconnecting.Conn.Preread is set: it belongs to one connection, and would be "},
		{"huge Backoff", run(&Reconnecting{Factory: fac, Dialer: refused, MaxRetries: 3, Backoff: BackoffFunc(func(int) time.Duration { return math.MaxInt64 })}), "err: context deadline exceeded"},
		{"zero Backoff", run(&Reconnecting{Factory: fac, Dialer: refused, MaxRetries: 3, Backoff: BackoffFunc(func(int) time.Duration { return 0 })}), "err: client: gave up reconnecting after 3 retries: refused"},
		{"GiveUp Backoff", run(&Reconnecting{Factory: fac, Dialer: refused, Backoff: BackoffFunc(func(int) time.Duration { return GiveUp })}), "err: client: gave up reconnecting after 0 retries: refused"},
		{"huge MaxRetries", run(&Reconnecting{Factory: fac, Dialer: refused, MaxRetries: math.MaxInt, Backoff: BackoffFunc(func(int) time.Duration { return time.Millisecond })}), "err: context deadline exceeded"},
		{"Start twice", func() error {
			r := &Reconnecting{Factory: fac, Dialer: refused, Backoff: BackoffFunc(func(int) time.Duration { return time.Hour })}
			if err := r.Start(bg); err != nil {
				return err
			}
			defer r.Stop()
			return r.Start(bg)
		}, "err: client: already running"},
		{"Stop twice then Wait", func() error {
			r := &Reconnecting{Factory: fac, Dialer: refused, Backoff: BackoffFunc(func(int) time.Duration { return time.Hour })}
			if err := r.Start(bg); err != nil {
				return err
			}
			r.Stop()
			r.Stop()
			return r.Wait()
		}, "ok"},
		{"Start cancelled ctx", func() error {
			r := &Reconnecting{Factory: fac, Dialer: refused}
			if err := r.Start(cancelled); err != nil {
				return err
			}
			return r.Wait()
		}, "err: context canceled"},
		{"Exponential nil Validate", func() error { return (*Exponential)(nil).Validate() }, "err: client: Exponential is a nil pointer"},
		{"Exponential zero", exp(&Exponential{}), "ok"},
		{"Exponential GRPC", exp(GRPC()), "ok"},
		{"Exponential Twisted", exp(Twisted()), "ok"},
		{"Exponential FullJitter", exp(FullJitter()), "ok"},
		{"Exponential huge", exp(&Exponential{Initial: math.MaxInt64, Max: math.MaxInt64, Multiplier: math.MaxFloat64, Jitter: 1}), "ok"},
		{"Exponential huge gauss", exp(&Exponential{Initial: math.MaxInt64, Max: math.MaxInt64, Multiplier: 2, Jitter: 1, Gaussian: true}), "ok"},
		{"Exponential neg Initial", exp(&Exponential{Initial: -1}), "err: client: Exponential.Initial -1ns is negative"},
		{"Exponential neg Max", exp(&Exponential{Max: -1}), "err: client: Exponential.Max -1ns is negative"},
		{"Exponential mult <1", exp(&Exponential{Multiplier: 0.5}), "err: client: Exponential.Multiplier 0.5 is not a finite number >= 1"},
		{"Exponential mult NaN", exp(&Exponential{Multiplier: math.NaN()}), "err: client: Exponential.Multiplier NaN is not a finite number >= 1"},
		{"Exponential mult Inf", exp(&Exponential{Multiplier: math.Inf(1)}), "err: client: Exponential.Multiplier +Inf is not a finite number >= 1"},
		{"Exponential jitter 2", exp(&Exponential{Jitter: 2}), "err: client: Exponential.Jitter 2 is not in [0, 1]"},
		{"Exponential jitter NaN", exp(&Exponential{Jitter: math.NaN()}), "err: client: Exponential.Jitter NaN is not in [0, 1]"},
		{"Exponential jitter neg", exp(&Exponential{Jitter: -0.5}), "err: client: Exponential.Jitter -0.5 is not in [0, 1]"},
		{"Exponential Delay invalid", func() error {
			e := &Exponential{Multiplier: math.NaN(), Jitter: 5}
			return fmt.Errorf("%v", e.Base(3)) // invalid fields fall back to their defaults
		}, "err: 2.56s"},
	}
	testenv.RunBadInput(t, cases)
}
