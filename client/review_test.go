package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// slowMade blocks in ConnectionMade for a (fake) while.
type slowMade struct {
	recProto
	d time.Duration
}

func (p *slowMade) ConnectionMade(t weft.Transport) {
	time.Sleep(p.d)
	p.recProto.ConnectionMade(t)
}

// Stop while ConnectionMade runs: Stop waits for it to return, then closes
// the connection and does not reconnect.
func TestReviewStopDuringConnectionMade(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		srv := make(chan net.Conn, 1)
		dials := 0
		r := &Reconnecting{
			Endpoint: "test", Backoff: &Exponential{},
			Factory: weftFactory(func() weftProto { return &slowMade{recProto: recProto{ev: &ev, n: 1}, d: 10 * time.Second} }),
			Dialer: func(context.Context, string) (net.Conn, error) {
				dials++
				cli, s := net.Pipe()
				srv <- s
				return cli, nil
			},
		}
		hook(r, &ev)
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		start := time.Now()
		r.Stop()
		if d := time.Since(start); d != 9*time.Second {
			t.Errorf("Stop took %v, want the rest of ConnectionMade (9s)", d)
		}
		if err := r.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
		want := []string{"connecting 1", "made 1", "connectionLost 1 <nil>", "lost <nil> next -1ns"}
		if got := ev.snapshot(); !reflect.DeepEqual(got, want) || dials != 1 {
			t.Errorf("events %q after %d dials, want %q after 1", got, dials, want)
		}
		s := <-srv
		if _, err := s.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("server side Read = %v, want io.EOF", err)
		}
	})
}

// Many concurrent Stops and Waits, in every state, all return, with the same
// result, and nothing reconnects.
func TestReviewConcurrentStop(t *testing.T) {
	for _, state := range []string{"waiting", "connecting", "connected"} {
		t.Run(state, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var servers []net.Conn
				defer func() {
					for _, s := range servers {
						s.Close()
					}
				}()
				var dials atomic.Int32
				r := &Reconnecting{
					Endpoint: "test", Factory: nopFactory, Backoff: &Exponential{},
					Dialer: func(ctx context.Context, _ string) (net.Conn, error) {
						dials.Add(1)
						switch state {
						case "waiting":
							return nil, errRefused
						case "connecting":
							<-ctx.Done()
							return nil, ctx.Err()
						}
						cli, s := net.Pipe()
						servers = append(servers, s)
						return cli, nil
					},
				}
				if err := r.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				var wg sync.WaitGroup
				errs := make(chan error, 16)
				for range 8 {
					wg.Go(func() { r.Stop() })
					wg.Go(func() { errs <- r.Wait() })
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Errorf("Wait = %v, want nil after Stop", err)
					}
				}
				if n := dials.Load(); n != 1 {
					t.Errorf("%d dials, want 1", n)
				}
			})
		})
	}
}

// startStopFactory counts Start and Stop.
type startStopFactory struct {
	weft.Factory
	starts, stops atomic.Int32
}

func (f *startStopFactory) Start(context.Context) error { f.starts.Add(1); return nil }
func (f *startStopFactory) Stop()                       { f.stops.Add(1) }

// A stopped client can be started again; the Factory is started and stopped
// once per run.
func TestReviewRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		f := &startStopFactory{Factory: &recFactory{ev: &ev}}
		var servers []net.Conn
		defer func() {
			for _, s := range servers {
				s.Close()
			}
		}()
		r := &Reconnecting{
			Endpoint: "test", Factory: f, Backoff: &Exponential{},
			Dialer: func(context.Context, string) (net.Conn, error) {
				cli, s := net.Pipe()
				servers = append(servers, s)
				return cli, nil
			},
		}
		for i := range 2 {
			if err := r.Start(t.Context()); err != nil {
				t.Fatalf("run %d: Start = %v", i, err)
			}
			synctest.Wait()
			if r.Transport() == nil {
				t.Errorf("run %d: no live Transport", i)
			}
			r.Stop()
			if err := r.Wait(); err != nil {
				t.Errorf("run %d: Wait = %v", i, err)
			}
		}
		if f.starts.Load() != 2 || f.stops.Load() != 2 {
			t.Errorf("Factory started %d and stopped %d times, want 2 and 2", f.starts.Load(), f.stops.Load())
		}
	})
}

// Cancelling ctx from a hook (the non-blocking way to stop from inside the
// client) ends Run with ctx's error and no further attempt.
func TestReviewCancelFromHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		dials := 0
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, Backoff: &Exponential{},
			Dialer:          func(context.Context, string) (net.Conn, error) { dials++; return nil, errRefused },
			OnConnectFailed: func(error, int, time.Duration) { cancel() },
		}
		start := time.Now()
		err := r.Run(ctx)
		if !errors.Is(err, context.Canceled) || dials != 1 || time.Since(start) != 0 {
			t.Errorf("Run = %v after %d dials and %v; want context.Canceled after 1 dial, at once", err, dials, time.Since(start))
		}
	})
}

// A Protocol that stops the client from its ConnectionLost (on another
// goroutine, as documented) gets no reconnection.
func TestReviewStopFromConnectionLostGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dials atomic.Int32
		r := &Reconnecting{Endpoint: "test", Backoff: &Exponential{}}
		stopped := make(chan struct{})
		r.Factory = weftFactory(func() weftProto {
			return &lostFunc{f: func() { go func() { r.Stop(); close(stopped) }() }}
		})
		r.Dialer = func(context.Context, string) (net.Conn, error) {
			dials.Add(1)
			cli, s := net.Pipe()
			s.Close() // the server hangs up at once
			return cli, nil
		}
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		<-stopped
		if n := dials.Load(); n != 1 {
			t.Errorf("%d dials, want 1", n)
		}
	})
}

type lostFunc struct {
	nopProto
	f func()
}

func (p *lostFunc) ConnectionLost(error) { p.f() }

// Output written by the Protocol before Stop is flushed to a (slow) reading
// peer before the connection closes, within StopTimeout: Stop loses no data.
func TestReviewStopFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
		got := make(chan []byte, 1)
		r := &Reconnecting{
			Endpoint: "test", Backoff: &Exponential{}, StopTimeout: time.Minute,
			Factory: weftFactory(func() weftProto { return &writer{data: data, ev: &ev} }),
			Dialer: func(context.Context, string) (net.Conn, error) {
				cli, s := net.Pipe()
				go func() { // a slow reader: 64 KiB a second
					var b []byte
					buf := make([]byte, 64<<10)
					for {
						n, err := s.Read(buf)
						b = append(b, buf[:n]...)
						if err != nil {
							break
						}
						time.Sleep(time.Second)
					}
					got <- b
					s.Close()
				}()
				return cli, nil
			},
		}
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // connected, most of the output still pending
		r.Stop()
		if b := <-got; !bytes.Equal(b, data) {
			t.Errorf("peer read %d bytes, want all %d", len(b), len(data))
		}
	})
}

// A backoff that returns zero against a dialer that fails at once
// busy-loops, as configured, but Stop still ends it.
func TestReviewZeroBackoffStop(t *testing.T) {
	many := make(chan struct{})
	var dials atomic.Int64
	r := &Reconnecting{
		Endpoint: "test", Factory: nopFactory,
		Backoff: BackoffFunc(func(int) time.Duration { return 0 }),
		Dialer: func(context.Context, string) (net.Conn, error) {
			if dials.Add(1) == 1000 {
				close(many)
			}
			return nil, errRefused
		},
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-many
	r.Stop()
	if err := r.Wait(); err != nil {
		t.Errorf("Wait = %v", err)
	}
}

// A server that accepts and hangs up at once (as weft's server does over
// MaxConns with Reject). With StableAfter 0 (the default, documented) a
// connection counts as successful once made: the client retries every
// Delay(1) forever and MaxRetries never applies. With StableAfter set, such
// connections are failures: the delays grow per the backoff and MaxRetries
// ends the loop with ErrGaveUp.
func TestReviewFlappingServer(t *testing.T) {
	flapping := func(stableAfter time.Duration, ev *events, dials *int) *Reconnecting {
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, MaxRetries: 3, StableAfter: stableAfter,
			Backoff: &Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute},
			Dialer: func(context.Context, string) (net.Conn, error) {
				*dials++
				cli, s := net.Pipe()
				s.Close()
				return cli, nil
			},
		}
		hook(r, ev)
		return r
	}
	t.Run("StableAfter=0", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var ev events
			dials := 0
			err := flapping(0, &ev, &dials).Run(ctx)
			if !errors.Is(err, context.DeadlineExceeded) || dials < 60 {
				t.Errorf("Run = %v after %d connections in a minute; want one per Delay(1) = 1 s until ctx ends", err, dials)
			}
			for _, e := range ev.snapshot() {
				if strings.HasPrefix(e, "lost") && e != "lost <nil> next 1s" && e != "lost <nil> next -1ns" {
					t.Errorf("event %q, want every loss followed by Delay(1) = 1s", e)
				}
			}
		})
	})
	t.Run("StableAfter=5s", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var ev events
			dials := 0
			start := time.Now()
			ctx, cancel := context.WithTimeout(t.Context(), time.Hour) // bounded if it never gives up
			defer cancel()
			err := flapping(5*time.Second, &ev, &dials).Run(ctx)
			want := []string{
				"connecting 1", "lost <nil> next 1s",
				"connecting 2", "lost <nil> next 2s",
				"connecting 3", "lost <nil> next 4s",
				"connecting 4", "lost <nil> next -1ns",
			}
			if got := ev.snapshot(); !reflect.DeepEqual(got, want) || dials != 4 {
				t.Errorf("events %q after %d connections, want %q after 4", got, dials, want)
			}
			if !errors.Is(err, ErrGaveUp) || time.Since(start) != 7*time.Second {
				t.Errorf("Run = %v after %v, want ErrGaveUp after 7s", err, time.Since(start))
			}
			// The message quoted in docs/guide.md §5.
			const msg = "client: gave up reconnecting after 3 retries: connection ended after 0s, before StableAfter 5s: connection closed cleanly"
			if err == nil || err.Error() != msg {
				t.Errorf("Run = %v, want %q", err, msg)
			}
		})
	})
}

// Reconnecting.Conn.Preread are bytes "already read from the connection":
// they belong to one connection, but Reconnecting hands the same Options to
// every connection, so each new connection would deliver them again, bytes
// the server never sent. Such a configuration must be refused.
func TestReviewPrereadRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		var servers []net.Conn
		defer func() {
			for _, s := range servers {
				s.Close()
			}
		}()
		dials := 0
		r := &Reconnecting{
			Endpoint: "test", Factory: &recFactory{ev: &ev}, Backoff: &Exponential{}, MaxRetries: 1,
			Conn: &weft.Options{Preread: []byte("phantom")},
			Dialer: func(context.Context, string) (net.Conn, error) {
				if dials++; dials > 2 {
					return nil, errRefused
				}
				cli, s := net.Pipe()
				servers = append(servers, s)
				go func() { time.Sleep(time.Second); s.Close() }()
				return cli, nil
			},
		}
		err := r.Run(t.Context())
		if err == nil || errors.Is(err, ErrGaveUp) || !containsWord(err.Error(), "Preread") {
			t.Errorf("Run = %v; events %q; want a configuration error naming Preread", err, ev.snapshot())
		}
	})
}

// Stop during a TLS handshake with a server that accepts and never answers
// (the default dialer, real loopback): the handshake is cancelled at once, not
// after the 30 s dial timeout.
func TestReviewStopDuringTLSHandshake(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		defer close(accepted)
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	defer ln.Close()
	r := &Reconnecting{
		Endpoint: "tls:127.0.0.1:" + portOf(ln.Addr()),
		Factory:  nopFactory,
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, ok := <-accepted // the client is now in its handshake
	if !ok {
		t.Fatal("accept failed")
	}
	defer c.Close()
	stopped := make(chan struct{})
	go func() { r.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop blocked by a TLS handshake")
	}
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// A Backoff that is a nil pointer or a nil function (an optional setting
// passed through) gets a configuration error naming Backoff, not a panic in
// Run, or later on the client's goroutine (which would crash the program).
func TestReviewNilBackoff(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    Backoff
	}{
		{"nil *Exponential", (*Exponential)(nil)},
		{"nil BackoffFunc", BackoffFunc(nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := &Reconnecting{
					Endpoint: "test", Factory: nopFactory, Backoff: tt.b, MaxRetries: 1,
					Dialer: func(context.Context, string) (net.Conn, error) { return nil, errRefused },
				}
				err := runNoPanic(t, r, t.Context())
				if err == nil || errors.Is(err, ErrGaveUp) || !containsWord(err.Error(), "Backoff") {
					t.Errorf("Run = %v, want a configuration error naming Backoff", err)
				}
			})
		})
	}
}

// A nil FactoryFunc is a configuration error, as a nil Factory is, not a
// panic recovered at every attempt (retried forever without MaxRetries).
func TestReviewNilFactoryFunc(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dials := 0
		r := &Reconnecting{
			Endpoint: "test", Factory: weft.FactoryFunc(nil), Backoff: &Exponential{}, MaxRetries: 1,
			Dialer: func(context.Context, string) (net.Conn, error) {
				dials++
				cli, s := net.Pipe()
				s.Close()
				return cli, nil
			},
		}
		err := runNoPanic(t, r, t.Context())
		if err == nil || errors.Is(err, ErrGaveUp) || !containsWord(err.Error(), "Factory") || dials != 0 {
			t.Errorf("Run = %v after %d dials, want a configuration error naming Factory and no dial", err, dials)
		}
	})
}

// A Backoff that returns a negative delay gives up, as MaxRetries does: Run
// ends with ErrGaveUp wrapping the last error, and the hook is told GiveUp.
func TestBackoffNegativeGivesUp(t *testing.T) {
	for _, d := range []time.Duration{GiveUp, -time.Hour} {
		var dials, failed int
		var next time.Duration
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory,
			Backoff: BackoffFunc(func(retry int) time.Duration {
				if retry < 3 {
					return 0
				}
				return d
			}),
			Dialer: func(context.Context, string) (net.Conn, error) {
				dials++
				return nil, errRefused
			},
			OnConnectFailed: func(_ error, _ int, nd time.Duration) { failed++; next = nd },
		}
		err := r.Run(t.Context())
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, errRefused) {
			t.Errorf("Backoff %v: Run = %v, want ErrGaveUp wrapping the dial error", d, err)
		}
		if want := "after 2 retries"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Backoff %v: Run = %v, want %q", d, err, want)
		}
		if dials != 3 || failed != 3 || next != GiveUp {
			t.Errorf("Backoff %v: %d dials, %d failures, last next %v; want 3, 3, GiveUp", d, dials, failed, next)
		}
	}
}

// Wait returns the result of the run it waited for, even when another run
// begins as soon as that one ends (before, it could return the new run's
// nil, reset by Start, instead of the ended run's ErrGaveUp).
func TestWaitKeepsItsRunsResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &Reconnecting{
			Endpoint: "test", Factory: nopFactory, MaxRetries: 1,
			Backoff: BackoffFunc(func(int) time.Duration { return 0 }),
		}
		for i := range 100 {
			release := make(chan struct{})
			r.Dialer = func(context.Context, string) (net.Conn, error) {
				<-release
				return nil, errRefused
			}
			ended := make(chan error, 1)
			go func() { ended <- r.Run(t.Context()) }()
			synctest.Wait() // the run has begun and waits in its dial
			waited := make(chan error, 1)
			go func() { waited <- r.Wait() }()
			synctest.Wait() // Wait waits for this run
			close(release)
			if err := <-ended; !errors.Is(err, ErrGaveUp) {
				t.Fatalf("iteration %d: Run = %v, want ErrGaveUp", i, err)
			}
			// The next run begins at once, racing Wait's wake-up.
			r.Dialer = func(ctx context.Context, _ string) (net.Conn, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			if err := r.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			err := <-waited
			r.Stop()
			if !errors.Is(err, ErrGaveUp) {
				t.Fatalf("iteration %d: Wait = %v, want the ended run's ErrGaveUp", i, err)
			}
		}
	})
}
