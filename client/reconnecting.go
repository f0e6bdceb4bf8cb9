package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/endpoint"
)

// GiveUp is the nextDelay passed to OnConnectFailed and OnConnectionLost when
// the client will not try again (MaxRetries reached, the Backoff returned a
// negative delay, or stopping). A Backoff may return it to give up.
const GiveUp time.Duration = -1

// DefaultStopTimeout is the StopTimeout used when the field is zero.
const DefaultStopTimeout = 5 * time.Second

var (
	// ErrGaveUp: Run ended because MaxRetries retries failed in a row, or
	// the Backoff returned a negative delay. It wraps the last connection
	// error: the failed attempt's, or the last connection's lost reason
	// (one shorter than StableAfter, or any connection when the Backoff
	// gives up at the first retry after it), and says how many retries
	// were made since the last successful connection ("after N retries":
	// MaxRetries when that limit ended it).
	ErrGaveUp = errors.New("client: gave up reconnecting")
	// ErrRunning: Start or Run was called while the client was running.
	ErrRunning = errors.New("client: already running")
	// errStopped is the cancellation cause used by Stop.
	errStopped = errors.New("client: stopped")
)

// Reconnecting keeps a Factory connected to one endpoint, as Twisted's
// ReconnectingClientFactory: each connection gets a new Protocol from the
// Factory (state that must survive reconnects lives in the Factory); after a
// failed attempt or a lost connection it waits the next Backoff delay and
// tries again; the delay sequence restarts after every successful connection
// (one that was made, or with StableAfter set, one that stayed up that long).
//
// Counting: a "retry" is a wait caused by a failure or a loss. After the n-th
// consecutive one since the last successful connection the client waits
// Backoff.Delay(n); when n would exceed MaxRetries, or that delay is
// negative (GiveUp), it gives up. The first
// attempt after Run starts is immediate; after a lost connection the client
// waits Delay(1) first (so a server that accepts and hangs up at once is not
// hammered), or with StableAfter set, after a connection shorter than that,
// the next delay Delay(n+1) (so such a server is retried with a growing delay,
// and MaxRetries ends it).
//
// Stop and ctx cancellation end it promptly in every state: a wait is
// cancelled, a connection attempt is cancelled (through the DialFunc's ctx),
// and a live connection gets LoseConnection (then Abort if it has not closed
// within StopTimeout) and is not replaced.
//
// Configure the exported fields, then call Run or Start; do not change them
// while it runs, and do not copy a Reconnecting after first use.
type Reconnecting struct {
	// Endpoint is the client description to connect to ("tcp:host:port").
	// Required unless Dialer is set (it is then passed to Dialer as is).
	Endpoint string
	// Factory builds the Protocol for each connection, with the remote
	// address. Required (not nil, nor a nil weft.FactoryFunc). If it
	// implements weft.Starter / weft.Stopper, Start runs once when Run
	// begins and Stop once when Run ends (not around every retry, unlike
	// Twisted); when Start fails, Run returns its error (nil if Stop or
	// ctx ended the client meanwhile) and Stop is not called. A
	// BuildProtocol that returns nil
	// (ErrNoProtocol) or panics (an error wrapping weft.ErrProtocolPanic
	// and the panic value) fails the attempt; its connection is closed.
	// When Stop or ctx ends the client while BuildProtocol runs, the
	// Protocol it returns is discarded unused (no callback runs) and the
	// connection closed.
	Factory weft.Factory
	// Dialer opens each connection. Nil means endpoint.ParseClient(Endpoint)
	// and its Dial, honouring the description's timeout= (default 30 s).
	Dialer DialFunc
	// Backoff chooses the wait before each retry. Nil means GRPC(); a nil
	// *Exponential or BackoffFunc is a configuration error.
	Backoff Backoff
	// MaxRetries is how many retries in a row (failed attempts and losses
	// since the last successful connection) are allowed before giving up.
	// Zero means retry forever. With StableAfter set, connections that ended
	// sooner count as failed attempts here too, so MaxRetries also ends a
	// loop of connections that a server accepts and closes at once.
	MaxRetries int
	// StableAfter is how long a connection must have been up for it to count
	// as successful: one that ends sooner counts as a failed attempt (the
	// retry and attempt numbers keep growing, so the next wait is the next
	// Backoff delay, OnConnectionLost reports it, and MaxRetries applies);
	// one that lived StableAfter or longer (exactly StableAfter included)
	// resets the count, and the next wait is Delay(1) again. A connection is
	// up from the return of its Protocol's ConnectionMade to the return of
	// its ConnectionLost (the time the client waits for it to end).
	//
	// Zero (the default) counts every connection as successful once
	// ConnectionMade has returned, as Twisted's resetDelay in
	// connectionMade: right for a server that refuses by closing the
	// listener (failed attempts), but a server that refuses by accepting
	// and hanging up at once — weft's own server over MaxConns with Reject
	// (and its RejectMessage), over MaxQueue or MaxConnsPerPeer, or a proxy
	// or load balancer in front of a dead backend — is then retried every
	// Delay(1) (about 1 s, or 0.5 s on average with FullJitter) forever,
	// the backoff never grows and MaxRetries never applies: a fleet of
	// clients keeps hammering the overloaded server. Set StableAfter (a few
	// seconds, longer than such a server takes to hang up and shorter than a
	// normal session) for such servers; gRPC similarly resets its backoff
	// only once a connection is ready. When MaxRetries then gives up after a
	// short connection, Run's error matches ErrGaveUp and wraps that
	// connection's lost reason (with "connection ended after ..., before
	// StableAfter ..."). Negative is a configuration error.
	StableAfter time.Duration
	// Conn tunes each connection's runtime; its Client field is forced to
	// true. Nil means the defaults. Preread must be empty (those bytes would
	// be delivered again on every connection): Run refuses it.
	Conn *weft.Options
	// StopTimeout bounds how long stopping waits for the live connection to
	// flush its output after LoseConnection (a peer that stops reading could
	// otherwise hold it open forever); then the connection is aborted. Zero
	// means DefaultStopTimeout.
	StopTimeout time.Duration

	// OnConnecting, if set, is called before each connection attempt;
	// attempt counts the attempts since the last successful connection
	// (1-based; see StableAfter for what counts as successful).
	OnConnecting func(attempt int)
	// OnConnectFailed, if set, is called when an attempt fails, with the
	// delay before the next attempt, or GiveUp (MaxRetries reached, or the
	// Backoff returned a negative delay). An attempt that Stop or ctx
	// cancelled is not reported: Run just ends. The delay starts when the
	// hook returns (so does OnConnectionLost's). Once told GiveUp, the
	// client has given up: Run returns ErrGaveUp even if the hook then
	// cancels ctx or Stop is called.
	OnConnectFailed func(err error, attempt int, nextDelay time.Duration)
	// OnConnectionLost, if set, is called after a connection ended (after
	// its Protocol's ConnectionLost) with the reason and the delay before the
	// next attempt, or GiveUp when the client will not try again: it is
	// stopping, the Backoff returned a negative delay, or (with
	// StableAfter, for a connection shorter than that) MaxRetries is
	// reached.
	OnConnectionLost func(reason error, nextDelay time.Duration)

	mu      sync.Mutex
	running bool
	cancel  context.CancelCauseFunc
	last    *runResult // the running or last run's result
	conn    *Conn      // the live connection, or nil
}

// validate checks the configuration and returns the dial function.
func (r *Reconnecting) validate() (func(context.Context) (*Conn, error), error) {
	if f, ok := r.Factory.(weft.FactoryFunc); r.Factory == nil || ok && f == nil {
		return nil, errors.New("client: Reconnecting.Factory is nil")
	}
	if r.StopTimeout < 0 {
		return nil, fmt.Errorf("client: Reconnecting.StopTimeout %v is negative", r.StopTimeout)
	}
	if r.MaxRetries < 0 {
		return nil, fmt.Errorf("client: Reconnecting.MaxRetries %d is negative", r.MaxRetries)
	}
	if r.StableAfter < 0 {
		return nil, fmt.Errorf("client: Reconnecting.StableAfter %v is negative", r.StableAfter)
	}
	if f, ok := r.Backoff.(BackoffFunc); ok && f == nil {
		return nil, errors.New("client: Reconnecting.Backoff is a nil BackoffFunc")
	}
	if e, ok := r.Backoff.(*Exponential); ok {
		if err := e.check(); err != nil {
			return nil, fmt.Errorf("client: Reconnecting.Backoff: %w", err)
		}
	} else if v, ok := r.Backoff.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("client: Reconnecting.Backoff: %w", err)
		}
	}
	wopts, err := connOptions(r.Conn)
	if err != nil {
		return nil, fmt.Errorf("client: Reconnecting.Conn: %w", err)
	}
	if len(wopts.Preread) > 0 {
		// Bytes read from one connection: every connection would deliver
		// them again, bytes its server never sent.
		return nil, errors.New("client: Reconnecting.Conn.Preread is set: it belongs to one connection, and would be delivered on every reconnection")
	}
	dial := r.Dialer
	if dial == nil {
		ep, err := endpoint.ParseClient(r.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("client: Reconnecting.Endpoint: %w", err)
		}
		dial = func(ctx context.Context, _ string) (netConn, error) { return ep.Dial(ctx) }
	}
	return func(ctx context.Context) (*Conn, error) {
		nc, err := dialConn(ctx, dial, r.Endpoint)
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil { // stopped while the dial completed
			nc.Close()
			return nil, err
		}
		p, err := buildProtocol(r.Factory, nc)
		if err != nil {
			nc.Close()
			return nil, err
		}
		if err := ctx.Err(); err != nil { // stopped while BuildProtocol ran
			nc.Close()
			return nil, err
		}
		if p == nil {
			nc.Close()
			return nil, fmt.Errorf("%w (remote %v)", ErrNoProtocol, nc.RemoteAddr())
		}
		c, err := start(nc, p, wopts, r.setConn)
		if err != nil {
			r.setConn(nil)
		}
		return c, err
	}, nil
}

// Start validates the configuration and runs the client on a new goroutine.
// It returns ErrRunning if it already runs. Use Stop or ctx to end it, and
// Wait for its result.
func (r *Reconnecting) Start(ctx context.Context) error {
	ctx, dial, err := r.prepare(ctx)
	if err != nil {
		return err
	}
	go r.run(ctx, dial)
	return nil
}

// Run runs the client until Stop (it then returns nil), ctx ends (it returns
// ctx's error), or MaxRetries is exhausted or the Backoff gives up (an error
// matching ErrGaveUp and wrapping the last connection error, or the lost
// reason of the last connection; a give-up reported to a hook as GiveUp
// stays the result even if Stop or ctx's end follows). It returns a
// configuration error at once, naming the field.
func (r *Reconnecting) Run(ctx context.Context) error {
	ctx, dial, err := r.prepare(ctx)
	if err != nil {
		return err
	}
	return r.run(ctx, dial)
}

// prepare validates the configuration and marks the client running.
func (r *Reconnecting) prepare(ctx context.Context) (context.Context, func(context.Context) (*Conn, error), error) {
	dial, err := r.validate()
	if err != nil {
		return nil, nil, err
	}
	ctx, err = r.begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	return ctx, dial, nil
}

func (r *Reconnecting) begin(ctx context.Context) (context.Context, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return nil, ErrRunning
	}
	ctx, cancel := context.WithCancelCause(ctx)
	r.running, r.cancel, r.last = true, cancel, &runResult{done: make(chan struct{})}
	return ctx, nil
}

// Stop ends the client (cancelling a wait or an attempt, or calling
// LoseConnection on the live connection) and waits until it has stopped and
// its connection's ConnectionLost has returned. It does nothing if the client
// is not running: after go r.Run(ctx), Run may not have begun yet and a Stop
// that comes first is lost; Start returns once the client runs, so a Stop
// after it always takes effect (or cancel ctx, which is never lost). Stop must
// not be called from a hook or a Protocol callback of this client (it would
// wait for itself): cancel Run's ctx there instead.
func (r *Reconnecting) Stop() {
	r.mu.Lock()
	cancel, last, running := r.cancel, r.last, r.running
	r.mu.Unlock()
	if !running {
		return
	}
	cancel(errStopped)
	<-last.done
}

// Wait waits for the running client to end and returns Run's result; it
// returns nil at once if the client never ran.
func (r *Reconnecting) Wait() error {
	r.mu.Lock()
	last := r.last
	r.mu.Unlock()
	if last == nil {
		return nil
	}
	<-last.done
	return last.err // the run it waited for, even if another began since
}

// runResult is one run's result: err is set before done is closed.
type runResult struct {
	done chan struct{}
	err  error
}

// Transport returns the Transport of the live connection (from before its
// Protocol's ConnectionMade until after its ConnectionLost), or nil while
// there is none.
func (r *Reconnecting) Transport() weft.Transport {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil {
		return nil
	}
	return r.conn.Transport()
}

func (r *Reconnecting) setConn(c *Conn) {
	r.mu.Lock()
	r.conn = c
	r.mu.Unlock()
}

// buildProtocol calls f.BuildProtocol for nc; a panic is returned as an
// error wrapping weft.ErrProtocolPanic and the panic value (a failed
// attempt, as a ConnectionMade that panics), not raised in the caller.
func buildProtocol(f weft.Factory, nc netConn) (p weft.Protocol, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, fmt.Errorf("%w: BuildProtocol (remote %v): %v", weft.ErrProtocolPanic, nc.RemoteAddr(), v)
		}
	}()
	return f.BuildProtocol(nc.RemoteAddr()), nil
}
