package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/endpoint"
)

// ErrNoProtocol: the Factory's BuildProtocol returned nil for a new
// connection, which is then closed and counted as a failed attempt.
var ErrNoProtocol = errors.New("client: factory returned no protocol")

// DialFunc opens a connection to the endpoint described by desc. It must
// honour ctx (return promptly once ctx is done).
type DialFunc func(ctx context.Context, desc string) (net.Conn, error)

// Options configures Dial. The zero value (or nil) dials with endpoint.Dial
// and the runtime's default options.
type Options struct {
	// Dialer opens the connection. Nil means endpoint.Dial, which honours the
	// description's timeout= (default 30 s).
	Dialer DialFunc
	// Conn tunes the connection runtime (write-buffer limits, idle timeout,
	// engine...). Its Client field is forced to true. Nil means the defaults.
	Conn *weft.Options
}

func (o *Options) dialer() DialFunc {
	if o != nil && o.Dialer != nil {
		return o.Dialer
	}
	return endpoint.Dial
}

// connOptions returns a copy of o with Client set, after validating it.
func connOptions(o *weft.Options) (*weft.Options, error) {
	var c weft.Options
	if o != nil {
		c = *o
	}
	c.Client = true
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &c, nil
}

// Conn is a connection made by Dial (or by Reconnecting), running on its own.
type Conn struct {
	wc   *weft.Conn
	done chan struct{}
	err  error // set before done is closed
}

// Transport returns the connection's Transport.
func (c *Conn) Transport() weft.Transport { return c.wc.Transport() }

// Done is closed after the Protocol's ConnectionLost has returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Wait waits for the connection to end and returns the reason given to
// ConnectionLost (nil for a clean close).
func (c *Conn) Wait() error {
	<-c.done
	return c.err
}

// Close calls LoseConnection (pending output is flushed first) and waits for
// the connection to end, returning Wait's reason. Close must not be called
// from the connection's own Protocol callbacks (it would wait for itself):
// call the Transport's LoseConnection there.
func (c *Conn) Close() error {
	c.wc.Transport().LoseConnection()
	return c.Wait()
}

// Dial connects p to the endpoint desc (a client description of package
// endpoint, such as "tcp:localhost:8007"), as Twisted's connectProtocol. It
// returns once the connection is made and p.ConnectionMade has returned, or
// with the error of the connection attempt. ctx bounds the attempt only (as in
// net.Dialer.DialContext): once connected, cancel the connection with
// Conn.Close or the Transport. The connection runs on its own (a goroutine, or
// the Options' Engine) until it ends.
func Dial(ctx context.Context, desc string, p weft.Protocol, opts *Options) (*Conn, error) {
	if p == nil {
		return nil, errors.New("client: Dial: nil Protocol")
	}
	var co *weft.Options
	if opts != nil {
		co = opts.Conn
	}
	wopts, err := connOptions(co)
	if err != nil {
		return nil, err
	}
	nc, err := opts.dialer()(ctx, desc)
	if err != nil {
		return nil, err
	}
	return start(nc, p, wopts, nil)
}

// start runs p over nc and waits for ConnectionMade to return. onConn, if not
// nil, is given the Conn before the connection starts.
func start(nc net.Conn, p weft.Protocol, wopts *weft.Options, onConn func(*Conn)) (*Conn, error) {
	made := make(chan struct{})
	var once sync.Once
	signal := func() { once.Do(func() { close(made) }) }
	c := &Conn{done: make(chan struct{})}
	c.wc = weft.NewConn(nc, wrap(p, signal), wopts)
	if onConn != nil {
		onConn(c)
	}
	c.wc.Start(func(reason error) {
		c.err = reason
		close(c.done)
	})
	select {
	case <-made:
		return c, nil
	case <-c.done:
		select {
		case <-made:
			return c, nil
		default:
			return nil, c.err
		}
	}
}

// wrap returns p with ConnectionMade followed by made(), keeping the optional
// ShutdownNotifier.
func wrap(p weft.Protocol, made func()) weft.Protocol {
	w := madeSignal{Protocol: p, made: made}
	if sn, ok := p.(weft.ShutdownNotifier); ok {
		return madeSignalShutdown{w, sn}
	}
	return w
}

type madeSignal struct {
	weft.Protocol
	made func()
}

func (m madeSignal) ConnectionMade(t weft.Transport) {
	defer m.made()
	m.Protocol.ConnectionMade(t)
}

type madeSignalShutdown struct {
	madeSignal
	sn weft.ShutdownNotifier
}

func (m madeSignalShutdown) Shutdown() { m.sn.Shutdown() }
