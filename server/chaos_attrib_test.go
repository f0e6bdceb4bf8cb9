package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// The refusal oracle of TestIntegrityUnderChaos: which documented limit
// refused each connection, as the server itself reports it (the ConnState
// calls and the Logger's lines, whose "closed" line carries the reason
// ConnectionLost got or the connection ended with), checked against the
// client's plan and transcript, the configuration and Snapshot.

// icRec is what the server reported about one connection, by ID.
type icRec struct {
	sock     string // RemoteAddr at StateNew: the socket peer
	local    string // LocalAddr at StateNew: the listener's address
	remote   string // RemoteAddr at StateClosed: the PROXY source, if any
	tNew     time.Time
	tQueued  time.Time // zero: never queued
	tActive  time.Time // zero: never ran a Protocol
	tClosed  time.Time // zero: never closed (a defect)
	accepted bool      // "server: accepted" logged: it got past the accept loop
	overflow bool      // "server: active" said it runs the OverflowFactory's Protocol
	logged   bool      // its close line was logged
	err      error     // the reason of its close line
}

// icRecorder collects the server's reports.
type icRecorder struct {
	mu   sync.Mutex
	recs map[uint64]*icRec
}

func (r *icRecorder) recLocked(id uint64) *icRec {
	if r.recs == nil {
		r.recs = map[uint64]*icRec{}
	}
	c := r.recs[id]
	if c == nil {
		c = &icRec{}
		r.recs[id] = c
	}
	return c
}

// state is called from the ConnState hook.
func (r *icRecorder) state(info ConnInfo, st ConnState) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.recLocked(info.ID)
	switch st {
	case StateNew:
		c.tNew, c.sock, c.local = now, info.RemoteAddr.String(), info.LocalAddr.String()
	case StateQueued:
		c.tQueued = now
	case StateActive:
		c.tActive = now
	case StateClosed:
		c.tClosed, c.remote = now, info.RemoteAddr.String()
	}
}

// icLogHandler passes the server's log to the text handler under it (shown
// when a run fails) and records, by connection ID, what its lines say.
type icLogHandler struct {
	slog.Handler
	rec *icRecorder
}

func (h icLogHandler) Handle(ctx context.Context, r slog.Record) error {
	var id uint64
	var hasID, overflow bool
	var err error
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "id":
			if a.Value.Kind() == slog.KindUint64 {
				id, hasID = a.Value.Uint64(), true
			}
		case "overflow":
			overflow = a.Value.Kind() == slog.KindBool && a.Value.Bool()
		case "err":
			err, _ = a.Value.Any().(error)
		}
		return true
	})
	if hasID {
		h.rec.mu.Lock()
		c := h.rec.recLocked(id)
		switch {
		case r.Message == "server: accepted":
			c.accepted = true
		case r.Message == "server: active":
			c.overflow = overflow
		case r.Message == "server: closed", r.Message == "server: connection failed",
			strings.HasPrefix(r.Message, "server: Factory.BuildProtocol panicked"):
			c.logged, c.err = true, err
		}
		h.rec.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h icLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return icLogHandler{h.Handler.WithAttrs(as), h.rec}
}

func (h icLogHandler) WithGroup(name string) slog.Handler {
	return icLogHandler{h.Handler.WithGroup(name), h.rec}
}

// cause names what ended the connection: a Snapshot.Closed reason name, or,
// for a refusal, the limit that refused it. The limits have finer names
// than Snapshot.Rejected (see icCounter): "per peer" is the admission's
// (MaxConnsPerPeer, with RejectMessage), "per peer handshake" the accept
// loop's (one socket address's handshakes, no byte), "per peer proxied
// handshake" the one after a trusted PROXY header (the named client's TLS
// handshakes, no byte); "max handshakes" is the accept loop's, "starttls
// max handshakes" a running Protocol's StartTLS refused.
func (c *icRec) cause() string {
	err := c.err
	switch {
	case err == nil:
		return "clean"
	case errors.Is(err, weft.ErrRejected):
		msg := err.Error()
		switch {
		case strings.HasSuffix(msg, ": "+rejectNames[rejPerPeer]+" (handshakes)"):
			return "per peer proxied handshake"
		case strings.Contains(msg, "no handshake slot"):
			return "starttls max handshakes"
		case strings.HasSuffix(msg, ": "+rejectNames[rejPerPeer]):
			if !c.accepted {
				return "per peer handshake"
			}
			return "per peer"
		}
		for _, k := range []rejectKind{rejMaxConns, rejMaxQueue, rejMaxHandshakes} {
			if strings.HasSuffix(msg, ": "+rejectNames[k]) {
				return rejectNames[k]
			}
		}
		return "rejected (unknown): " + msg
	case errors.Is(err, weft.ErrQueueTimeout):
		return rejectNames[rejQueueTimeout]
	case errors.Is(err, ErrUntrustedProxy):
		return rejectNames[rejUntrustedProxy]
	case errors.Is(err, ErrRefused):
		return rejectNames[rejRefused]
	}
	return ReasonOf(err).String()
}

// icCounter is the Snapshot.Rejected key a cause counts under; "" for a
// cause that is no rejection.
func icCounter(cause string) string {
	switch cause {
	case "per peer", "per peer handshake", "per peer proxied handshake":
		return rejectNames[rejPerPeer]
	case "max handshakes", "starttls max handshakes":
		return rejectNames[rejMaxHandshakes]
	}
	for _, n := range rejectNames {
		if cause == n {
			return n
		}
	}
	return ""
}

// start is when the server first reported the connection.
func (c *icRec) start() time.Time {
	t := c.tNew
	for _, u := range []time.Time{c.tQueued, c.tActive} {
		if !u.IsZero() && (t.IsZero() || u.Before(t)) {
			t = u
		}
	}
	return t
}

// icSlack widens the ConnState times when they witness a limit: a hook
// runs a little after the state change it reports (the accept loop admits
// a plain listener's connection before its goroutine says StateNew).
const icSlack = 100 * time.Millisecond

// overlaps reports whether c and d were both known to the server at some
// moment, give or take icSlack.
func (c *icRec) overlaps(d *icRec) bool {
	return c.start().Add(-icSlack).Before(d.tClosed.Add(icSlack)) && d.start().Add(-icSlack).Before(c.tClosed.Add(icSlack))
}

// icPeerIP is the IP address a connection counts against for
// MaxConnsPerPeer (its PROXY source, if any), or "".
func icPeerIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return ""
	}
	return host
}

// icLive counts the Protocols running at once, all and by peer IP, and
// keeps the peaks: a Protocol runs between its ConnectionMade and its
// ConnectionLost, inside the time its connection holds its MaxConns (or
// MaxQueue, for an overflow one) and MaxConnsPerPeer slots, so the peaks
// may not pass those limits.
type icLive struct {
	mu       sync.Mutex
	n, peak  int
	byIP     map[string]int
	peakByIP map[string]int
}

func (l *icLive) made(remote string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byIP == nil {
		l.byIP, l.peakByIP = map[string]int{}, map[string]int{}
	}
	l.n++
	l.peak = max(l.peak, l.n)
	ip := icPeerIP(remote)
	l.byIP[ip]++
	l.peakByIP[ip] = max(l.peakByIP[ip], l.byIP[ip])
}

func (l *icLive) lost(remote string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	l.byIP[icPeerIP(remote)]--
}

// icOverflowLine is what the OverflowFactory's Protocol says to a client
// whose address (the PROXY source, if any) is remote.
func icOverflowLine(remote string) string { return "503 overflow for " + remote + "\r\n" }

// icOverflow is the OverflowFactory's Protocol: it says icOverflowLine,
// then, hold after the client's first line came, closes gracefully (the
// runtime discards the client's unread bytes for a while, so that they do
// not turn the close into a reset), keeping nothing it reads. So each holds
// its overflow slot for a while (a client that sends no line until
// IdleTimeout), and MaxQueue refuses some.
type icOverflow struct {
	remote string
	live   *icLive
	hold   time.Duration
	t      weft.Transport
	timer  *time.Timer
}

func (o *icOverflow) ConnectionMade(t weft.Transport) {
	o.t = t
	o.live.made(o.remote)
	t.Write([]byte(icOverflowLine(o.remote)))
}

func (o *icOverflow) DataReceived(b []byte) {
	if o.timer == nil && bytes.IndexByte(b, '\n') >= 0 {
		o.timer = time.AfterFunc(o.hold, o.t.LoseConnection)
	}
}

func (o *icOverflow) ConnectionLost(error) {
	if o.timer != nil {
		o.timer.Stop()
	}
	o.live.lost(o.remote)
}

// icCheckRefusals checks, once the server closed, that every connection
// was reported whole and every refusal is attributed to a limit the
// configuration has, consistently with Snapshot and, for the honest
// clients, with what they received.
func icCheckRefusals(t *testing.T, env *icEnv, plans []*icPlan, results []icResult, outs []string, hostiles []string, snap Snapshot, shutdown, cut bool) {
	t.Helper()
	s := env.s
	env.rec.mu.Lock()
	recs := env.rec.recs
	env.rec.mu.Unlock()
	queuePolicy := s.MaxConns > 0 && s.Overflow != Reject
	overflowOn := s.MaxConns > 0 && s.OverflowFactory != nil
	maxConnsOn := s.MaxConns > 0 && s.Overflow == Reject && s.OverflowFactory == nil
	maxQueue := s.MaxQueue

	// Every connection reported whole; the books by cause.
	causes := map[string]int{}
	closedBy := map[string]int64{}
	rejectedBy := map[string]int64{}
	ids := make([]uint64, 0, len(recs))
	for id := range recs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c := recs[id]
		if c.tNew.IsZero() || c.tClosed.IsZero() || !c.logged {
			t.Errorf("connection %d (%s): reported new %v, closed %v, close logged %v", id, c.sock, !c.tNew.IsZero(), !c.tClosed.IsZero(), c.logged)
			continue
		}
		cause := c.cause()
		causes[cause]++
		closedBy[ReasonOf(c.err).String()]++
		if k := icCounter(cause); k != "" {
			rejectedBy[k]++
		}
		if strings.HasPrefix(cause, "rejected (unknown)") {
			t.Errorf("connection %d (%s): %s", id, c.sock, cause)
		}
		if c.overflow && !overflowOn {
			t.Errorf("connection %d (%s) ran the overflow Protocol without an OverflowFactory", id, c.sock)
		}
		if !c.tQueued.IsZero() && !queuePolicy {
			t.Errorf("connection %d (%s) was queued with Overflow %v", id, c.sock, s.Overflow)
		}
	}
	t.Logf("server-side causes %v", causes)
	for _, name := range rejectNames {
		if snap.Rejected[name] != rejectedBy[name] {
			t.Errorf("Snapshot.Rejected[%q] = %d, but %d connections were closed for that cause (causes %v)", name, snap.Rejected[name], rejectedBy[name], causes)
		}
	}
	var untracked int64 // accepted as the server closed: counted, no ID
	for _, name := range reasonNames {
		switch got, want := snap.Closed[name], closedBy[name]; {
		case name == ReasonShutdown.String() && got >= want:
			untracked = got - want
		case got != want:
			t.Errorf("Snapshot.Closed[%q] = %d, but %d connections were reported closed with that reason", name, got, want)
		}
	}
	if untracked > 0 && !shutdown {
		t.Errorf("%d connections closed as shutdown without a report, and no shutdown ran", untracked)
	}
	if n := int64(len(recs)) + untracked; n != snap.Accepted {
		t.Errorf("%d connections reported (+%d untracked), Snapshot.Accepted %d", len(recs), untracked, snap.Accepted)
	}

	// No refusal by a limit the configuration does not have.
	absent := map[string]bool{
		rejectNames[rejMaxConns]:     !maxConnsOn,
		rejectNames[rejMaxQueue]:     !queuePolicy && !overflowOn,
		rejectNames[rejQueueTimeout]: !queuePolicy || s.QueueTimeout == 0,
		rejectNames[rejRefused]:      true, // the Factories never refuse
		rejectNames[rejPerPeer]:      s.MaxConnsPerPeer == 0,
	}
	for name, off := range absent {
		if off && snap.Rejected[name] != 0 {
			t.Errorf("Snapshot.Rejected[%q] = %d, a limit this configuration does not have", name, snap.Rejected[name])
		}
	}
	untrustedClients := 0
	for _, k := range hostiles {
		if k == "untrusted proxy" {
			untrustedClients++
		}
	}
	if n := snap.Rejected[rejectNames[rejUntrustedProxy]]; n > int64(untrustedClients) {
		t.Errorf("Snapshot.Rejected[\"untrusted proxy\"] = %d, but only %d clients sent a header from an untrusted source", n, untrustedClients)
	}

	// The limits held: never more Protocols at once than they allow.
	for _, l := range []struct {
		name  string
		live  *icLive
		limit int
	}{{"MaxConns", &env.live, s.MaxConns}, {"MaxQueue (overflow)", &env.ovfLive, maxQueue}} {
		l.live.mu.Lock()
		if l.limit > 0 && l.live.peak > l.limit {
			t.Errorf("%d Protocols ran at once under %s %d", l.live.peak, l.name, l.limit)
		}
		l.live.mu.Unlock()
	}
	for _, l := range []*icLive{&env.live, &env.ovfLive} {
		l.mu.Lock()
		for ip, n := range l.peakByIP {
			if n > s.MaxConnsPerPeer {
				t.Errorf("%d Protocols of peer %s ran at once under MaxConnsPerPeer %d", n, ip, s.MaxConnsPerPeer)
			}
		}
		l.mu.Unlock()
	}

	// Each admission refusal had its witnesses: the connections holding
	// what the limit bounds, known to the server at the same time.
	held := func(r *icRec, ok func(c *icRec) bool) int {
		n := 0
		for _, c := range recs {
			if c != r && !c.tClosed.IsZero() && ok(c) && c.overlaps(r) {
				n++
			}
		}
		return n
	}
	for _, id := range ids {
		r := recs[id]
		if r.tClosed.IsZero() {
			continue
		}
		var n, want int
		switch r.cause() {
		case rejectNames[rejMaxConns]:
			n, want = held(r, func(c *icRec) bool { return !c.tActive.IsZero() && !c.overflow }), s.MaxConns
		case rejectNames[rejMaxQueue]:
			if overflowOn {
				n = held(r, func(c *icRec) bool { return c.overflow })
			} else {
				n = held(r, func(c *icRec) bool { return !c.tQueued.IsZero() })
			}
			want = maxQueue
		case rejectNames[rejPerPeer]:
			ip := icPeerIP(r.remote)
			n = held(r, func(c *icRec) bool {
				return (!c.tActive.IsZero() || !c.tQueued.IsZero()) && icPeerIP(c.remote) == ip
			})
			want = s.MaxConnsPerPeer
		case "per peer handshake":
			// The accept loop's count of one socket address's
			// handshakes: connections from it that it let through to
			// a handshake it counts (on the TLS listener, or an
			// untrusted source's on a PROXY one), still in it when r
			// came: not yet queued or running (a handshake that failed
			// held its slot until the close).
			ip := icPeerIP(r.sock)
			n = held(r, func(c *icRec) bool {
				return c.accepted && icPeerIP(c.sock) == ip && env.countsHandshake(c) && c.inHandshakeAt(r.start())
			})
			want = s.MaxConnsPerPeer
		case rejectNames[rejMaxHandshakes]:
			// The accept loop's refusal: MaxHandshakes connections in
			// a handshake when r came. Those the accept loop let
			// through to one (the TLS and PROXY listeners'), still in
			// it, and those that asked for STARTTLS, running then
			// (their handshakes take the same slots; when one ends is
			// not reported, so each counts while it runs).
			if r.accepted {
				continue
			}
			env.mu.Lock()
			startTLS := maps.Clone(env.startTLS)
			env.mu.Unlock()
			n = held(r, func(c *icRec) bool {
				if !c.accepted {
					return false
				}
				if startTLS[c.remote] && !c.tActive.IsZero() {
					return true
				}
				switch c.local {
				case env.addr["tls"], env.addr["proxy"], env.addr["proxytls"]:
					return c.inHandshakeAt(r.start())
				}
				return false
			})
			want = s.MaxHandshakes
		default:
			continue
		}
		if n < want {
			t.Errorf("connection %d (%s, as %s) refused for %q, but only %d connections holding what that limit bounds were known at the time, limit %d",
				id, r.sock, r.remote, r.cause(), n, want)
		}
	}

	// Each honest client's end is its limit's documented one.
	bySock := map[string][]*icRec{}
	for _, c := range recs {
		bySock[c.sock] = append(bySock[c.sock], c)
	}
	attributed := map[string]int{}
	for i, p := range plans {
		res, out := &results[i], outs[i]
		if res.sock == "" || out == "bad" {
			continue
		}
		cs := bySock[res.sock]
		if len(cs) != 1 {
			if len(cs) == 0 && !shutdown {
				t.Errorf("honest client %d (%s, %s): the server reported no connection from %s", i, p, out, res.sock)
			}
			attributed[out+": unattributed"]++
			continue // none (accepted as the server closed), or a port used twice
		}
		c := cs[0]
		cause := c.cause()
		attributed[out+": "+cause]++
		ok := true
		switch out {
		case "rejected":
			switch cause {
			case rejectNames[rejMaxConns]:
				ok = maxConnsOn
			case rejectNames[rejMaxQueue]:
				ok = queuePolicy || overflowOn
			case rejectNames[rejPerPeer]:
				ok = s.MaxConnsPerPeer > 0
			case rejectNames[rejQueueTimeout]:
				ok = queuePolicy && !c.tQueued.IsZero() && c.tClosed.Sub(c.tQueued) >= s.QueueTimeout
			case ReasonShutdown.String():
				ok = shutdown && !c.tQueued.IsZero()
			default:
				ok = false
			}
			ok = ok && c.tActive.IsZero()
		case "refused":
			switch cause {
			case rejectNames[rejMaxHandshakes]:
				ok = p.listener != "plain"
			case "per peer handshake":
				// Trusted PROXY sources (every honest one) are not
				// counted by the accept loop.
				ok = p.listener == "tls"
			case "per peer proxied handshake":
				ok = p.listener == "proxytls" && p.header != nil
			case ReasonHandshakeTimeout.String():
				ok = p.listener != "plain"
			case ReasonShutdown.String():
				ok = shutdown
			default:
				ok = false
			}
			ok = ok && c.tActive.IsZero()
		case "starttls refused":
			switch cause {
			case "starttls max handshakes", ReasonHandshakeTimeout.String():
			case ReasonShutdown.String():
				ok = shutdown
			default:
				ok = false
			}
			ok = ok && !c.tActive.IsZero() && !c.overflow
		case "overflow":
			ok = overflowOn && c.overflow && icCounter(cause) == ""
		case "full", "goodbye":
			ok = !c.tActive.IsZero() && !c.overflow && (shutdown || out != "full" || cause == "clean")
		}
		if !ok {
			t.Errorf("honest client %d (%s) ended %q, but the server reports %s (cause %q, err %v, queued %v, active %v, overflow %v, closed %v after new)",
				i, p, out, c.sock, cause, c.err, !c.tQueued.IsZero(), !c.tActive.IsZero(), c.overflow, c.tClosed.Sub(c.tNew).Round(time.Millisecond))
		}
	}
	t.Logf("honest ends by cause %v", attributed)
}

// inHandshakeAt reports whether c, let through to a handshake, may still
// have been in it at t (give or take icSlack): it was not queued or running
// yet (a handshake that failed held its slot until the close).
func (c *icRec) inHandshakeAt(t time.Time) bool {
	end := c.tActive
	if !c.tQueued.IsZero() {
		end = c.tQueued
	}
	return end.IsZero() || end.After(t.Add(-icSlack))
}

// countsHandshake reports whether the accept loop counts c's handshake
// against its socket address (MaxConnsPerPeer's handshake bound): every
// connection of the TLS listener, and those of a PROXY listener from a
// source it does not trust (the header wait).
func (env *icEnv) countsHandshake(c *icRec) bool {
	switch c.local {
	case env.addr["tls"]:
		return true
	case env.addr["proxy"], env.addr["proxytls"]:
		ap, err := netip.ParseAddrPort(c.sock)
		return err == nil && !icTrusted.Contains(ap.Addr())
	}
	return false
}
