package client

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// flapDialer returns a Dialer whose i-th connection (from 0) is made and then
// closed by the server after life(i) of (fake) time; a negative life refuses
// the attempt instead. *dials counts the calls.
func flapDialer(dials *int, life func(i int) time.Duration) DialFunc {
	return func(context.Context, string) (net.Conn, error) {
		i := *dials
		*dials++
		d := life(i)
		if d < 0 {
			return nil, errRefused
		}
		cli, s := net.Pipe()
		go func() {
			time.Sleep(d)
			s.Close()
		}()
		return cli, nil
	}
}

// lives returns a life function over a fixed list, and cancel for any dial
// past it (returning ctx's error, as a cancelled dial does).
func lives(cancel context.CancelFunc, l ...time.Duration) func(int) time.Duration {
	return func(i int) time.Duration {
		if i >= len(l) {
			cancel()
			return -1
		}
		return l[i]
	}
}

// A connection that lived StableAfter or longer resets the backoff; shorter
// ones count as failures: the delays grow 1, 2 s, reset to 1 s after the 10 s
// connection, then grow again; the attempt numbers likewise.
func TestStableAfterLongConnectionResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var ev events
		dials := 0
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, StableAfter: 5 * time.Second,
			Backoff: &Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute},
			Dialer:  flapDialer(&dials, lives(cancel, 0, 0, 10*time.Second, 0, 0)),
		}
		hook(r, &ev)
		err := r.Run(ctx)
		want := []string{
			"connecting 1", "lost <nil> next 1s",
			"connecting 2", "lost <nil> next 2s",
			"connecting 3", "lost <nil> next 1s", // lived 10 s: stable
			"connecting 1", "lost <nil> next 2s",
			"connecting 2", "lost <nil> next 4s",
			"connecting 3",
		}
		if got := ev.snapshot(); !reflect.DeepEqual(got, want) {
			t.Errorf("events\n%q\nwant\n%q", got, want)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
}

// The boundary: a connection that lived exactly StableAfter is stable (the
// next wait is Delay(1) again); one nanosecond less is a failure (Delay(2)).
func TestStableAfterBoundary(t *testing.T) {
	const stable = 5 * time.Second
	for _, tc := range []struct {
		life time.Duration
		want string
	}{
		{stable, "connecting 2, lost <nil> next 1s, connecting 1"},
		{stable - time.Nanosecond, "connecting 2, lost <nil> next 2s, connecting 3"},
		{stable + time.Nanosecond, "connecting 2, lost <nil> next 1s, connecting 1"},
	} {
		t.Run(tc.life.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				var ev events
				dials := 0
				r := &Reconnecting{
					Endpoint: "test", Factory: nopFactory, StableAfter: stable,
					Backoff: &Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute},
					Dialer:  flapDialer(&dials, lives(cancel, 0, tc.life)),
				}
				hook(r, &ev)
				if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
					t.Errorf("Run = %v, want context.Canceled", err)
				}
				got := ev.snapshot()
				if len(got) < 2 || got[1] != "lost <nil> next 1s" || strings.Join(got[2:], ", ") != tc.want {
					t.Errorf("events %q, want the first loss at 1s, then %q", got, tc.want)
				}
			})
		})
	}
}

// Failed attempts and short-lived connections count together towards
// MaxRetries; the attempt number grows across them; Run's error matches
// ErrGaveUp and says why the last connection counted as a failure.
func TestStableAfterMixedFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		dials := 0
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, StableAfter: time.Minute, MaxRetries: 3,
			Backoff: &Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute},
			Dialer:  flapDialer(&dials, lives(func() {}, -1, 30*time.Second, -1, 0)),
		}
		hook(r, &ev)
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour) // bounded if it never gives up
		defer cancel()
		start := time.Now()
		err := r.Run(ctx)
		want := []string{
			"connecting 1", "failed 1 next 1s",
			"connecting 2", "lost <nil> next 2s",
			"connecting 3", "failed 3 next 4s",
			"connecting 4", "lost <nil> next -1ns",
		}
		if got := ev.snapshot(); !reflect.DeepEqual(got, want) {
			t.Errorf("events\n%q\nwant\n%q", got, want)
		}
		if !errors.Is(err, ErrGaveUp) || !strings.Contains(err.Error(), "StableAfter") {
			t.Errorf("Run = %v, want ErrGaveUp naming StableAfter", err)
		}
		if d := time.Since(start); d != 37*time.Second {
			t.Errorf("gave up after %v, want 37s (1 + 30 + 2 + 4)", d)
		}
	})
}

// abortProto aborts its connection as soon as it is made.
type abortProto struct{ nopProto }

func (abortProto) ConnectionMade(t weft.Transport) { t.Abort() }

// Run's ErrGaveUp wraps the last short-lived connection's lost reason.
func TestStableAfterGaveUpWrapsReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var servers []net.Conn
		defer func() {
			for _, s := range servers {
				s.Close()
			}
		}()
		var reasons []error
		r := &Reconnecting{
			Endpoint: "test", StableAfter: time.Second, MaxRetries: 2, Backoff: &Exponential{},
			Factory: weftFactory(func() weftProto { return abortProto{} }),
			Dialer: func(context.Context, string) (net.Conn, error) {
				cli, s := net.Pipe()
				servers = append(servers, s)
				return cli, nil
			},
			OnConnectionLost: func(reason error, _ time.Duration) { reasons = append(reasons, reason) },
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour) // bounded if it never gives up
		defer cancel()
		err := r.Run(ctx)
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, weft.ErrAborted) {
			t.Errorf("Run = %v, want ErrGaveUp wrapping weft.ErrAborted", err)
		}
		if len(reasons) != 3 || !errors.Is(reasons[2], weft.ErrAborted) {
			t.Errorf("lost reasons %v, want 3 times weft.ErrAborted", reasons)
		}
	})
}

// A negative StableAfter is a configuration error naming the field; nothing
// is dialled.
func TestStableAfterNegative(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // bounded if accepted
		defer cancel()
		dials := 0
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, StableAfter: -time.Nanosecond,
			Dialer: flapDialer(&dials, func(int) time.Duration { return 0 }),
		}
		err := r.Run(ctx)
		if err == nil || errors.Is(err, ErrGaveUp) || errors.Is(err, context.DeadlineExceeded) ||
			!strings.Contains(err.Error(), "StableAfter") || dials != 0 {
			t.Errorf("Run = %v after %d dials, want a configuration error naming StableAfter, no dial", err, dials)
		}
		if err := r.Start(ctx); err == nil {
			r.Stop()
			t.Error("Start accepted a negative StableAfter")
		}
	})
}

// Loopback, against a server that rejects as weft's own server does over
// MaxConns with Reject and a RejectMessage (accept, write the message, close):
// with StableAfter set, MaxRetries ends the loop with ErrGaveUp.
func TestStableAfterRejectingServerLoopback(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan int, 1)
	go func() {
		n := 0
		defer func() { accepted <- n }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n++
			c.Write([]byte("Too many connections, try later\r\n"))
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var lost []error
	r := &Reconnecting{
		Endpoint: "tcp:127.0.0.1:" + portOf(ln.Addr()), Factory: nopFactory,
		StableAfter: time.Hour, MaxRetries: 3,
		Backoff:          BackoffFunc(func(retry int) time.Duration { return time.Duration(retry) * time.Millisecond }),
		OnConnectionLost: func(reason error, _ time.Duration) { lost = append(lost, reason) },
	}
	err = r.Run(ctx)
	ln.Close()
	n := <-accepted
	if !errors.Is(err, ErrGaveUp) {
		t.Errorf("Run = %v, want ErrGaveUp", err)
	}
	if n != 4 || len(lost) != 4 {
		t.Errorf("%d connections accepted, %d lost, want 4 and 4 (MaxRetries 3)", n, len(lost))
	}
}
