package weft_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/weftkit/weft"
)

// The timeouts of TestPropertyContract: some runs set Options.IdleTimeout
// or Options.CloseTimeout (tens of milliseconds, in real time: the
// readiness engine cannot run in a synctest bubble), and two final actions
// make them the only way the connection can end: finalIdle (no one closes;
// the peer sends its stream and reads on) and finalStalled (the peer's
// reader stops; the driver writes until output waits in the connection's
// buffer, then closes gracefully). The StartTLS variant may also be
// pipelined (see propTLS.pipelined).
//
// The oracle (checkTimeouts, and the exceptions in check and checkReason):
// ConnectionLost gets ErrIdleTimeout only with IdleTimeout set, and not
// before IdleTimeout (less timerMargin) has passed since the latest
// activity the test can date from below (Serve's call, the start of the
// peer's write of the last byte delivered: see activityFloor); it gets
// ErrCloseTimeout only with CloseTimeout set, after a graceful close
// began, and not before CloseTimeout has passed since the first one
// began; ErrCloseTimeout wraps LoseConnectionWithReason's reason when
// that close came first (checkReason), and so does ErrIdleTimeout when the
// idle timer cuts that close short (else the close's reason alone, with
// output lost, fails the graceful-close delivery check, as it did before
// TestReview6IdleCutsReasonedClose's fix); a connection that nothing closed
// under finalIdle ends with ErrIdleTimeout; a finalStalled close that left
// output waiting for the stopped peer ends with ErrCloseTimeout. A timer's
// cut discards pending output (as an Abort), so the graceful-close
// delivery check does not apply then. Only lower bounds on time are
// checked: a loaded machine delays timers, it never advances them.

// timerMargin is what the timeouts' floors allow for the clocks' reading
// (the runtime and the test read the same monotonic clock).
const timerMargin = 2 * time.Millisecond

// peerChunk is one of the peer's writes: its stream up to end was written
// once it began, at t.
type peerChunk struct {
	end int
	t   time.Time
}

// drawTimeouts draws the timeouts, the final actions that need them and
// pipelined TLS, from a random stream of their own.
func (r *propRun) drawTimeouts(rng *rand.Rand) {
	c := &r.cfg
	idle := func() time.Duration { return time.Duration(25+rng.IntN(35)) * time.Millisecond }
	closeTO := func() time.Duration { return time.Duration(20+rng.IntN(30)) * time.Millisecond }
	switch rng.IntN(16) {
	case 0, 1:
		c.idle = idle()
	case 3:
		c.idle = idle()
		c.final = finalIdle
		if c.peerPlan == peerHalf {
			c.peerPlan = peerNothing // the peer's end would close it
		}
	case 4, 5:
		c.closeTO = closeTO()
	case 7:
		c.closeTO = closeTO()
		c.final = finalStalled
		// The default buffer limits (1 MiB): the stall's writes fit.
		c.maxWB, c.high, c.low = 0, 0, 0
		if !pipeLike(r.name) && c.sockBuf == 0 {
			// Fixed socket buffers (no autotuning): what the sockets
			// hold is bounded, so output waits in the connection.
			c.sockBuf = 1 << (10 + rng.IntN(7))
		}
	case 8:
		c.idle, c.closeTO = idle(), closeTO()
	}
	if r.tls != nil && rng.IntN(3) == 0 {
		r.tls.pipelined = true
		r.tls.how = tlsFromCallback // with the bytes that DataReceived got
		r.tls.tailCh = make(chan []byte, 1)
	}
}

// receive records what DataReceived got. Pipelined TLS: the bytes after
// the clear text, in the chunk that completes it, are TLS bytes, handed to
// StartTLS (maybeArmTLS, right after).
func (r *propRun) receive(data []byte) {
	x := r.tls
	if x == nil || !x.pipelined {
		r.received = append(r.received, data...)
		return
	}
	if x.armed {
		if r.pipeFailed() {
			r.extraIn += len(data) // the rest of a ClientHello no one takes
			return
		}
		r.received = append(r.received, data...)
		return
	}
	if k := x.clearLen - len(r.received); len(data) > k {
		x.buffered = append([]byte(nil), data[k:]...)
		r.extraIn += len(data) - k
		data = data[:k]
	}
	r.received = append(r.received, data...)
}

// pipeFailed reports whether a pipelined StartTLS failed: the peer, whose
// handshake then fails, stops sending its stream.
func (r *propRun) pipeFailed() bool {
	x := r.tls
	if x == nil || !x.pipelined {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return x.called && x.st.err != nil
}

// timerCut reports whether the idle or the close timer ended the
// connection.
func (r *propRun) timerCut() bool {
	return errors.Is(r.lostWhy, weft.ErrIdleTimeout) || errors.Is(r.lostWhy, weft.ErrCloseTimeout)
}

// stall is finalStalled: the peer's reader stops, the driver writes (at
// most what the buffer takes, so that no write fails for it) until the
// sockets are surely full, then closes gracefully. If a write fails (the
// connection was closed or half-closed before: LoseWriteConnection takes
// no more writes) no close follows, and the peer reads on: the connection
// then ends as the peer and the earlier close make it end, which a
// stopped peer would hold up for ever (a half-close waiting for a StartTLS
// handshake that the stopped peer does not make, with no IdleTimeout or
// HandshakeTimeout, waits for the peer as documented).
func (r *propRun) stall(a *actor) {
	close(r.peerStop)
	closed := false
	defer func() {
		if !closed {
			close(r.peerGo)
		}
	}()
	// The sockets hold less than 448 KiB: the server's SO_SNDBUF (at
	// most 64 KiB, doubled by the kernel), the peer's SO_RCVBUF (128 KiB,
	// doubled), and the peer's read under way (64 KiB at most); net.Pipe
	// holds nothing.
	total, want, full := 0, 640<<10+a.rng.IntN(128<<10), time.Time{}
	var last *writeRec
	for total < want {
		room := r.tr.(weft.WriteRoomer).WriteRoom()
		if room <= recHdr {
			if r.lost.Load() {
				return
			}
			// The buffer is full: output waits for the peer. A
			// producer's turns may still come; wait for them a little.
			if full.IsZero() {
				full = time.Now()
			} else if time.Since(full) > 20*time.Millisecond {
				break
			}
			time.Sleep(time.Millisecond)
			continue
		}
		full = time.Time{}
		wr := r.writeN(a, opWrite, recHdr+a.rng.IntN(min(room, 64<<10)-recHdr))
		if wr.err != nil {
			return // closed meanwhile: no expectation
		}
		last = wr
		total += wr.n
	}
	if total >= want {
		// More than the sockets hold: output waits. (Stopped short, with the buffer full or
		// the connection closing, the sockets may hold it all, and the
		// close may finish: no expectation.)
		r.stallRec = last
	}
	closed = true
	if a.rng.IntN(2) == 0 {
		r.closeOp(a, opLose)
	} else {
		r.closeOp(a, opLoseReason)
	}
}

// peerStopped is called by the peer's reader before each read: once
// finalStalled stopped it, it waits for ConnectionLost (at most 10 s), or
// for the stall to give up (peerGo), then reads on.
func (r *propRun) peerStopped() {
	select {
	case <-r.peerStop:
	default:
		return
	}
	select {
	case <-r.lostCh:
	case <-r.peerGo:
	case <-time.After(10 * time.Second):
	}
}

// activityFloor is a time no later than the last activity (a byte read
// or written) the runtime saw before it closed the connection: Serve's
// call, and the start of the peer's write of the last byte delivered (the
// runtime records a read before it delivers it, and delivers nothing once
// closed). Not the writes whose records the peer read: the runtime sees
// the progress of a blocking Write (a flusher's, with its deadline of half
// the timeout, see docs/operations.md) when that Write returns, so a cut
// may come while a Write under way has already given bytes to the peer.
func (r *propRun) activityFloor() time.Time {
	floor := r.serveWall
	if n := len(r.received); n > 0 {
		for _, c := range r.peerChunks {
			if c.end >= n {
				// The chunk that holds the last byte delivered: read
				// after the peer began to write it.
				if c.t.After(floor) {
					floor = c.t
				}
				break
			}
		}
	}
	return floor
}

// checkTimeouts checks the reasons of the timers (see the file comment).
func (r *propRun) checkTimeouts(causes []cause) {
	cfg, reason := r.cfg, r.lostWhy
	if errors.Is(reason, weft.ErrIdleTimeout) {
		floor := r.activityFloor()
		if d := r.lostWall.Sub(floor); d < cfg.idle-timerMargin {
			r.failf("ConnectionLost(%v) %v after the last activity the test knows of (%v after Serve's call; %d bytes delivered), IdleTimeout is %v",
				reason, d, floor.Sub(r.serveWall), len(r.received), cfg.idle)
		}
	}
	if errors.Is(reason, weft.ErrCloseTimeout) {
		var first time.Time
		for _, c := range causes {
			if !c.ws.IsZero() && (first.IsZero() || c.ws.Before(first)) {
				first = c.ws
			}
		}
		if !first.IsZero() {
			if d := r.lostWall.Sub(first); d < cfg.closeTO-timerMargin {
				r.failf("ConnectionLost(%v) %v after the first close began, CloseTimeout is %v", reason, d, cfg.closeTO)
			}
		}
	}
	if cfg.idle > 0 && cfg.final == finalIdle && len(causes) == 0 && !r.peerEarly && !errors.Is(reason, weft.ErrIdleTimeout) {
		r.failf("IdleTimeout %v, nothing closed the connection, ConnectionLost(%v), want ErrIdleTimeout", cfg.idle, reason)
	}
	if cfg.closeTO > 0 && cfg.final == finalStalled && r.stallRec != nil && !errors.Is(reason, weft.ErrCloseTimeout) &&
		!hasCause(causes, causeAbort) && !hasCause(causes, causeSlow) && !r.peerEarly {
		r.peerMu.Lock()
		got, perr := len(r.peerGot), r.peerErr
		r.peerMu.Unlock()
		tlsState := "no TLS"
		if x := r.tls; x != nil {
			tlsState = fmt.Sprintf("StartTLS called=%v err=%v pipelined=%v peer TLS up=%v", x.called, x.st.err, x.pipelined, x.peerTLS != nil)
		}
		r.failf("CloseTimeout %v, the peer stopped reading with output waiting, the graceful close ended with %v, want ErrCloseTimeout (the peer got %d bytes, then %v; BytesOut %d; %s)",
			cfg.closeTO, reason, got, perr, r.served[1], tlsState)
	}
}

func (r *propRun) countTimeouts(stats map[string]int) {
	c := r.cfg
	if c.idle > 0 {
		stats["IdleTimeout set"]++
	}
	if c.closeTO > 0 {
		stats["CloseTimeout set"]++
	}
	switch c.final {
	case finalIdle:
		stats["final idle"]++
	case finalStalled:
		stats["final stalled"]++
		if r.stallRec != nil {
			stats["final stalled, output waiting"]++
		}
	}
	if r.tls != nil && r.tls.pipelined {
		stats["TLS pipelined"]++
		if len(r.tls.buffered) > 0 {
			stats["TLS pipelined, bytes handed to StartTLS"]++
		}
	}
}
