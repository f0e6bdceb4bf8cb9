package server

import (
	"errors"
	"expvar"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// CloseReason names why a connection ended; the stats count each.
type CloseReason int

// Close reasons. ReasonOf maps a ConnectionLost reason to one of them.
const (
	ReasonClean            CloseReason = iota // nil: closed cleanly by either side
	ReasonAborted                             // weft.ErrAborted
	ReasonIdleTimeout                         // weft.ErrIdleTimeout
	ReasonHandshakeTimeout                    // weft.ErrHandshakeTimeout
	ReasonHandshakeFailed                     // bad TLS handshake (a listener's, or a StartTLS: weft.ErrHandshakeFailed) or PROXY header
	ReasonSlowConsumer                        // weft.ErrSlowConsumer
	ReasonFrameTooLarge                       // codec.ErrFrameTooLarge
	ReasonMalformed                           // codec.ErrMalformed
	ReasonRejected                            // weft.ErrRejected, ErrRefused, ErrUntrustedProxy
	ReasonQueueTimeout                        // weft.ErrQueueTimeout
	ReasonQueueHangup                         // ErrQueueHangup
	ReasonShutdown                            // weft.ErrServerShutdown
	ReasonPanic                               // weft.ErrProtocolPanic
	ReasonError                               // any other (network) error but a peer's reset or time-out
	// ReasonCloseTimeout: weft.ErrCloseTimeout (CloseTimeout). Last, so
	// that the values of the reasons above do not change.
	ReasonCloseTimeout
	// ReasonTLSTruncated: weft.ErrTLSTruncated, a TLS peer's stream that
	// ended without close_notify (many clients close that way; the
	// Protocol is told, since what it read may be cut short).
	ReasonTLSTruncated
	// ReasonPeerReset: the peer reset the connection or vanished under a
	// write (ECONNRESET, EPIPE, ECONNABORTED; a client killed, or nc
	// ended with Ctrl-C, while the server writes, as chargen always
	// does). The normal end of many sessions, not a server failure: logged
	// at Debug, as a clean close is, not at Warn as ReasonError is.
	ReasonPeerReset
	// ReasonPeerTimeout: the peer stopped answering (ETIMEDOUT: TCP
	// keep-alive, on by default, or the retransmission of a write gave up)
	// or its host or network became unreachable (EHOSTUNREACH,
	// ENETUNREACH). A client that vanished: its host went down, it lost its
	// network, or a NAT dropped the flow. Routine on a public server, not a
	// server failure: logged at Debug, as ReasonPeerReset is.
	ReasonPeerTimeout
	numReasons
)

var reasonNames = [numReasons]string{
	"clean", "aborted", "idle timeout", "handshake timeout", "handshake failed",
	"slow consumer", "frame too large", "malformed", "rejected", "queue timeout",
	"queue hangup", "shutdown", "panic", "error", "close timeout",
	"tls truncated", "peer reset", "peer timeout",
}

// String returns the reason's name, as used in Snapshot.Closed.
func (r CloseReason) String() string {
	if r >= 0 && r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("CloseReason(%d)", int(r))
}

// ReasonOf maps a connection's end (ConnectionLost's reason, or why it never
// started) to its CloseReason. A peer's reset is ReasonPeerReset, and a
// peer that stopped answering ReasonPeerTimeout, only when nothing in the
// table matches: a timeout, shutdown, abort or failed handshake that wraps
// one is what acted.
func ReasonOf(err error) CloseReason {
	table := []struct {
		target error
		r      CloseReason
	}{
		{weft.ErrServerShutdown, ReasonShutdown},
		{weft.ErrIdleTimeout, ReasonIdleTimeout},
		// Before the codec errors: a close after a decode error that
		// timed out wraps it, and it is the timeout that acted.
		{weft.ErrCloseTimeout, ReasonCloseTimeout},
		{weft.ErrHandshakeTimeout, ReasonHandshakeTimeout},
		{errHandshake, ReasonHandshakeFailed},
		{weft.ErrHandshakeFailed, ReasonHandshakeFailed},
		{ErrProxyHeader, ReasonHandshakeFailed},
		{weft.ErrSlowConsumer, ReasonSlowConsumer},
		{weft.ErrQueueTimeout, ReasonQueueTimeout},
		{ErrQueueHangup, ReasonQueueHangup},
		{weft.ErrRejected, ReasonRejected},
		{ErrRefused, ReasonRejected},
		{ErrUntrustedProxy, ReasonRejected},
		{weft.ErrProtocolPanic, ReasonPanic},
		{weft.ErrAborted, ReasonAborted},
		{codec.ErrFrameTooLarge, ReasonFrameTooLarge},
		{codec.ErrMalformed, ReasonMalformed},
		{weft.ErrTLSTruncated, ReasonTLSTruncated},
	}
	if err == nil {
		return ReasonClean
	}
	for _, t := range table {
		if errors.Is(err, t.target) {
			return t.r
		}
	}
	if isPeerResetErr(err) {
		return ReasonPeerReset
	}
	if isPeerTimeoutErr(err) {
		return ReasonPeerTimeout
	}
	return ReasonError
}

// isPeerTimeoutErr reports whether err is (or wraps) the end of a
// connection whose peer stopped answering or became unreachable.
func isPeerTimeoutErr(err error) bool { return isAny(err, peerTimeoutErrnos) }

// isPeerResetErr reports whether err is (or wraps) a reset by the peer: a
// bare errno from the readiness engine, a *net.OpError from a net.Conn, or
// either under TLS (whose write errors wrap the net.Error).
func isPeerResetErr(err error) bool { return isAny(err, peerResetErrnos) }

// isAny reports whether err matches one of targets (errors.Is).
func isAny(err error, targets []error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// rejectKind names why a connection was rejected before running a Protocol.
type rejectKind int

const (
	rejMaxConns rejectKind = iota
	rejMaxQueue
	rejPerPeer
	rejQueueTimeout
	rejRefused
	rejUntrustedProxy
	rejMaxHandshakes
	numRejects
)

var rejectNames = [numRejects]string{
	"max conns", "max queue", "per peer", "queue timeout", "refused", "untrusted proxy",
	"max handshakes",
}

// stats holds the server's counters; everything is atomic.
type stats struct {
	accepted     atomic.Int64
	acceptErrors atomic.Int64
	active       atomic.Int64
	queued       atomic.Int64
	handshaking  atomic.Int64 // connections holding a MaxHandshakes slot
	lingering    atomic.Int64 // rejected connections lingering (MaxLingering)
	lingerSkip   atomic.Int64
	rejected     [numRejects]atomic.Int64
	closed       [numReasons]atomic.Int64
	counters     weft.Counters
}

// Snapshot is a copy of a Server's statistics at one moment.
type Snapshot struct {
	// Accepted counts connections accepted from all listeners.
	Accepted int64
	// AcceptErrors counts temporary accept errors (EMFILE...) retried.
	AcceptErrors int64
	// Active is the number of connections running a Protocol now.
	Active int64
	// Queued is the number of connections waiting in the queue now.
	Queued int64
	// Handshaking is the number of connections in their handshake now (TLS,
	// a Protocol's StartTLS, PROXY header, first bytes on a PROXY listener;
	// see MaxHandshakes).
	Handshaking int64
	// Lingering is the number of rejected connections lingering after
	// RejectMessage now (see MaxLingering), queued connections told at a
	// graceful Shutdown included.
	Lingering int64
	// LingerSkipped counts rejected connections (and queued ones told at a
	// graceful Shutdown) closed at once, without RejectMessage, because
	// MaxLingering connections were lingering.
	LingerSkipped int64
	// Rejected counts connections refused before running a Protocol, by
	// reason: "max conns", "max queue", "per peer", "queue timeout",
	// "refused" (the Factory returned nil), "untrusted proxy", "max
	// handshakes" (over MaxHandshakes; this one also counts a running
	// Protocol's StartTLS refused for want of a slot, whose connection
	// then closes with weft.ErrRejected).
	Rejected map[string]int64
	// Closed counts ended connections by CloseReason name.
	Closed map[string]int64
	// BytesIn, BytesOut, FramesIn and FramesOut are summed over all
	// connections (frames are counted by codecs through weft.AddFrames).
	BytesIn, BytesOut, FramesIn, FramesOut int64
}

// Snapshot returns the current statistics.
func (s *Server) Snapshot() Snapshot {
	st := &s.stats
	snap := Snapshot{
		Accepted:      st.accepted.Load(),
		AcceptErrors:  st.acceptErrors.Load(),
		Active:        st.active.Load(),
		Queued:        st.queued.Load(),
		Handshaking:   st.handshaking.Load(),
		Lingering:     st.lingering.Load(),
		LingerSkipped: st.lingerSkip.Load(),
		Rejected:      make(map[string]int64, numRejects),
		Closed:        make(map[string]int64, numReasons),
		BytesIn:       st.counters.BytesIn.Load(),
		BytesOut:      st.counters.BytesOut.Load(),
		FramesIn:      st.counters.FramesIn.Load(),
		FramesOut:     st.counters.FramesOut.Load(),
	}
	for i := range st.rejected {
		snap.Rejected[rejectNames[i]] = st.rejected[i].Load()
	}
	for i := range st.closed {
		snap.Closed[reasonNames[i]] = st.closed[i].Load()
	}
	return snap
}

// PublishExpvar publishes the server's Snapshot under name in expvar (and so
// on /debug/vars). It returns an error, instead of expvar's panic, if the
// name is already taken.
func (s *Server) PublishExpvar(name string) error {
	if name == "" {
		return fmt.Errorf("%w: expvar name is empty", ErrInvalidConfig)
	}
	// Get then Publish is not atomic: two concurrent calls for one name
	// (two Servers, or one called twice) both saw it free, and the second
	// Publish panicked.
	expvarMu.Lock()
	defer expvarMu.Unlock()
	if expvar.Get(name) != nil {
		return fmt.Errorf("server: expvar name %q already published", name)
	}
	expvar.Publish(name, expvar.Func(func() any { return s.Snapshot() }))
	return nil
}

// expvarMu serializes PublishExpvar's check and publication.
var expvarMu sync.Mutex

// ConnState is a connection's lifecycle state, reported to Server.ConnState.
type ConnState int

const (
	// StateNew: accepted; the TLS handshake and PROXY header come next.
	StateNew ConnState = iota
	// StateQueued: waiting in the overflow queue, unread.
	StateQueued
	// StateActive: running its Protocol.
	StateActive
	// StateClosed: ended (whether it ever became active or not).
	StateClosed
)

// String returns "new", "queued", "active" or "closed".
func (c ConnState) String() string {
	switch c {
	case StateNew:
		return "new"
	case StateQueued:
		return "queued"
	case StateActive:
		return "active"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("ConnState(%d)", int(c))
}

func (s *Server) hook(info ConnInfo, st ConnState) {
	if s.ConnState != nil {
		s.ConnState(info, st)
	}
}
