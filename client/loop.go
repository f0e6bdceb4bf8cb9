package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/weftkit/weft"
)

type netConn = net.Conn

// run is the reconnect loop.
func (r *Reconnecting) run(ctx context.Context, dial func(context.Context) (*Conn, error)) (err error) {
	defer func() {
		if errors.Is(context.Cause(ctx), errStopped) && !errors.Is(err, ErrGaveUp) {
			err = nil
		} else if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		r.mu.Lock()
		r.cancel(nil)
		r.running, r.last.err, r.conn = false, err, nil
		close(r.last.done)
		r.mu.Unlock()
	}()
	if s, ok := r.Factory.(weft.Starter); ok {
		if err := s.Start(ctx); err != nil {
			return fmt.Errorf("client: factory start: %w", err)
		}
	}
	if s, ok := r.Factory.(weft.Stopper); ok {
		defer s.Stop()
	}
	backoff := r.Backoff
	if backoff == nil {
		backoff = GRPC()
	}
	retries, attempt := 0, 0
	// gaveUp is set when next gives up for MaxRetries or the Backoff, not
	// because the client is stopping: Run then reports the give-up even if
	// a hook told of it ends ctx, or Stop comes, before Run returns.
	gaveUp := false
	// next counts one more retry and returns its delay, or GiveUp.
	next := func() time.Duration {
		retries++
		if ctx.Err() != nil {
			return GiveUp
		}
		if r.MaxRetries > 0 && retries > r.MaxRetries {
			gaveUp = true
			return GiveUp
		}
		if d := backoff.Delay(retries); d >= 0 {
			return d
		}
		gaveUp = true
		return GiveUp // the Backoff's own end (cenkalti/backoff's Stop is -1 too)
	}
	var lastErr error
	for {
		if ctx.Err() != nil {
			return nil
		}
		attempt++
		if r.OnConnecting != nil {
			r.OnConnecting(attempt)
			if ctx.Err() != nil { // stopped while the hook ran: no attempt
				return nil
			}
		}
		c, err := dial(ctx)
		var delay time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			lastErr = err
			delay = next()
			if r.OnConnectFailed != nil {
				r.OnConnectFailed(err, attempt, delay)
			}
		} else {
			made := time.Now() // ConnectionMade has returned
			r.waitConn(ctx, c)
			reason := c.Wait()
			up := time.Since(made)
			r.setConn(nil)
			lastErr = reason
			if lastErr == nil {
				lastErr = errors.New("connection closed cleanly")
			}
			if up >= r.StableAfter {
				// A successful connection (always, with StableAfter 0):
				// the count starts again.
				retries, attempt = 0, 0
			} else {
				// Too short to count as a success (a server that accepts
				// and hangs up at once): one more failure in a row.
				lastErr = fmt.Errorf("connection ended after %v, before StableAfter %v: %w", up, r.StableAfter, lastErr)
			}
			delay = next()
			if r.OnConnectionLost != nil {
				r.OnConnectionLost(reason, delay)
			}
		}
		if delay == GiveUp {
			if !gaveUp { // stopping
				return nil
			}
			return fmt.Errorf("%w after %d retries: %w", ErrGaveUp, retries-1, lastErr)
		}
		if !sleep(ctx, delay) {
			return nil
		}
	}
}

// waitConn waits for c to end; if ctx ends first it closes c gracefully,
// then aborts it after StopTimeout.
func (r *Reconnecting) waitConn(ctx context.Context, c *Conn) {
	select {
	case <-c.Done():
		return
	case <-ctx.Done():
	}
	c.Transport().LoseConnection()
	grace := r.StopTimeout
	if grace == 0 {
		grace = DefaultStopTimeout
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.Done():
	case <-t.C:
		c.Transport().Abort()
	}
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
