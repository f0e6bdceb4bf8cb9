package client

import (
	"context"
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// TestReview6GiveUpThenCancel: a hook told GiveUp (MaxRetries reached, or
// the Backoff's own end) that then cancels Run's ctx, as the guide tells
// hooks to do instead of calling Stop, still sees Run return the give-up:
// the client gave up before ctx ended, and a caller checking
// errors.Is(err, ErrGaveUp) must see it. Run returned context.Canceled
// (found by the Reconnecting property test).
func TestReview6GiveUpThenCancel(t *testing.T) {
	errDial := errors.New("review6: no route")
	for _, tc := range []struct {
		name string
		cfg  func(r *Reconnecting)
	}{
		{"MaxRetries", func(r *Reconnecting) { r.MaxRetries = 2 }},
		{"Backoff", func(r *Reconnecting) {
			r.Backoff = BackoffFunc(func(n int) time.Duration {
				if n > 2 {
					return GiveUp
				}
				return time.Second
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				told := 0
				r := &Reconnecting{
					Endpoint: "test",
					Factory:  nopFactory,
					Backoff:  &Exponential{Initial: time.Second, Max: time.Second, Multiplier: 1},
					Dialer: func(context.Context, string) (net.Conn, error) {
						return nil, errDial
					},
					OnConnectFailed: func(_ error, _ int, next time.Duration) {
						if next == GiveUp {
							told++
							cancel()
						}
					},
				}
				tc.cfg(r)
				err := r.Run(ctx)
				if told != 1 {
					t.Fatalf("OnConnectFailed told GiveUp %d times, want 1", told)
				}
				if !errors.Is(err, ErrGaveUp) || !errors.Is(err, errDial) {
					t.Errorf("Run = %v after the hook was told GiveUp and then cancelled ctx; want ErrGaveUp wrapping the last dial error", err)
				}
			})
		})
	}
}

// TestReview6CancelIsNotGiveUp: a ctx that ends on its own still ends Run
// with ctx's error, and the hook then hears GiveUp (it is stopping), but
// Run does not report a give-up.
func TestReview6CancelIsNotGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var got []time.Duration
		r := &Reconnecting{
			Endpoint: "test",
			Factory:  nopFactory,
			Backoff:  &Exponential{Initial: time.Second, Max: time.Second, Multiplier: 1},
			Dialer: func(context.Context, string) (net.Conn, error) {
				cancel() // ctx ends while the attempt fails
				return nil, errors.New("review6: refused")
			},
			OnConnectFailed: func(_ error, _ int, next time.Duration) { got = append(got, next) },
		}
		err := r.Run(ctx)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrGaveUp) {
			t.Errorf("Run = %v, want context.Canceled and no ErrGaveUp", err)
		}
		if len(got) != 0 {
			t.Errorf("OnConnectFailed called with %v for an attempt cancelled by ctx", got)
		}
	})
}
