package irc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/weftkit/weft"
)

// Reconnection delays of Run, Twisted's ReconnectingClientFactory defaults
// (except MaxDelay: one hour is long for a test or a bot).
const (
	DefaultInitialDelay = time.Second
	DefaultMaxDelay     = time.Minute
	reconnectFactor     = 2.718281828459045
	reconnectJitter     = 0.11962656472
)

// RunConfig configures LogBot.Run. Its zero value works except Dial.
type RunConfig struct {
	// Dial opens one connection to the server. Required.
	Dial func(ctx context.Context) (net.Conn, error)
	// InitialDelay is the wait before the first retry. Zero means
	// DefaultInitialDelay.
	InitialDelay time.Duration
	// MaxDelay caps the wait between retries. Zero means DefaultMaxDelay.
	MaxDelay time.Duration
	// OnEvent, if not nil, is told of each connect failure or loss and of
	// the wait before the next try (for a command's stderr). Nil: silent.
	OnEvent func(err error, next time.Duration)
	// Options are the connection options (nil: weft's defaults).
	Options *weft.Options
}

// Run keeps the bot connected until ctx is done: it dials, serves a Client
// from BuildProtocol, and when the dial fails or the connection is lost it
// waits (exponential backoff with jitter, reset after a connection that
// signed on) and tries again. When ctx ends the bot says QUIT and Run
// returns ctx.Err().
//
// Run is a small stand-in for client.Reconnecting, with the same shape: a
// Factory, a dial, a backoff.
func (b *LogBot) Run(ctx context.Context, cfg RunConfig) error {
	if cfg.Dial == nil {
		return fmt.Errorf("%w: RunConfig.Dial is nil", ErrConfig)
	}
	if cfg.InitialDelay < 0 || cfg.MaxDelay < 0 {
		return fmt.Errorf("%w: RunConfig.InitialDelay or MaxDelay is negative", ErrConfig)
	}
	first, maxDelay := cfg.InitialDelay, cfg.MaxDelay
	if first == 0 {
		first = DefaultInitialDelay
	}
	if maxDelay == 0 {
		maxDelay = DefaultMaxDelay
	}
	delay := first
	for {
		err := b.serveOnce(ctx, cfg)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if cl := b.Client(); cl != nil && cl.Registered() {
			delay = first
		}
		wait := time.Duration(float64(delay) * (1 + reconnectJitter*(2*rand.Float64()-1)))
		if cfg.OnEvent != nil {
			cfg.OnEvent(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(time.Duration(float64(delay)*reconnectFactor), maxDelay)
	}
}

// errLost stands for a connection that ended cleanly: Run still reconnects.
var errLost = errors.New("irc: connection closed")

func (b *LogBot) serveOnce(ctx context.Context, cfg RunConfig) error {
	nc, err := cfg.Dial(ctx)
	if err != nil {
		return err
	}
	p := b.BuildProtocol(nc.RemoteAddr())
	conn := weft.NewConn(nc, p, cfg.Options)
	stop := context.AfterFunc(ctx, conn.Shutdown)
	defer stop()
	if err := conn.Serve(); err != nil {
		return err
	}
	return errLost
}
