package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftkit/weft"
)

// DefaultCloseTimeout is how long the client of a one-shot service (QOTD,
// Daytime, Time) has to take the reply once it is written, when the
// service's CloseTimeout is zero: past it the connection is aborted
// (ErrAborted), the rest of the reply dropped. A reply is closed as soon as
// the kernel has taken it, so only a client that leaves unread more than
// its socket buffers hold (a large quote) meets it; without it such a
// client would hold its connection, a descriptor and the reply until the
// runtime's IdleTimeout, or forever without one.
const DefaultCloseTimeout = time.Minute

// DefaultQuote is the quote of a QOTD with no Quotes.
const DefaultQuote = "An apple a day keeps the doctor away"

// MaxQuoteLength is the longest quote RFC 865 allows, in bytes, before the
// "\r\n" QOTD adds: "it should be limited to ... less than 512
// characters". QOTD sends a longer quote whole; QOTD.Validate reports it.
const MaxQuoteLength = 511

// ErrQuoteTooLong reports a quote over MaxQuoteLength (QOTD.Validate).
var ErrQuoteTooLong = errors.New("wire: quote over RFC 865's limit of 511 bytes")

// DaytimeLayout is the time.Format layout of a Daytime line (before its
// "\r\n"), in the spirit of RFC 867's "Weekday, Month Day, Year Time-Zone".
const DaytimeLayout = "Monday, January 2, 2006 15:04:05-MST"

// TimeEpochOffset is the number of seconds from 1900-01-01 00:00 UTC (the
// RFC 868 epoch) to 1970-01-01 00:00 UTC (the Unix epoch).
const TimeEpochOffset = 2208988800

// QOTD is the Factory of the quote-of-the-day service (RFC 865): each
// connection receives one quote followed by "\r\n" and is then closed.
// Successive connections receive successive quotes, cycling. A QOTD must not
// be copied after first use; it is safe for concurrent use.
type QOTD struct {
	// Quotes are served in turn, each as given (an empty one as an empty
	// line; one of several lines whole, its lines ended as written),
	// whatever its length: RFC 865 asks for less than 512 characters,
	// which Validate checks. Empty means []string{DefaultQuote}.
	Quotes []string
	// CloseTimeout bounds the time the client has to take the reply once
	// it is written (see DefaultCloseTimeout). Zero means
	// DefaultCloseTimeout; negative means none: a client that does not
	// read holds the connection until the runtime's IdleTimeout.
	CloseTimeout time.Duration

	next atomic.Uint64
}

// Validate reports the first quote over MaxQuoteLength bytes, naming it
// (wrapping ErrQuoteTooLong); QOTD serves it anyway, so a program that
// wants RFC 865's bound calls Validate before serving.
func (q *QOTD) Validate() error {
	if q == nil {
		return errors.New("wire: nil *QOTD")
	}
	for i, quote := range q.Quotes {
		if len(quote) > MaxQuoteLength {
			return fmt.Errorf("%w: QOTD.Quotes[%d] is %d bytes, MaxQuoteLength is %d", ErrQuoteTooLong, i, len(quote), MaxQuoteLength)
		}
	}
	return nil
}

// NextQuote returns the quote for the next connection and advances the
// rotation.
func (q *QOTD) NextQuote() string {
	if len(q.Quotes) == 0 {
		return DefaultQuote
	}
	i := q.next.Add(1) - 1
	return q.Quotes[i%uint64(len(q.Quotes))]
}

// IgnoresAddr implements weft.AddrIgnorer: BuildProtocol does not use its
// address, so a server may pass nil.
func (*QOTD) IgnoresAddr() bool { return true }

// BuildProtocol implements weft.Factory.
func (q *QOTD) BuildProtocol(net.Addr) weft.Protocol {
	return &oneShot{msg: []byte(q.NextQuote() + "\r\n"), timeout: q.CloseTimeout}
}

// Daytime is the Factory of the daytime service (RFC 867): each connection
// receives one line, the current UTC date and time formatted with
// DaytimeLayout and followed by "\r\n", and is then closed.
type Daytime struct {
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// CloseTimeout bounds the time the client has to take the reply once
	// it is written (see DefaultCloseTimeout). Zero means
	// DefaultCloseTimeout; negative means none: a client that does not
	// read holds the connection until the runtime's IdleTimeout.
	CloseTimeout time.Duration
}

// IgnoresAddr implements weft.AddrIgnorer: BuildProtocol does not use its
// address, so a server may pass nil.
func (Daytime) IgnoresAddr() bool { return true }

// BuildProtocol implements weft.Factory.
func (d Daytime) BuildProtocol(net.Addr) weft.Protocol {
	return &oneShot{msg: []byte(DaytimeLine(now(d.Now)) + "\r\n"), timeout: d.CloseTimeout}
}

// DaytimeLine formats t as the daytime service does (without "\r\n").
func DaytimeLine(t time.Time) string { return t.UTC().Format(DaytimeLayout) }

// Time is the Factory of the time service (RFC 868): each connection
// receives the number of seconds since 1900-01-01 00:00 UTC as a 32-bit
// big-endian integer (modulo 2^32) and is then closed.
type Time struct {
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// CloseTimeout bounds the time the client has to take the reply once
	// it is written (see DefaultCloseTimeout). Zero means
	// DefaultCloseTimeout; negative means none: a client that does not
	// read holds the connection until the runtime's IdleTimeout.
	CloseTimeout time.Duration
}

// IgnoresAddr implements weft.AddrIgnorer: BuildProtocol does not use its
// address, so a server may pass nil.
func (Time) IgnoresAddr() bool { return true }

// BuildProtocol implements weft.Factory.
func (c Time) BuildProtocol(net.Addr) weft.Protocol {
	return &oneShot{msg: TimeBytes(now(c.Now)), timeout: c.CloseTimeout}
}

// TimeBytes returns the 4 bytes the time service sends for t: its seconds
// since 1900 modulo 2^32, as RFC 868's 32-bit field holds them (it wraps
// in February 2036, and a time before 1900 wraps too).
func TimeBytes(t time.Time) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(t.Unix()+TimeEpochOffset))
}

func now(f func() time.Time) time.Time {
	if f == nil {
		return time.Now()
	}
	return f()
}

// oneShot sends msg, then closes after it is flushed; input is ignored. A
// client that has not taken msg within timeout (DefaultCloseTimeout when
// zero, none when negative) has the connection aborted.
type oneShot struct {
	msg     []byte
	timeout time.Duration

	mu    sync.Mutex
	timer *time.Timer
	lost  bool
}

func (m *oneShot) ConnectionMade(t weft.Transport) {
	_, _ = t.Write(m.msg)
	m.msg = nil
	t.LoseConnection()
	d := m.timeout
	if d == 0 {
		d = DefaultCloseTimeout
	}
	if d < 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.lost {
		m.timer = time.AfterFunc(d, t.Abort)
	}
}

func (*oneShot) DataReceived([]byte) {}

func (m *oneShot) ConnectionLost(error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lost = true
	if m.timer != nil {
		m.timer.Stop()
	}
}
