package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/endpoint"
)

// ErrNoProtocol: the Factory's BuildProtocol returned nil for a new
// connection, which is then closed and counted as a failed attempt.
var ErrNoProtocol = errors.New("client: factory returned no protocol")

// errNoConn is the error of a DialFunc that returned neither a connection
// (a nil one of any type counts as none) nor an error.
var errNoConn = errors.New("client: dialer returned a nil connection and no error")

// errEndedBeforeMade is the reason of a connection that ended, without a
// reason, before its Protocol's ConnectionMade returned.
var errEndedBeforeMade = errors.New("client: connection ended before ConnectionMade returned")

// DialFunc opens a connection to the endpoint described by desc. It must
// honour ctx (return promptly once ctx is done). It returns a connection or an
// error: returning neither (a nil connection of any type, such as a nil
// *net.TCPConn, counts as none) is reported as an error (a failed attempt),
// and a connection returned together with an error is closed.
type DialFunc func(ctx context.Context, desc string) (net.Conn, error)

// dialConn calls dial and checks what it returned (see DialFunc): a
// connection, or an error.
func dialConn(ctx context.Context, dial DialFunc, desc string) (net.Conn, error) {
	nc, err := dial(ctx, desc)
	if err != nil {
		if !isNilConn(nc) {
			nc.Close() // the attempt failed: nobody else will close it
		}
		return nil, err
	}
	if isNilConn(nc) {
		return nil, errNoConn
	}
	return nc, nil
}

// isNilConn reports whether nc is nil, or a nil value of a type that
// implements net.Conn (calling its methods would panic).
func isNilConn(nc net.Conn) bool {
	if nc == nil {
		return true
	}
	switch v := reflect.ValueOf(nc); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// Options configures Dial. The zero value (or nil) dials with endpoint.Dial
// and the runtime's default options.
type Options struct {
	// Dialer opens the connection. Nil means endpoint.Dial, which honours the
	// description's timeout= (default 30 s).
	Dialer DialFunc
	// Conn tunes the connection runtime (write-buffer limits, idle timeout,
	// engine...). Its Client field is forced to true. Nil means the defaults.
	Conn *weft.Options
	// CloseTimeout bounds how long Conn.Close waits for the connection to
	// flush its output after LoseConnection (a peer that stops reading could
	// otherwise hold it forever); then the connection is aborted. Zero means
	// DefaultStopTimeout.
	CloseTimeout time.Duration
}

func (o *Options) dialer() DialFunc {
	if o != nil && o.Dialer != nil {
		return o.Dialer
	}
	return endpoint.Dial
}

// connOptions returns a copy of o with Client set, after validating it; the
// caller names the field in the error.
func connOptions(o *weft.Options) (*weft.Options, error) {
	var c weft.Options
	if o != nil {
		c = *o
	}
	c.Client = true
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Conn is a connection made by Dial (or by Reconnecting), running on its own.
type Conn struct {
	wc    *weft.Conn
	done  chan struct{}
	err   error         // set before done is closed
	grace time.Duration // Close's bound; zero means DefaultStopTimeout
}

// errZeroConn is the error of a Conn that Dial did not make (a zero Conn).
var errZeroConn = errors.New("client: Conn not made by Dial (a zero Conn): no connection")

// closedDone is the Done channel of a zero Conn.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Transport returns the connection's Transport (nil for a zero Conn, one
// not made by Dial).
func (c *Conn) Transport() weft.Transport {
	if c.wc == nil {
		return nil
	}
	return c.wc.Transport()
}

// Done is closed after the Protocol's ConnectionLost has returned (at once
// for a zero Conn).
func (c *Conn) Done() <-chan struct{} {
	if c.done == nil {
		return closedDone
	}
	return c.done
}

// Wait waits for the connection to end — until the Protocol's
// ConnectionLost has returned, so what the Protocol collected may be read
// then — and returns the reason given to ConnectionLost (nil for a clean
// close). On a zero Conn, one not made by Dial, it returns an error at once.
func (c *Conn) Wait() error {
	if c.done == nil {
		return errZeroConn
	}
	<-c.done
	return c.err
}

// Close calls LoseConnection (pending output is flushed first) and waits for
// the connection to end, returning Wait's reason. A peer that stops reading
// cannot hold Close forever: if the connection has not ended within the
// Options' CloseTimeout (default DefaultStopTimeout), it is aborted (its
// unsent output discarded), as Reconnecting.Stop does. To wait without a
// bound, call the Transport's LoseConnection and then Wait. Close must not be
// called from the connection's own Protocol callbacks (it would wait for
// itself): call the Transport's LoseConnection there.
func (c *Conn) Close() error {
	if c.wc == nil {
		return errZeroConn
	}
	c.wc.Transport().LoseConnection()
	grace := c.grace
	if grace <= 0 {
		grace = DefaultStopTimeout
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.wc.Transport().Abort()
	}
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
		return nil, fmt.Errorf("client: Options.Conn: %w", err)
	}
	var grace time.Duration
	if opts != nil {
		if grace = opts.CloseTimeout; grace < 0 {
			return nil, fmt.Errorf("client: Options.CloseTimeout %v is negative", grace)
		}
	}
	nc, err := dialConn(ctx, opts.dialer(), desc)
	if err != nil {
		return nil, err
	}
	c, err := start(nc, p, wopts, nil)
	if c != nil {
		c.grace = grace
	}
	return c, err
}

// start runs p over nc and waits for ConnectionMade to return. onConn, if not
// nil, is given the Conn before the connection starts. A ConnectionMade that
// panics did not make the connection: start then waits for the runtime to
// end it and returns its reason (ErrProtocolPanic).
func start(nc net.Conn, p weft.Protocol, wopts *weft.Options, onConn func(*Conn)) (*Conn, error) {
	made := make(chan struct{})
	var once sync.Once
	returned := false // ConnectionMade returned normally; set before made is closed
	signal := func(ok bool) {
		once.Do(func() {
			returned = ok
			close(made)
		})
	}
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
	case <-c.done:
	}
	select {
	case <-made:
		if returned {
			return c, nil
		}
		<-c.done // ConnectionMade panicked: the runtime aborts the connection
	default:
	}
	if c.err == nil {
		return nil, errEndedBeforeMade
	}
	return nil, c.err
}

// wrap returns p with ConnectionMade followed by made(ok), ok reporting that
// it returned normally, keeping the optional ShutdownNotifier and
// weft.HalfCloseable.
func wrap(p weft.Protocol, made func(ok bool)) weft.Protocol {
	w := &madeSignal{Protocol: p, made: made}
	if sn, ok := p.(weft.ShutdownNotifier); ok {
		return madeSignalShutdown{w, sn}
	}
	return w
}

type madeSignal struct {
	weft.Protocol
	made func(ok bool)
	t    weft.Transport
}

func (m *madeSignal) ConnectionMade(t weft.Transport) {
	m.t = t
	ok := false
	defer func() { m.made(ok) }()
	m.Protocol.ConnectionMade(t)
	ok = true
}

// ReadConnectionLost passes the server's end of stream on to a Protocol
// that is a weft.HalfCloseable; another one's connection is closed, as the
// runtime closes it for a Protocol without the method.
func (m *madeSignal) ReadConnectionLost() {
	if hc, ok := m.Protocol.(weft.HalfCloseable); ok {
		hc.ReadConnectionLost()
		return
	}
	m.t.LoseConnection()
}

type madeSignalShutdown struct {
	*madeSignal
	sn weft.ShutdownNotifier
}

func (m madeSignalShutdown) Shutdown() { m.sn.Shutdown() }
