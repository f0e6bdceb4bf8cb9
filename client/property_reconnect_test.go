package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// TestPropertyReconnecting is a randomized, model-based test of
// Reconnecting. Each seed draws a case (drawPropCase):
//
//   - a script of what happens on each attempt (propKind): the dial fails at
//     once, after a while, or returns only when ctx ends; it returns nil and
//     no error, or a connection and an error, or ignores ctx and returns a
//     connection late; BuildProtocol returns nil, panics or takes a while;
//     ConnectionMade panics, closes, or takes a while; the server accepts and
//     closes after a drawn life (lives at and next to StableAfter included),
//     cleanly or with a read error; the Protocol closes after its life; its
//     output is stuck (the server never reads). Some attempts have a slow
//     OnConnecting, some connections a slow ConnectionLost. Attempts past the
//     script fail at once;
//   - a configuration: MaxRetries 0..5, StableAfter 0 or a duration,
//     StopTimeout, an Exponential (default or drawn fields; half the time
//     with uniform, Gaussian or full jitter, whose randoms the case scripts
//     through Exponential.Rand, ends of their ranges included) or a
//     BackoffFunc that may give up (GiveUp or another negative delay) from
//     some retry on; sometimes a slow Factory Start, rarely a failing one;
//   - how it ends: Stop or ctx cancel at a drawn virtual time (sometimes
//     both, the earlier one winning), a ctx deadline, a ctx cancelled before
//     Run, a cancel by the n-th hook or ConnectionMade call, or running until
//     it gives up; Run, or Start and Wait.
//
// The oracle (propCase.model) computes from the documentation (the doc
// comments and docs/guide.md section 5) the exact log of hook and callback
// calls with their virtual times (testing/synctest: the delays are exact),
// the BackoffFunc's arguments, Run's result (nil after Stop, ctx's error,
// ErrGaveUp wrapping the last error, saying "after N retries" and, after a
// connection shorter than StableAfter, "before StableAfter"), when Run
// returns, and when a connection is live. The run also checks that each
// Protocol gets ConnectionMade once before ConnectionLost once (or, built
// while the client was stopping, no callback), that Transport() is the
// live connection's during its callbacks, nil in the hooks, right at drawn
// probe times as the model says, and nil after the end; that the
// connection of a failed attempt is closed before OnConnectFailed and every
// connection at the end; that Start reports ErrRunning while it runs; that
// Stop returns when the run ends, after every event, or at once after it;
// the Factory's Start and Stop once each; goleak (TestMain) checks that no
// goroutine is left.
//
// The drawn Stop, cancel and probe times never coincide with an event of
// the model (propCase.tie), so the order of events is not a race.
//
// Reproduce with the subtest (-run 'TestPropertyReconnecting/seed=17$') or
// WEFT_CLIENT_PROP_SEED=17. The seeds are 1..N by default (N:
// WEFT_CLIENT_PROP_RUNS, 300, or 50 under -short); WEFT_CLIENT_PROP_BASE
// moves the first one ("time" picks it from the clock and logs it, for a
// hunt). WEFT_CLIENT_PROP_VERBOSE=1 logs every case and its events.
func TestPropertyReconnecting(t *testing.T) {
	verbose := os.Getenv("WEFT_CLIENT_PROP_VERBOSE") != ""
	for _, seed := range testenv.Seeds(t, "WEFT_CLIENT_PROP", 300, 50) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			c := drawPropCase(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
			want := c.model()
			if verbose {
				t.Logf("case: %v", c)
			}
			synctest.Test(t, func(t *testing.T) { runPropCase(t, c, want, verbose) })
			if t.Failed() {
				t.Logf("seed %d (rerun: WEFT_CLIENT_PROP_SEED=%d go test -race -count=1 -run 'TestPropertyReconnecting' ./client)\ncase: %v", seed, seed, c)
			}
		})
	}
}

// propKind is what happens on one attempt.
type propKind int

const (
	kDialErr     propKind = iota // the dial fails at once with dial#k
	kDialSlow                    // the dial fails with dial#k after d (ctx's error if it ends first)
	kDialHang                    // the dial returns only when ctx ends (only with a Stop or ctx end)
	kDialNil                     // the dial returns nil and no error
	kDialConnErr                 // the dial returns a connection and dial#k
	kBuildNil                    // BuildProtocol returns nil
	kBuildPanic                  // BuildProtocol panics
	kMadePanic                   // ConnectionMade panics
	kMadeClose                   // ConnectionMade calls LoseConnection
	kServe                       // the server closes after d
	kServeErr                    // after d the client's read fails with lost#k
	kClientClose                 // the Protocol calls LoseConnection after d
	kStuck                       // the Protocol writes; the server never reads nor closes (only with a Stop or ctx end)
	kDialDeaf                    // the dial ignores ctx: a connection after d, which the server closes after life
	kBuildSlow                   // BuildProtocol takes d; the Protocol closes after life
	kMadeSlow                    // ConnectionMade takes d; the server closes life after the dial
	numKinds
)

var propKindNames = [...]string{"dialErr", "dialSlow", "dialHang", "dialNil", "dialConnErr", "buildNil", "buildPanic", "madePanic", "madeClose", "serve", "serveErr", "clientClose", "stuck", "dialDeaf", "buildSlow", "madeSlow"}

func (k propKind) String() string { return propKindNames[k] }

// conn reports whether the attempt makes a connection (ConnectionMade
// returns).
func (k propKind) conn() bool {
	return k == kMadeClose || k == kServe || k == kServeErr || k == kClientClose || k == kStuck ||
		k == kDialDeaf || k == kBuildSlow || k == kMadeSlow
}

// propStep is one attempt's script; hook is how long OnConnecting takes
// before it.
type propStep struct {
	kind     propKind
	d, life  time.Duration
	hook     time.Duration
	lostSlow time.Duration // how long ConnectionLost takes (connections)
}

type propEnd int

const (
	endStop propEnd = iota
	endCancel
	endDeadline
	endGiveUp
	endPreCancel // ctx is cancelled before Run
	endHook      // a hook or ConnectionMade cancels ctx (propCase.hookAt)
)

var propEndNames = [...]string{"Stop", "cancel", "deadline", "give up", "cancelled before", "cancelled by a hook"}

// other is the other end of at2: Stop with endCancel, cancel with endStop.
func (c *propCase) other() propEnd {
	if c.end == endStop {
		return endCancel
	}
	return endStop
}

// stopAt is when Stop is called, or 0.
func (c *propCase) stopAt() time.Duration {
	switch {
	case c.end == endStop:
		return c.at
	case c.end == endCancel:
		return c.at2
	}
	return 0
}

// propHookEvent reports whether an event (its format) is one that cancels
// ctx with endHook.
func propHookEvent(format string) bool {
	for _, h := range []string{"connecting ", "failed ", "onlost ", "made "} {
		if strings.HasPrefix(format, h) {
			return true
		}
	}
	return false
}

// propCase is one drawn case.
type propCase struct {
	script      []propStep
	maxRetries  int
	stableAfter time.Duration
	stopTimeout time.Duration
	// The backoff: exp, or (exp nil) table with giveUpAt. exp's jitter
	// (Jitter, Gaussian, FullJitter) draws its randoms from draws, the
	// n-th Delay call taking draws[n-1] (0.5, or 0 for Gaussian, past
	// them): propRand.
	exp      *Exponential
	draws    []float64
	table    []time.Duration
	giveUpAt int // the first retry the BackoffFunc returns negative for; 0: never
	giveUpD  time.Duration
	end      propEnd
	at       time.Duration // the time of Stop, cancel or the deadline
	hookAt   int           // endHook: which call cancels
	// at2, if not zero, is the time of the other of Stop and cancel, with
	// end endStop or endCancel: the earlier one ends the run.
	at2       time.Duration
	startTook time.Duration // how long the Factory's Start takes
	rerun     bool          // Run again after the end
	useStart  bool
	startErr  bool            // the Factory's Start fails
	probes    []time.Duration // when to check Transport()
}

func (c *propCase) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "end=%s", propEndNames[c.end])
	switch c.end {
	case endStop, endCancel, endDeadline:
		fmt.Fprintf(&b, "@%v", c.at)
		if c.at2 > 0 {
			fmt.Fprintf(&b, " and %s@%v", propEndNames[c.other()], c.at2)
		}
	case endHook:
		fmt.Fprintf(&b, "@%d", c.hookAt)
	}
	if c.startTook > 0 {
		fmt.Fprintf(&b, " FactoryStartTakes=%v", c.startTook)
	}
	fmt.Fprintf(&b, " probes=%v MaxRetries=%d StableAfter=%v StopTimeout=%v start=%v rerun=%v startErr=%v", c.probes, c.maxRetries, c.stableAfter, c.stopTimeout, c.useStart, c.rerun, c.startErr)
	if c.exp != nil {
		fmt.Fprintf(&b, " Exponential{Initial:%v Max:%v Multiplier:%v Jitter:%v Gaussian:%v FullJitter:%v} draws=%v",
			c.exp.Initial, c.exp.Max, c.exp.Multiplier, c.exp.Jitter, c.exp.Gaussian, c.exp.FullJitter, c.draws)
	} else {
		fmt.Fprintf(&b, " BackoffFunc{table:%v giveUpAt:%d (%v)}", c.table, c.giveUpAt, c.giveUpD)
	}
	b.WriteString(" script:")
	for k, s := range c.script {
		fmt.Fprintf(&b, " %d:%v", k+1, s.kind)
		switch s.kind {
		case kDialSlow, kServe, kServeErr, kClientClose:
			fmt.Fprintf(&b, "(%v)", s.d)
		case kDialDeaf, kBuildSlow, kMadeSlow:
			fmt.Fprintf(&b, "(%v,life %v)", s.d, s.life)
		}
		if s.hook > 0 {
			fmt.Fprintf(&b, "[hook %v]", s.hook)
		}
		if s.lostSlow > 0 {
			fmt.Fprintf(&b, "[lost takes %v]", s.lostSlow)
		}
	}
	return b.String()
}

// step returns the script of attempt k (1-based over the whole run);
// past the script, the dial fails at once.
func (c *propCase) step(k int) propStep {
	if k-1 < len(c.script) {
		return c.script[k-1]
	}
	return propStep{kind: kDialErr}
}

// delay is the documented delay before retry n: Initial·Multiplier^(n-1)
// capped at Max (zero fields: 1 s, 1.6, the longer of 120 s and Initial),
// or the table's.
func (c *propCase) delay(n int) time.Duration { return c.delayAt(n, n) }

// delayAt is delay for the call-th call of the backoff's Delay, which
// takes the call-th scripted random: retries count from 1 again after a
// connection, the random source goes on.
func (c *propCase) delayAt(n, call int) time.Duration {
	if c.exp == nil {
		if c.giveUpAt > 0 && n >= c.giveUpAt {
			return c.giveUpD
		}
		return c.table[(n-1)%len(c.table)]
	}
	initial, maxD, mult := c.exp.Initial, c.exp.Max, c.exp.Multiplier
	if initial == 0 {
		initial = time.Second
	}
	if maxD == 0 {
		maxD = max(120*time.Second, initial)
	}
	if mult == 0 {
		mult = 1.6
	}
	base := maxD
	if d := float64(initial) * math.Pow(mult, float64(n-1)); d < float64(maxD) {
		base = time.Duration(d)
	}
	// The jitter, as Exponential documents it, on the capped delay (Base).
	d := float64(base)
	switch r := c.draw(call); {
	case c.exp.FullJitter: // uniform in [0, d)
		d *= r
	case c.exp.Jitter > 0 && c.exp.Gaussian: // mean d, deviation d·Jitter
		d += d * c.exp.Jitter * r
	case c.exp.Jitter > 0: // uniform in [d·(1-Jitter), d·(1+Jitter))
		d *= 1 + c.exp.Jitter*(2*r-1)
	}
	if d <= 0 {
		return 0 // a Gaussian draw far below the mean: clamped at zero
	}
	return time.Duration(d)
}

// draw is the random that Delay's n-th call in the run takes (see
// propCase.draws).
func (c *propCase) draw(n int) float64 {
	if n-1 < len(c.draws) {
		return c.draws[n-1]
	}
	if c.exp.Gaussian {
		return 0
	}
	return 0.5
}

// propRand is the Exponential's random source in a run: it hands out
// c.draws in order, and records a call of the kind of jitter the case does
// not use (Float64 for uniform and full jitter, NormFloat64 for Gaussian).
type propRand struct {
	run   *propRun
	calls int
}

func (r *propRand) next(gaussian bool) float64 {
	c := r.run.c
	if gaussian != (c.exp.Gaussian && !c.exp.FullJitter) || c.exp.Jitter == 0 && !c.exp.FullJitter {
		r.run.violate("Exponential drew a random (gaussian %v) that its jitter does not use", gaussian)
	}
	r.calls++
	return c.draw(r.calls)
}

func (r *propRand) Float64() float64     { return r.next(false) }
func (r *propRand) NormFloat64() float64 { return r.next(true) }

func drawPropDur(rng *rand.Rand, stable time.Duration) time.Duration {
	switch rng.IntN(7) {
	case 0:
		return 0
	case 1, 2:
		return time.Duration(1+rng.IntN(1000)) * time.Millisecond
	case 3:
		return time.Duration(1+rng.IntN(10)) * time.Second
	case 4:
		return time.Duration(1 + rng.Int64N(int64(3*time.Second)))
	default: // around StableAfter, its boundary included
		if stable == 0 {
			return time.Duration(rng.IntN(3)) * time.Second
		}
		return stable + time.Duration(rng.IntN(3)-1)*time.Duration(1+rng.IntN(2)*int(time.Millisecond-1))
	}
}

func drawPropCase(rng *rand.Rand) *propCase {
	c := &propCase{end: []propEnd{endStop, endCancel, endDeadline, endGiveUp, endHook}[rng.IntN(5)]}
	switch {
	case c.end == endHook:
		c.hookAt = 1 + rng.IntN(15)
	case rng.IntN(50) == 0:
		c.end = endPreCancel
	}
	if rng.IntN(3) > 0 {
		c.stableAfter = []time.Duration{time.Millisecond, 500 * time.Millisecond, time.Second, 3 * time.Second, time.Duration(1 + rng.Int64N(int64(5*time.Second)))}[rng.IntN(5)]
	}
	n := 1 + rng.IntN(12)
	for range n {
		s := propStep{kind: propKind(rng.IntN(int(numKinds)))}
		if (s.kind == kDialHang || s.kind == kStuck) && rng.IntN(3) > 0 {
			// Rarer: nothing after them in the script is reached.
			s.kind = propKind(rng.IntN(int(numKinds)))
		}
		switch s.kind {
		case kDialSlow, kServe, kServeErr, kClientClose:
			s.d = drawPropDur(rng, c.stableAfter)
		case kDialDeaf, kBuildSlow, kMadeSlow:
			s.d = time.Duration(1+rng.IntN(1000)) * time.Millisecond
			s.life = drawPropDur(rng, c.stableAfter)
		}
		if s.kind == kServeErr && s.d == 0 && c.end == endHook {
			// Its error and a cancel by its ConnectionMade would race
			// (the same instant): which the client sees first is not
			// specified.
			s.d = time.Millisecond
		}
		if rng.IntN(8) == 0 {
			s.hook = time.Duration(1+rng.IntN(500)) * time.Millisecond
		}
		if s.kind.conn() && rng.IntN(5) == 0 {
			s.lostSlow = drawPropDur(rng, c.stableAfter) / 2
		}
		if s.kind == kDialHang || s.kind == kStuck {
			if c.end == endGiveUp || c.end == endHook {
				s.kind = kDialErr
			} else {
				c.script = append(c.script, s)
				break // nothing after it is reached
			}
		}
		c.script = append(c.script, s)
	}
	c.maxRetries = rng.IntN(6)
	if rng.IntN(2) == 0 {
		c.exp = &Exponential{
			Initial:    []time.Duration{0, time.Duration(1+rng.IntN(2000)) * time.Millisecond, time.Duration(1 + rng.Int64N(int64(time.Second)))}[rng.IntN(3)],
			Multiplier: []float64{0, 1, 1.5, 2, 3}[rng.IntN(5)],
		}
		switch rng.IntN(3) {
		case 1:
			c.exp.Max = time.Duration(1+rng.IntN(20)) * max(c.exp.Initial, time.Millisecond)
		case 2:
			c.exp.Max = time.Duration(1 + rng.Int64N(int64(10*time.Second)))
		}
		// Jitter half the time: uniform, Gaussian or full, with randoms
		// that include the ends of their ranges.
		switch rng.IntN(6) {
		case 0:
			c.exp.Jitter = []float64{0.05, 0.2, 0.5, 1}[rng.IntN(4)]
		case 1:
			c.exp.Jitter, c.exp.Gaussian = []float64{0.1, 0.3, 1}[rng.IntN(3)], true
		case 2:
			c.exp.FullJitter = true
			c.exp.Jitter = []float64{0, 0.5}[rng.IntN(2)] // ignored
		}
		if c.exp.Jitter > 0 || c.exp.FullJitter {
			c.draws = make([]float64, rng.IntN(8))
			for i := range c.draws {
				switch {
				case c.exp.Gaussian && rng.IntN(4) == 0:
					c.draws[i] = []float64{-5, -1, 3}[rng.IntN(3)] // far out: clamped at zero, or long
				case c.exp.Gaussian:
					c.draws[i] = rng.NormFloat64()
				case rng.IntN(4) == 0:
					c.draws[i] = []float64{0, 0.999999}[rng.IntN(2)]
				default:
					c.draws[i] = rng.Float64()
				}
			}
		}
	} else {
		c.table = make([]time.Duration, 1+rng.IntN(5))
		for i := range c.table {
			c.table[i] = drawPropDur(rng, c.stableAfter)
		}
		if rng.IntN(2) == 0 {
			c.giveUpAt = 1 + rng.IntN(6)
			c.giveUpD = []time.Duration{GiveUp, -time.Nanosecond, -time.Hour}[rng.IntN(3)]
		}
		if c.giveUpAt == 0 && c.maxRetries == 0 && slices.Max(c.table) == 0 {
			// It would retry forever without time passing (the
			// attempts past the script fail at once).
			c.table[rng.IntN(len(c.table))] = time.Millisecond
		}
	}
	if (c.end == endGiveUp || c.end == endHook) && c.maxRetries == 0 && c.giveUpAt == 0 {
		c.maxRetries = 1 + rng.IntN(5)
	}
	if rng.IntN(2) == 0 {
		c.stopTimeout = time.Duration(1+rng.IntN(30)) * 100 * time.Millisecond
	}
	c.useStart = rng.IntN(2) == 0
	c.rerun = rng.IntN(5) == 0
	c.startErr = rng.IntN(40) == 0
	if !c.startErr && rng.IntN(6) == 0 {
		c.startTook = time.Duration(1+rng.IntN(1000)) * time.Millisecond
	}
	if c.end == endStop || c.end == endCancel || c.end == endDeadline {
		// A time in the span of the script and the first delays, a little
		// beyond, at no event of the model.
		h := time.Millisecond
		for k, s := range c.script {
			h += s.d + s.life + s.hook + s.lostSlow
			if d := c.delay(k + 1); d > 0 {
				h += d
			}
		}
		if d := c.delay(len(c.script) + 1); d > 0 {
			h += d
		}
		h = min(h, time.Hour)
		c.at = 1 + time.Duration(rng.Int64N(int64(h+h/4)))
		for c.model().looped {
			c.at = c.at/2 + 1 // tiny delays and no end but this one
		}
		for c.tie() {
			c.at++
		}
		if (c.end == endStop || c.end == endCancel) && rng.IntN(3) == 0 {
			c.at2 = 1 + time.Duration(rng.Int64N(int64(h+h/4)))
			for c.tie() {
				c.at2++
			}
		}
	}
	w := c.model()
	for range 3 {
		p := 1 + time.Duration(rng.Int64N(int64(w.end+w.end/5+time.Millisecond)))
		for w.all[p] {
			p++
		}
		c.probes = append(c.probes, p)
	}
	return c
}

// tie reports whether the end time coincides with an event of the model.
func (c *propCase) tie() bool {
	w := c.model()
	return w.times[c.at] || c.at2 > 0 && (w.times[c.at2] || c.at2 == c.at)
}

// propWant is the model's prediction.
type propWant struct {
	log        []string
	times      map[time.Duration]bool // the times of the events the end did not cause (see tie)
	all        map[time.Duration]bool // the times of all events
	delayCalls []int                  // the BackoffFunc's arguments
	end        time.Duration          // when Run returns (or Wait)
	stopped    bool                   // the end (Stop or ctx) ended the run
	endBy      propEnd                // which: c.end, or c.other() when at2 came first
	gaveUp     bool
	retries    int    // with gaveUp: the count in its error
	lastCat    string // with gaveUp: the wrapped error's class
	short      bool   // with gaveUp: the last connection was shorter than StableAfter
	looped     bool   // the model did not end (a bad draw)
	// live holds the spans [from ConnectionMade's call, to ConnectionLost's
	// return) of the connections: Transport() is not nil then only.
	live [][2]time.Duration
}

// liveAt reports whether a connection is live at at (never an event's time).
func (w *propWant) liveAt(at time.Duration) bool {
	for _, l := range w.live {
		if l[0] < at && at < l[1] {
			return true
		}
	}
	return false
}

// model computes what the documentation says must happen.
func (c *propCase) model() *propWant {
	w := &propWant{times: map[time.Duration]bool{}, all: map[time.Duration]bool{}}
	// addEnd logs an event caused by the end (Stop or ctx), add any other.
	addEnd := func(at time.Duration, format string, v ...any) {
		w.all[at] = true
		w.log = append(w.log, fmt.Sprintf("%v ", at)+fmt.Sprintf(format, v...))
	}
	const never = time.Duration(math.MaxInt64)
	T := c.at
	w.endBy = c.end
	if c.at2 > 0 && c.at2 < c.at {
		T, w.endBy = c.at2, c.other()
	}
	if c.end == endGiveUp || c.end == endHook {
		T = never
	}
	// With endHook, the hookAt-th call of OnConnecting, OnConnectFailed,
	// OnConnectionLost or ConnectionMade cancels ctx (when it begins):
	// T is then that time, and every wait from then on is cut short.
	cancelled, calls := false, 0
	add := func(at time.Duration, format string, v ...any) {
		w.times[at] = true
		addEnd(at, format, v...)
		if c.end == endHook && propHookEvent(format) {
			if calls++; calls == c.hookAt {
				cancelled, T = true, at
			}
		}
	}
	// stopBy reports whether the end comes before x (a time not before
	// now).
	stopBy := func(x time.Duration) bool { return cancelled || T < x }
	add(0, "start")
	if c.startErr {
		// Run returns the Start error; Stop is not called (Start
		// failed: there is nothing to stop).
		w.end = 0
		return w
	}
	if c.end == endPreCancel {
		// The Factory's Start runs (and Stop): then Run ends.
		w.stopped, w.end = true, c.startTook
		add(c.startTook, "stop")
		return w
	}
	end := func(at time.Duration) {
		w.end, w.stopped = at, true
		addEnd(at, "stop")
	}
	// Stopped while the Factory's Start ran: no attempt.
	w.times[c.startTook] = true
	if c.startTook > 0 && T < c.startTook {
		end(c.startTook)
		return w
	}
	stopTO := c.stopTimeout
	if stopTO == 0 {
		stopTO = DefaultStopTimeout
	}
	now := c.startTook
	retries, attempt, delays := 0, 0, 0 // delays: the backoff's Delay calls
	// next counts a retry: GiveUp past MaxRetries (Delay not called) or
	// when Delay is negative.
	next := func() time.Duration {
		retries++
		if c.maxRetries > 0 && retries > c.maxRetries {
			return GiveUp
		}
		if c.exp == nil {
			w.delayCalls = append(w.delayCalls, retries)
		}
		delays++
		if d := c.delayAt(retries, delays); d >= 0 {
			return d
		}
		return GiveUp
	}
	for k := 1; ; k++ {
		if k > 1000 {
			w.looped = true
			return w
		}
		attempt++
		add(now, "connecting %d", attempt)
		s := c.step(k)
		// Stopped while OnConnecting ran: no attempt.
		w.times[now+s.hook] = true
		if stopBy(now + s.hook) {
			end(now + s.hook)
			return w
		}
		now += s.hook
		var d time.Duration
		if !s.kind.conn() {
			failAt, cat := now, fmt.Sprintf("dial#%d", k)
			switch s.kind {
			case kDialSlow:
				failAt = now + s.d
			case kDialHang:
				failAt = never
			case kDialNil:
				cat = "noconn"
			case kBuildNil:
				cat = "noproto"
			case kBuildPanic:
				cat = "panic"
			case kMadePanic:
				cat = "panic"
				add(now, "made %d", k)
				add(now, "lost %d panic", k)
			}
			if stopBy(failAt) {
				end(T) // the attempt is cancelled, not reported
				return w
			}
			now = failAt
			d = next()
			add(now, "failed %d %s next %v", attempt, cat, d)
			// A hook told GiveUp that cancels ctx does not change
			// Run's result: the client gave up first.
			if d == GiveUp {
				w.gaveUp, w.retries, w.lastCat, w.short, w.end = true, retries-1, cat, false, now
				add(now, "stop")
				return w
			}
		} else {
			// What happens before ConnectionMade: a dial that ignores
			// ctx, a slow BuildProtocol. Stopped meanwhile, the
			// connection is closed and no callback runs.
			if s.kind == kDialDeaf || s.kind == kBuildSlow {
				w.times[now+s.d] = true
				if stopBy(now + s.d) {
					end(now + s.d)
					return w
				}
				now += s.d
			}
			add(now, "made %d", k)
			madeAt := now
			life := s.d
			switch s.kind {
			case kMadeClose:
				life = 0
			case kStuck:
				life = never
			case kDialDeaf, kBuildSlow:
				life = s.life
			case kMadeSlow:
				// ConnectionMade returns at now+d: the connection
				// is up from then, and ends then or when the
				// server closes (life after the dial).
				w.times[now+s.d] = true
				w.times[now+s.life] = true
				if stopBy(now + s.d) {
					addEnd(now+s.d, "lost %d nil", k)
					addEnd(now+s.d+s.lostSlow, "onlost nil next %v", GiveUp)
					w.live = append(w.live, [2]time.Duration{madeAt, now + s.d + s.lostSlow})
					end(now + s.d + s.lostSlow)
					return w
				}
				now += s.d
				life = max(0, s.life-s.d)
			}
			if cancelled || T-now < life {
				// Stopped while connected: LoseConnection, which ends
				// it at once unless output is stuck (then Abort after
				// StopTimeout); OnConnectionLost reports GiveUp.
				lostAt, reason := T, "nil"
				if s.kind == kStuck {
					lostAt, reason = T+stopTO, "aborted"
				}
				addEnd(lostAt, "lost %d %s", k, reason)
				addEnd(lostAt+s.lostSlow, "onlost %s next %v", reason, GiveUp)
				w.live = append(w.live, [2]time.Duration{madeAt, lostAt + s.lostSlow})
				end(lostAt + s.lostSlow)
				return w
			}
			now += life
			reason := "nil"
			if s.kind == kServeErr {
				reason = fmt.Sprintf("lost#%d", k)
			}
			add(now, "lost %d %s", k, reason)
			// Up until ConnectionLost returns; stopped meanwhile, it
			// is not replaced.
			ret := now + s.lostSlow
			w.times[ret] = true
			w.live = append(w.live, [2]time.Duration{madeAt, ret})
			if stopBy(ret) {
				addEnd(ret, "onlost %s next %v", reason, GiveUp)
				end(ret)
				return w
			}
			now = ret
			short := life+s.lostSlow < c.stableAfter
			if !short {
				retries, attempt = 0, 0
			}
			d = next()
			add(now, "onlost %s next %v", reason, d)
			if d == GiveUp {
				w.gaveUp, w.retries, w.lastCat, w.short, w.end = true, retries-1, reason, short, now
				add(now, "stop")
				return w
			}
		}
		if cancelled || T-now < d {
			end(T) // the wait is cancelled
			return w
		}
		now += d
	}
}

// propErr is a scripted error: dial#k or lost#k.
type propErr struct {
	what string
	k    int
}

func (e propErr) Error() string { return fmt.Sprintf("%s#%d", e.what, e.k) }

// classify names an error as the model does.
func classify(err error) string {
	var pe propErr
	switch {
	case err == nil:
		return "nil"
	case errors.As(err, &pe):
		return pe.Error()
	case errors.Is(err, ErrNoProtocol):
		return "noproto"
	case errors.Is(err, errNoConn):
		return "noconn"
	case errors.Is(err, weft.ErrProtocolPanic):
		return "panic"
	case errors.Is(err, weft.ErrAborted):
		return "aborted"
	}
	return fmt.Sprintf("other(%v)", err)
}

type propAddr int

func (propAddr) Network() string  { return "prop" }
func (a propAddr) String() string { return fmt.Sprintf("server#%d", int(a)) }

// propConn is the client's end of a net.Pipe for attempt k.
type propConn struct {
	net.Conn
	k      int
	fail   atomic.Pointer[error] // the read error, set before the server closes
	once   sync.Once
	closed chan struct{}
}

func (c *propConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		if e := c.fail.Load(); e != nil {
			return n, *e
		}
	}
	return n, err
}

func (c *propConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (c *propConn) RemoteAddr() net.Addr { return propAddr(c.k) }

func (c *propConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// propRun is the state of one run.
type propRun struct {
	c  *propCase
	r  *Reconnecting
	t0 time.Time

	mu         sync.Mutex
	log        []string
	violations []string
	delayCalls []int
	dials      int
	conns      []*propConn
	protos     []*propProto
	starts     int
	stops      int
	calls      int                // endHook: the calls counted
	cancel     context.CancelFunc // endHook: cancels Run's ctx
}

func (run *propRun) add(format string, v ...any) {
	at := time.Since(run.t0)
	run.mu.Lock()
	run.log = append(run.log, fmt.Sprintf("%v ", at)+fmt.Sprintf(format, v...))
	cancel := false
	if run.c.end == endHook && propHookEvent(format) {
		run.calls++
		cancel = run.calls == run.c.hookAt
	}
	run.mu.Unlock()
	if cancel {
		run.cancel()
	}
}

func (run *propRun) violate(format string, v ...any) {
	at := time.Since(run.t0)
	run.mu.Lock()
	run.violations = append(run.violations, fmt.Sprintf("%v ", at)+fmt.Sprintf(format, v...))
	run.mu.Unlock()
}

// lastConn returns the connection of the latest dial, or nil.
func (run *propRun) lastConn() *propConn {
	run.mu.Lock()
	defer run.mu.Unlock()
	if n := len(run.conns); n > 0 && run.conns[n-1].k == run.dials {
		return run.conns[n-1]
	}
	return nil
}

func (run *propRun) dial(ctx context.Context, desc string) (net.Conn, error) {
	if desc != "prop" {
		run.violate("dial desc %q", desc)
	}
	run.mu.Lock()
	run.dials++
	k := run.dials
	run.mu.Unlock()
	s := run.c.step(k)
	switch s.kind {
	case kDialErr:
		return nil, propErr{"dial", k}
	case kDialSlow:
		t := time.NewTimer(s.d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil, propErr{"dial", k}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case kDialHang:
		<-ctx.Done()
		return nil, ctx.Err()
	case kDialNil:
		return (*propConn)(nil), nil
	case kDialDeaf:
		time.Sleep(s.d)
	}
	cli, srv := net.Pipe()
	pc := &propConn{Conn: cli, k: k, closed: make(chan struct{})}
	run.mu.Lock()
	run.conns = append(run.conns, pc)
	run.mu.Unlock()
	go func() { // the server
		defer srv.Close()
		var tc <-chan time.Time
		switch s.kind {
		case kServe, kServeErr:
			t := time.NewTimer(s.d)
			defer t.Stop()
			tc = t.C
		case kDialDeaf, kMadeSlow:
			t := time.NewTimer(s.life)
			defer t.Stop()
			tc = t.C
		}
		select {
		case <-tc:
			if s.kind == kServeErr {
				e := error(propErr{"lost", k})
				pc.fail.Store(&e)
			}
		case <-pc.closed:
		}
	}()
	if s.kind == kDialConnErr {
		return pc, propErr{"dial", k}
	}
	return pc, nil
}

type propFactory struct{ run *propRun }

func (f *propFactory) Start(ctx context.Context) error {
	run := f.run
	run.add("start")
	run.mu.Lock()
	run.starts++
	run.mu.Unlock()
	if run.c.startErr {
		return errors.New("factory start failed")
	}
	time.Sleep(run.c.startTook)
	return nil
}

func (f *propFactory) Stop() {
	run := f.run
	run.add("stop")
	run.mu.Lock()
	run.stops++
	run.mu.Unlock()
}

func (f *propFactory) BuildProtocol(a net.Addr) weft.Protocol {
	run := f.run
	k := int(a.(propAddr))
	switch run.c.step(k).kind {
	case kBuildNil:
		return nil
	case kBuildPanic:
		panic(fmt.Sprintf("BuildProtocol %d panics", k))
	case kBuildSlow:
		time.Sleep(run.c.step(k).d)
	}
	p := &propProto{run: run, k: k, kind: run.c.step(k).kind, d: run.c.step(k).d, life: run.c.step(k).life}
	run.mu.Lock()
	run.protos = append(run.protos, p)
	run.mu.Unlock()
	return p
}

// propProto is attempt k's Protocol.
type propProto struct {
	run   *propRun
	k     int
	kind  propKind
	d     time.Duration
	life  time.Duration
	t     weft.Transport
	timer *time.Timer
	made  atomic.Int32
	lost  atomic.Int32
}

func (p *propProto) ConnectionMade(t weft.Transport) {
	run := p.run
	run.add("made %d", p.k)
	if p.made.Add(1) != 1 || p.lost.Load() != 0 {
		run.violate("made %d: ConnectionMade again or after ConnectionLost", p.k)
	}
	p.t = t
	if got := run.r.Transport(); got != t {
		run.violate("made %d: Transport() = %v, want the connection's %v", p.k, got, t)
	}
	switch p.kind {
	case kMadePanic:
		panic(fmt.Sprintf("ConnectionMade %d panics", p.k))
	case kMadeClose:
		t.LoseConnection()
	case kClientClose:
		p.timer = time.AfterFunc(p.d, t.LoseConnection)
	case kBuildSlow:
		p.timer = time.AfterFunc(p.life, t.LoseConnection)
	case kMadeSlow:
		time.Sleep(p.d)
	case kStuck:
		t.Write([]byte("the server never reads this"))
	}
}

func (p *propProto) DataReceived(data []byte) {
	p.run.violate("data %d %q: the server sends nothing", p.k, data)
}

func (p *propProto) ConnectionLost(reason error) {
	run := p.run
	run.add("lost %d %s", p.k, classify(reason))
	if p.made.Load() != 1 || p.lost.Add(1) != 1 {
		run.violate("lost %d: ConnectionLost without ConnectionMade, or again", p.k)
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	if got := run.r.Transport(); got != p.t {
		run.violate("lost %d: Transport() = %v, want the connection's %v", p.k, got, p.t)
	}
	time.Sleep(run.c.step(p.k).lostSlow)
}

func runPropCase(t *testing.T, c *propCase, want *propWant, verbose bool) {
	if want.looped {
		t.Fatalf("bad draw: the model does not end: %v", c)
	}
	run := &propRun{c: c, t0: time.Now()}
	var ctx context.Context
	var cancel context.CancelFunc
	switch c.end {
	case endCancel:
		ctx, cancel = context.WithCancel(t.Context())
		time.AfterFunc(c.at, cancel)
	case endStop:
		ctx, cancel = context.WithCancel(t.Context())
		if c.at2 > 0 {
			time.AfterFunc(c.at2, cancel)
		}
	case endDeadline:
		ctx, cancel = context.WithTimeout(t.Context(), c.at)
	case endPreCancel:
		ctx, cancel = context.WithCancel(t.Context())
		cancel()
	case endHook:
		ctx, cancel = context.WithCancel(t.Context())
		run.cancel = cancel
	default: // bounded if the model is wrong
		ctx, cancel = context.WithTimeout(t.Context(), 1000*time.Hour)
	}
	defer cancel()
	r := &Reconnecting{
		Endpoint:    "prop",
		Factory:     &propFactory{run},
		Dialer:      run.dial,
		MaxRetries:  c.maxRetries,
		StableAfter: c.stableAfter,
		StopTimeout: c.stopTimeout,
	}
	run.r = r
	if c.exp != nil {
		e := *c.exp
		e.Rand = &propRand{run: run}
		r.Backoff = &e
	} else {
		r.Backoff = BackoffFunc(func(n int) time.Duration {
			run.mu.Lock()
			run.delayCalls = append(run.delayCalls, n)
			run.mu.Unlock()
			return c.delay(n)
		})
	}
	first := true
	r.OnConnecting = func(attempt int) {
		run.add("connecting %d", attempt)
		if r.Transport() != nil {
			run.violate("OnConnecting(%d): Transport() is not nil", attempt)
		}
		run.mu.Lock()
		hook := c.step(run.dials + 1).hook
		run.mu.Unlock()
		time.Sleep(hook)
		if first {
			first = false
			if err := r.Start(ctx); !errors.Is(err, ErrRunning) {
				run.violate("Start while running = %v, want ErrRunning", err)
			}
		}
	}
	r.OnConnectFailed = func(err error, attempt int, next time.Duration) {
		run.add("failed %d %s next %v", attempt, classify(err), next)
		if r.Transport() != nil {
			run.violate("OnConnectFailed(%d): Transport() is not nil", attempt)
		}
		if pc := run.lastConn(); pc != nil && !pc.isClosed() {
			run.violate("OnConnectFailed(%d): the attempt's connection is not closed", attempt)
		}
	}
	r.OnConnectionLost = func(reason error, next time.Duration) {
		run.add("onlost %s next %v", classify(reason), next)
		if r.Transport() != nil {
			run.violate("OnConnectionLost: Transport() is not nil")
		}
	}

	var wg sync.WaitGroup
	for _, p := range c.probes {
		wg.Go(func() {
			time.Sleep(p)
			if live, want := r.Transport() != nil, want.liveAt(p); live != want {
				run.violate("Transport() live %v, want %v", live, want)
			}
		})
	}
	if stopAt := c.stopAt(); stopAt > 0 {
		wg.Go(func() {
			time.Sleep(stopAt)
			r.Stop()
			// Stop waits for the run to end (whatever ends it), and
			// returns at once after it ended.
			at := time.Since(run.t0)
			if stopAt < want.end && at != want.end {
				run.violate("Stop returned at %v, want %v (when the run ends)", at, want.end)
			}
			if stopAt > want.end && at != stopAt {
				run.violate("Stop after the end returned at %v, want at once", at)
			}
			run.mu.Lock()
			stops, events := run.stops, len(run.log)
			run.mu.Unlock()
			if events != len(want.log) {
				// Stop returns after the last ConnectionLost and hook
				// (docs/guide.md).
				run.violate("Stop returned after %d events, want all %d", events, len(want.log))
			}
			if stops != 1 && !c.startErr {
				run.violate("Stop returned before the Factory's Stop")
			}
			if r.Transport() != nil {
				run.violate("Stop returned with a live Transport")
			}
		})
	}
	var err error
	if c.useStart {
		if e := r.Start(ctx); e != nil {
			t.Fatalf("Start = %v", e)
		}
		err = r.Wait()
	} else {
		err = r.Run(ctx)
	}
	endAt := time.Since(run.t0)
	if r.Transport() != nil {
		run.violate("Transport() is not nil after the end")
	}
	if e := r.Wait(); e != err {
		run.violate("Wait after the end = %v, want Run's %v", e, err)
	}
	wg.Wait()
	if c.rerun {
		// The client runs again: a Run with ctx already cancelled runs
		// the Factory's Start and Stop, makes no attempt, and returns
		// ctx's error (or the Start error); Wait returns it too.
		run.mu.Lock()
		n, starts, stops := len(run.log), run.starts, run.stops
		run.mu.Unlock()
		ctx2, cancel2 := context.WithCancel(t.Context())
		cancel2()
		err2 := r.Run(ctx2)
		if c.startErr {
			if err2 == nil || !strings.Contains(err2.Error(), "factory start failed") {
				t.Errorf("second Run = %v, want the Factory's Start error", err2)
			}
		} else if err2 != context.Canceled {
			t.Errorf("second Run = %v, want context.Canceled", err2)
		}
		if e := r.Wait(); e != err2 {
			t.Errorf("Wait after the second Run = %v, want %v", e, err2)
		}
		run.mu.Lock()
		var names []string
		for _, e := range run.log[n:] {
			names = append(names, e[strings.IndexByte(e, ' ')+1:])
		}
		wantNames := "[start stop]"
		if c.startErr {
			wantNames = "[start]"
		}
		if fmt.Sprint(names) != wantNames {
			t.Errorf("second Run: events %q, want %s", names, wantNames)
		}
		run.log = run.log[:n]
		run.starts, run.stops = starts, stops
		run.mu.Unlock()
	}

	// The result.
	switch {
	case c.startErr:
		if err == nil || !strings.Contains(err.Error(), "factory start failed") {
			t.Errorf("Run = %v, want the Factory's Start error", err)
		}
	case want.gaveUp:
		if !errors.Is(err, ErrGaveUp) {
			t.Errorf("Run = %v, want ErrGaveUp", err)
			break
		}
		if got := classify(err); want.lastCat != "nil" && got != want.lastCat {
			t.Errorf("Run = %v (%s), want it to wrap the last error %s", err, got, want.lastCat)
		}
		if want.lastCat == "nil" && !strings.HasPrefix(classify(err), "other(") {
			t.Errorf("Run = %v, want it to wrap the clean close of the last connection", err)
		}
		if s := fmt.Sprintf("after %d retries", want.retries); !strings.Contains(err.Error(), s) {
			t.Errorf("Run = %v, want it to say %q", err, s)
		}
		if short := strings.Contains(err.Error(), "before StableAfter"); short != want.short {
			t.Errorf("Run = %v: says \"before StableAfter\" %v, want %v", err, short, want.short)
		}
	case want.endBy == endStop:
		if err != nil {
			t.Errorf("Run = %v, want nil after Stop", err)
		}
	case want.endBy == endCancel || c.end == endPreCancel || c.end == endHook:
		if err != context.Canceled {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case c.end == endDeadline:
		if err != context.DeadlineExceeded {
			t.Errorf("Run = %v, want context.DeadlineExceeded", err)
		}
	default:
		t.Errorf("Run = %v; the model did not end", err)
	}
	if endAt != want.end {
		t.Errorf("Run returned at %v, want %v", endAt, want.end)
	}

	run.mu.Lock()
	defer run.mu.Unlock()
	if verbose {
		t.Logf("Run = %v at %v; events:\n  %s", err, endAt, strings.Join(run.log, "\n  "))
	}
	if d := diffLogs(run.log, want.log); d != "" {
		t.Errorf("events differ from the model: %s\ngot:\n  %s\nwant:\n  %s", d, strings.Join(run.log, "\n  "), strings.Join(want.log, "\n  "))
	}
	if c.exp == nil && fmt.Sprint(run.delayCalls) != fmt.Sprint(want.delayCalls) {
		t.Errorf("Backoff.Delay called with %v, want %v", run.delayCalls, want.delayCalls)
	}
	wantStops := 1
	if c.startErr {
		wantStops = 0
	}
	if run.starts != 1 || run.stops != wantStops {
		t.Errorf("Factory Start %d times, Stop %d times; want 1, %d", run.starts, run.stops, wantStops)
	}
	for i, p := range run.protos {
		made, lost := p.made.Load(), p.lost.Load()
		if made == 0 && lost == 0 && p.kind == kBuildSlow && i == len(run.protos)-1 && want.stopped {
			continue // built when Stop or ctx ended the client: discarded unused
		}
		if made != 1 || lost != 1 {
			t.Errorf("Protocol %d: ConnectionMade %d times, ConnectionLost %d times; want once each", p.k, made, lost)
		}
	}
	for _, pc := range run.conns {
		if !pc.isClosed() {
			t.Errorf("the connection of attempt %d is not closed at the end", pc.k)
		}
	}
	for _, v := range run.violations {
		t.Error(v)
	}
}

// diffLogs describes the first difference of two logs, or returns "".
func diffLogs(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("event %d is %q, want %q", i, g, w)
		}
	}
	return ""
}
