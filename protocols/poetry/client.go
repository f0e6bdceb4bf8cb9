package poetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/endpoint"
)

// DefaultMaxPoem is the largest poem a Client accepts by default.
const DefaultMaxPoem = 16 << 20

// DefaultIdleTimeout is how long a Client waits for the next byte of a poem
// by default.
const DefaultIdleTimeout = time.Minute

// ErrPoemTooLarge: a server sent more than Client.MaxPoem bytes, or a poem
// file holds more than MaxPoemFile (ReadFile).
var ErrPoemTooLarge = errors.New("poetry: poem too large")

// Result is the outcome of one download.
type Result struct {
	// Endpoint is the client endpoint description the poem came from.
	Endpoint string
	// Poem is what the server sent (all of it when Err is nil).
	Poem []byte
	// Err is nil when the server sent its poem and closed the connection;
	// otherwise the endpoint, dial, network, size or context error.
	Err error
}

// Client downloads poems. The zero value is ready to use.
type Client struct {
	// MaxPoem bounds the bytes accepted from one server; past it the download
	// fails with ErrPoemTooLarge. Zero means DefaultMaxPoem.
	MaxPoem int
	// Progress, if set, is called after each chunk received with the index
	// of the endpoint, the chunk's size and the total so far for it. It may
	// be called from several goroutines at once. Nil means no reports.
	Progress func(i, n, total int)
	// IdleTimeout bounds the wait for the next byte from a server: a
	// server that sends nothing for that long (one that never ends its
	// poem, or never starts it) fails its download with an error matching
	// weft.ErrIdleTimeout; what it sent is in Result.Poem. Zero means
	// DefaultIdleTimeout; negative is ErrConfig. Connecting is bounded by
	// the endpoint's timeout (timeout=, default endpoint.DefaultTimeout,
	// 30 s); the whole download by ctx only.
	IdleTimeout time.Duration

	// dial replaces the endpoint's dialer in tests. Nil: endpoint.Dial.
	dial func(ctx context.Context, desc string) (net.Conn, error)
}

// GetPoetry downloads from every endpoint at once with a zero Client.
func GetPoetry(ctx context.Context, endpoints ...string) []Result {
	var c Client
	return c.Get(ctx, endpoints...)
}

// Get downloads from every endpoint (client descriptions such as
// "tcp:127.0.0.1:10000") at once and returns one Result per endpoint, in
// order, when all are done. Cancelling ctx ends the downloads still running
// with ctx's error. A nil ctx fails every download with ErrConfig; a nil
// *Client is a zero Client.
func (c *Client) Get(ctx context.Context, endpoints ...string) []Result {
	res := make([]Result, len(endpoints))
	if c == nil {
		c = &Client{}
	}
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		res[i].Endpoint = ep
		if ctx == nil {
			res[i].Err = fmt.Errorf("%w: nil context.Context", ErrConfig)
			continue
		}
		wg.Go(func() { res[i].Poem, res[i].Err = c.get(ctx, i, ep) })
	}
	wg.Wait()
	return res
}

func (c *Client) get(ctx context.Context, i int, desc string) ([]byte, error) {
	if c.MaxPoem < 0 {
		return nil, fmt.Errorf("%w: Client.MaxPoem %d is negative", ErrConfig, c.MaxPoem)
	}
	if c.IdleTimeout < 0 {
		return nil, fmt.Errorf("%w: Client.IdleTimeout %v is negative", ErrConfig, c.IdleTimeout)
	}
	idle := c.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	dial := c.dial
	if dial == nil {
		dial = func(ctx context.Context, desc string) (net.Conn, error) {
			ep, err := endpoint.ParseClient(desc)
			if err != nil {
				return nil, err
			}
			return ep.Dial(ctx)
		}
	}
	nc, err := dial(ctx, desc)
	if err != nil {
		return nil, err
	}
	limit := c.MaxPoem
	if limit == 0 {
		limit = DefaultMaxPoem
	}
	p := &receiver{i: i, limit: limit, progress: c.Progress}
	conn := weft.NewConn(nc, p, &weft.Options{Client: true, IdleTimeout: idle})
	stop := context.AfterFunc(ctx, func() { conn.Close(ctx.Err()) })
	err = conn.Serve()
	stop()
	if err == nil && ctx.Err() != nil && !p.complete {
		err = ctx.Err()
	}
	if p.err != nil {
		err = p.err
	}
	if err != nil {
		return p.poem, fmt.Errorf("poetry: %s: %w", desc, err)
	}
	return p.poem, nil
}

// receiver accumulates one poem.
type receiver struct {
	t        weft.Transport
	i, limit int
	progress func(i, n, total int)
	poem     []byte
	err      error
	complete bool
}

func (p *receiver) ConnectionMade(t weft.Transport) { p.t = t }

func (p *receiver) DataReceived(data []byte) {
	if len(p.poem)+len(data) > p.limit {
		p.err = fmt.Errorf("%w: more than %d bytes", ErrPoemTooLarge, p.limit)
		p.t.Abort()
		return
	}
	p.poem = append(p.poem, data...)
	if p.progress != nil {
		p.progress(p.i, len(data), len(p.poem))
	}
}

func (p *receiver) ConnectionLost(reason error) { p.complete = reason == nil }
