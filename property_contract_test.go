package weft_test

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// The randomized, model-based test of the Transport contract: each run
// drives one connection (net.Pipe, loopback TCP and unix sockets on the
// goroutine engine and on the readiness engine; the "fd-" transports make
// it with weft.NewConnFD on the socket's descriptor and run it with
// Conn.Start, as the server package does on Linux; the "tls-" transports
// switch to TLS at a random point, the peer's ClientHello sometimes
// pipelined right behind its clear text, see property_tls_test.go) with a
// random sequence of operations made from the callbacks (ConnectionMade,
// DataReceived, ReadConnectionLost, posted functions, a producer's turns)
// and from other goroutines at once, against a peer that sends a random
// stream in random chunks and reads at random speeds, stalling now and
// then. Some runs set Options.IdleTimeout or Options.CloseTimeout (tens of
// milliseconds), and some end with no one closing (the idle timer must)
// or with a peer that stopped reading under a graceful close (the close
// timer must), see property_timeouts_test.go. An oracle then
// checks what the documentation promises (see propRun.check): callbacks
// never concurrent, ConnectionMade once, DataReceived a prefix of the
// peer's stream (all of it after its clean end), ConnectionLost once and
// last, with a reason that matches what happened (nil, ErrAborted,
// ErrSlowConsumer, LoseConnectionWithReason's, a network error only after
// the peer's close, ErrIdleTimeout and ErrCloseTimeout only with their
// option and not before their time, see property_timeouts_test.go); the
// peer's bytes whole records of successful writes,
// in an order that respects the writes' real-time order, all of them after
// a graceful close; ErrClosed for writes after a close; no delivery while
// reading is certainly paused; posted work run before the close and never
// after ConnectionLost; producers stopped once; Counters consistent and
// frozen once Serve returned; no descriptor leak (goleak, in TestMain,
// for the goroutines).
//
// Reproduce a failure with its subtest, for example
//
//	go test -race -count=1 -run 'TestPropertyContract/epoll/seed=17$' .
//
// or with WEFT_PROP_SEED=17 (that seed only, on every transport). The seeds
// are 1..N by default (N: WEFT_PROP_RUNS, 60, or 12 under -short; by
// default the transports marked with a share run one seed in share, to
// keep the run short — with WEFT_PROP_RUNS set, all of them run);
// WEFT_PROP_BASE moves the first one ("time" picks it from the clock, for
// a hunt). The timeouts run in real time: a seed that fails once may pass
// the next time (run it a few times, or with -count).
const (
	propEnv     = "WEFT_PROP" // testenv.Seeds' prefix
	propSeedEnv = propEnv + "_SEED"
	propRunsEnv = propEnv + "_RUNS"
)

var propTransports = []struct {
	name string
	pair func(t *testing.T) (server, client net.Conn)
	// tls: the run switches to TLS at a random point (StartTLS, see
	// property_tls_test.go); share: the transport runs one seed in share
	// (1: all of them), to keep the default run short; fd: the connection
	// is made with weft.NewConnFD on a duplicate of the server socket's
	// descriptor and run with Conn.Start (the server package's descriptor
	// path, Linux), not with Serve over the net.Conn.
	tls   bool
	share int
	fd    bool
}{
	{"pipe", func(t *testing.T) (net.Conn, net.Conn) { return net.Pipe() }, false, 1, false},
	{"tcp", func(t *testing.T) (net.Conn, net.Conn) { return dialPair(t, nil, nil, "tcp", "127.0.0.1:0") }, false, 1, false},
	{"epoll", propEnginePair, false, 1, false},
	{"fd-epoll", propEnginePair, false, 4, true},
	{"unix", propUnixPair, false, 3, false},
	{"unix-epoll", propEngineUnixPair, false, 3, false},
	{"fd-unix-epoll", propEngineUnixPair, false, 6, true},
	{"tls-pipe", func(t *testing.T) (net.Conn, net.Conn) { return net.Pipe() }, true, 3, false},
	{"tls-tcp", func(t *testing.T) (net.Conn, net.Conn) { return dialPair(t, nil, nil, "tcp", "127.0.0.1:0") }, true, 2, false},
	{"tls-epoll", propEnginePair, true, 1, false},
	{"tls-fd-epoll", propEnginePair, true, 6, true},
	{"tls-unix-epoll", propEngineUnixPair, true, 3, false},
}

func propEnginePair(t *testing.T) (net.Conn, net.Conn) {
	s, c := dialPair(t, nil, nil, "tcp", "127.0.0.1:0")
	return engineConn{s.(*net.TCPConn)}, c
}

// propUnixPair is a pair of unix sockets; the listener's file is gone once
// the pair is made.
func propUnixPair(t *testing.T) (net.Conn, net.Conn) {
	dir, err := os.MkdirTemp("", "weftprop")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	return dialPair(t, nil, nil, "unix", dir+"/s")
}

func propEngineUnixPair(t *testing.T) (net.Conn, net.Conn) {
	s, c := propUnixPair(t)
	return engineUnix{s.(*net.UnixConn)}, c
}

// pipeLike reports whether the transport runs over net.Pipe (no half-close,
// no socket buffers).
func pipeLike(transport string) bool { return strings.HasSuffix(transport, "pipe") }

// TestPropertyContract runs random operation sequences against the
// documented Transport contract on every transport (see the file comment).
func TestPropertyContract(t *testing.T) {
	seeds := testenv.Seeds(t, propEnv, 60, 12)
	srvTLS, cliTLS := testenv.TLSConfigs(t)
	for _, tr := range propTransports {
		t.Run(tr.name, func(t *testing.T) {
			if strings.HasSuffix(tr.name, "epoll") && testEngine == nil || tr.fd && !propHaveFD {
				t.Skip("no readiness engine (or no NewConnFD) on this platform")
			}
			failed := 0
			stats := map[string]int{}
			runs := 0
			defer func() { t.Logf("%d runs, what they saw: %v", runs, stats) }()
			for i, seed := range seeds {
				if len(seeds) > 1 && os.Getenv(propRunsEnv) == "" && i%tr.share != 0 {
					continue
				}
				runs++
				ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
					var tc *propTLSConfigs
					if tr.tls {
						tc = &propTLSConfigs{srvTLS, cliTLS}
					}
					runProperty(t, tr.name, tr.pair, tr.fd, tc, seed, stats)
				})
				if !ok {
					// The seed env var, not a -run pattern alone: without it
					// the seeds are the default ones, which may not hold it.
					t.Logf("reproduce: %s=%d go test -race -count=1 -run 'TestPropertyContract$/%s$' .",
						propSeedEnv, seed, tr.name)
					if failed++; failed == 3 {
						t.Fatalf("stopping after %d failed seeds", failed)
					}
				}
			}
		})
	}
}

// Operations.
const (
	opWrite = iota
	opWriteBuffers
	opWriteParts
	opPause
	opResume
	opRegister
	opUnregister
	opPost
	opBuffered
	// closing operations
	opLose
	opLoseReason
	opAbort
	opLoseWrite
)

// Close causes, as the oracle sees them.
const (
	causeLose = iota
	causeLoseReason
	causeAbort
	causeLoseWrite // LoseWriteConnection that returned nil
	causeSlow      // a write that returned ErrSlowConsumer
	causePeerHalf  // the peer's CloseWrite
	causePeerClose // the peer's Close before it read the end of stream
)

var causeNames = [...]string{"LoseConnection", "LoseConnectionWithReason", "Abort", "LoseWriteConnection", "ErrSlowConsumer write", "peer CloseWrite", "peer Close"}

// Peer plans.
const (
	peerNothing = iota // sends its stream, reads to the end, then closes
	peerHalf           // sends its stream, then CloseWrite
	peerEarly          // closes at a random moment
)

// Final actions of the driver, once its goroutines are done.
const (
	finalNone = iota
	finalLose
	finalLoseReason
	finalAbort
	finalLoseWrite
	// finalIdle: nothing; the connection, which no one closes, must end
	// with ErrIdleTimeout (see property_timeouts_test.go).
	finalIdle
	// finalStalled: the peer stops reading, the driver writes more than
	// the sockets hold, then closes gracefully: with CloseTimeout set,
	// the close must be cut with ErrCloseTimeout.
	finalStalled
)

type propConfig struct {
	halfCloseable          bool
	maxWB, high, low       int // Options (0: the default)
	readSize               int
	goroutines, opsPerG    int
	pClose                 float64 // chance that an operation closes
	maxWrite               int
	peerLen                int
	peerPlan               int
	earlyAfter             time.Duration
	final                  int
	stallP                 float64
	producerBudget, prodCh int
	settle                 time.Duration // before the final action
	sockBuf                int           // the server's SO_SNDBUF (0: the system's)
	idle, closeTO          time.Duration // Options.IdleTimeout, CloseTimeout (property_timeouts_test.go)
}

func (c propConfig) String() string {
	return fmt.Sprintf("halfCloseable=%v MaxWriteBuffer=%d HighWater=%d LowWater=%d ReadBufferSize=%d goroutines=%d×%d ops pClose=%.2f maxWrite=%d peerLen=%d peerPlan=%d earlyAfter=%v final=%d stall=%.2f producer=%d/%d settle=%v sockBuf=%d IdleTimeout=%v CloseTimeout=%v",
		c.halfCloseable, c.maxWB, c.high, c.low, c.readSize, c.goroutines, c.opsPerG, c.pClose, c.maxWrite,
		c.peerLen, c.peerPlan, c.earlyAfter, c.final, c.stallP, c.producerBudget, c.prodCh, c.settle, c.sockBuf, c.idle, c.closeTO)
}

func randomConfig(rng *rand.Rand, transport string) propConfig {
	var c propConfig
	c.halfCloseable = rng.IntN(3) == 0
	switch rng.IntN(4) {
	case 0: // defaults
	case 1:
		c.maxWB = 4<<10 + rng.IntN(60<<10)
		c.high = 1 + rng.IntN(c.maxWB) // LowWater: the default, HighWater/4
	case 2:
		c.maxWB = 16<<10 + rng.IntN(256<<10)
		c.high = 1 + rng.IntN(c.maxWB)
		c.low = rng.IntN(c.high + 1)
	case 3:
		c.high = 1 + rng.IntN(64<<10)
		c.maxWB = c.high // full at the mark
	}
	if rng.IntN(2) == 0 {
		c.readSize = 1 + rng.IntN(4096)
	}
	c.goroutines = rng.IntN(4)
	c.opsPerG = 5 + rng.IntN(100)
	c.pClose = [...]float64{0, 0.005, 0.02, 0.06}[rng.IntN(4)]
	c.maxWrite = [...]int{64, 2048, 16 << 10, 96 << 10}[rng.IntN(4)]
	c.peerLen = [...]int{0, 100, 8 << 10, 128 << 10}[rng.IntN(4)] + rng.IntN(1000)
	c.peerPlan = rng.IntN(3)
	if c.halfCloseable && rng.IntN(2) == 0 {
		c.peerPlan = peerHalf
		c.pClose /= 4
	}
	if pipeLike(transport) && c.peerPlan == peerHalf {
		c.peerPlan = peerNothing // a pipe cannot half-close
	}
	if c.peerPlan == peerEarly && rng.IntN(2) == 0 {
		c.peerPlan = peerNothing // rarer: most runs end on the server's side
	}
	c.earlyAfter = time.Duration(rng.IntN(40_000)) * time.Microsecond
	c.final = rng.IntN(5)
	if c.peerPlan == peerHalf && rng.IntN(2) == 0 {
		c.final = finalNone // the peer's end closes (or ReadConnectionLost does)
	}
	c.settle = time.Duration(rng.IntN(20_000)) * time.Microsecond
	if !pipeLike(transport) && rng.IntN(2) == 0 {
		c.sockBuf = 1 << (10 + rng.IntN(7)) // 1..64 KiB: partial writes, parked output
	}
	if pipeLike(transport) && c.final == finalLoseWrite {
		c.final = finalLose
	}
	if c.final == finalNone && c.peerPlan == peerNothing {
		c.final = finalLose // someone must end the connection
	}
	if pipeLike(transport) && c.final == finalNone && c.peerPlan != peerEarly {
		c.final = finalLose
	}
	c.stallP = [...]float64{0, 0.02, 0.2}[rng.IntN(3)]
	if rng.IntN(2) == 0 {
		c.producerBudget = rng.IntN(256 << 10)
		c.prodCh = 1 + rng.IntN(16<<10)
	}
	return c
}

// A write as the oracle knows it.
type writeRec struct {
	w      int
	seq    uint32
	n      int // record length
	s, e   int64
	err    error
	ret    int
	kind   int
	cbCtx  bool
	inSeen bool      // found in the peer's stream
	inTLS  bool      // and over TLS (the StartTLS variant)
	ws     time.Time // when the write began (wall clock, for the timeouts' floors)
}

type interval struct {
	s, e int64
	who  int // writer id, -1 for a callback
}

type cause struct {
	kind int
	s, e int64
	err  error     // LoseConnectionWithReason's reason
	ws   time.Time // when it began (wall clock; zero for LoseWriteConnection's results)
}

type postRec struct {
	s, e int64
	we   time.Time // when Post returned (wall clock)
	ran  atomic.Bool
}

type delivery struct{ d, lastLeave int64 }

// actor is who performs operations: a goroutine, or (w == 0) the
// callbacks, which are serialized.
type actor struct {
	w   int
	rng *rand.Rand
	seq uint32
	log []*writeRec
}

type propRun struct {
	t      *testing.T
	cfg    propConfig
	name   string
	clock  atomic.Int64
	tr     weft.Transport
	closer weft.ReasonCloser
	poster weft.Poster
	reason error // given to LoseConnectionWithReason
	trCh   chan weft.Transport
	// counters: the connection's; served is their value when Serve
	// returned (they must not change after).
	counters weft.Counters
	served   [4]int64
	driver   *actor

	finishing atomic.Bool
	lost      atomic.Bool
	failMu    sync.Mutex
	fails     []string

	// callback side (serialized)
	inCall    atomic.Int32
	overlaps  atomic.Int32
	made      int
	nLost     int
	rcl       int
	rclAt     int64 // r.now() when ReadConnectionLost was called (MaxInt64: never)
	afterRCL  int
	received  []byte
	lastLeave int64
	delivs    []delivery
	lostStamp atomic.Int64
	lostWhy   error
	cb        *actor
	actors    []*actor
	maxLen    atomic.Int64 // longest write attempted

	mu        sync.Mutex // guards the logs below
	causes    []cause
	pauses    []interval
	resumes   []interval
	posts     []*postRec
	producers []*propProducer
	regs      []interval // RegisterProducer and UnregisterProducer calls, who = producer id or -1
	lwcErrs   []cause    // LoseWriteConnection results (err), with stamps

	// peer
	stream     []byte
	peerMu     sync.Mutex
	peerGot    []byte
	peerErr    error
	peerDone   bool
	peerEarly  bool
	peerHalfed bool
	peerClosed bool
	peerConn   net.Conn

	tls *propTLS // the StartTLS variant (nil: none)

	// The timeouts (property_timeouts_test.go).
	serveWall  time.Time     // before Serve (or Start) was called
	lostWall   time.Time     // when ConnectionLost was called
	lostCh     chan struct{} // closed in ConnectionLost
	peerStop   chan struct{} // finalStalled: closed when the peer's reader must stop
	peerGo     chan struct{} // finalStalled: closed when the stall gave up before its close (the peer reads on)
	peerChunks []peerChunk   // the peer's writes, in order (its writer's)
	stallRec   *writeRec     // finalStalled: the write that the stopped peer leaves pending
	extraIn    int           // bytes delivered that are not the peer's stream (pipelined TLS bytes)
}

// allActors are every writer of the run.
func (r *propRun) allActors() []*actor {
	all := append([]*actor{r.cb, r.driver}, r.actors...)
	if r.tls != nil {
		all = append(all, r.tls.actor)
	}
	return all
}

func (r *propRun) failf(format string, args ...any) {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	if len(r.fails) < 20 {
		r.fails = append(r.fails, fmt.Sprintf(format, args...))
	}
}

func (r *propRun) now() int64 { return r.clock.Add(1) }

func (r *propRun) enter(what string) {
	if r.inCall.Add(1) != 1 {
		r.overlaps.Add(1)
		r.failf("%s ran concurrently with another callback", what)
	}
	if r.lost.Load() {
		r.failf("%s after ConnectionLost", what)
	}
}

func (r *propRun) leave() {
	r.lastLeave = r.now()
	r.inCall.Add(-1)
}

func (r *propRun) addCause(c cause) {
	r.mu.Lock()
	r.causes = append(r.causes, c)
	r.mu.Unlock()
}

// The Protocol.

type propProto struct{ r *propRun }

type propHalfProto struct{ propProto }

func (p *propProto) ConnectionMade(t weft.Transport) {
	r := p.r
	r.enter("ConnectionMade")
	defer r.leave()
	r.made++
	if r.made != 1 {
		r.failf("ConnectionMade called %d times", r.made)
	}
	r.tr = t
	r.closer, _ = t.(weft.ReasonCloser)
	r.poster, _ = t.(weft.Poster)
	if r.closer == nil || r.poster == nil {
		r.failf("the runtime's Transport is not a ReasonCloser and a Poster")
	}
	r.trCh <- t // the other goroutines start
	for range r.cb.rng.IntN(4) {
		r.op(r.cb, 0)
	}
	if r.cfg.producerBudget > 0 {
		r.register(r.cb)
	}
	r.maybeArmTLS()
}

func (p *propProto) DataReceived(data []byte) {
	r := p.r
	r.enter("DataReceived")
	d := r.now()
	r.delivs = append(r.delivs, delivery{d, r.lastLeave})
	defer r.leave()
	if r.made != 1 {
		r.failf("DataReceived before ConnectionMade")
	}
	if r.rcl > 0 {
		r.afterRCL++
	}
	if len(data) == 0 {
		r.failf("DataReceived with no bytes")
	}
	if rs := r.cfg.readSize; rs > 0 && len(data) > rs {
		r.failf("DataReceived with %d bytes, ReadBufferSize %d", len(data), rs)
	}
	r.receive(data)
	r.maybeArmTLS()
	if r.cb.rng.IntN(3) == 0 {
		r.op(r.cb, 0)
	}
}

func (p *propHalfProto) ReadConnectionLost() {
	r := p.r
	r.enter("ReadConnectionLost")
	defer r.leave()
	r.rcl++
	if r.rcl != 1 {
		r.failf("ReadConnectionLost called %d times", r.rcl)
	}
	r.rclAt = r.now()
	half, closed := r.peerEndedNow()
	switch {
	case !half && !closed:
		r.failf("ReadConnectionLost but the peer did not end its stream")
	case half && !r.pipeFailed() && string(r.received) != string(r.stream):
		r.failf("ReadConnectionLost after %d of the %d bytes the peer sent", len(r.received), len(r.stream))
	}
	for range r.cb.rng.IntN(3) {
		r.write(r.cb, opWrite)
	}
	// End the connection, now or from a posted function.
	end := func() {
		switch r.cb.rng.IntN(4) {
		case 0:
			r.closeOp(r.cb, opLose)
		case 1:
			r.closeOp(r.cb, opLoseWrite) // after the peer's end: LoseConnection
		case 2:
			r.closeOp(r.cb, opLoseReason)
		case 3:
			r.closeOp(r.cb, opAbort)
		}
	}
	if r.cb.rng.IntN(2) == 0 {
		end()
	} else {
		r.post(func() { end() })
	}
}

func (p *propProto) ConnectionLost(reason error) {
	r := p.r
	r.enter("ConnectionLost")
	r.lostStamp.Store(r.now())
	r.lostWall = time.Now()
	r.nLost++
	if r.nLost == 1 {
		close(r.lostCh)
	}
	r.lostWhy = reason
	if r.nLost != 1 {
		r.failf("ConnectionLost called %d times", r.nLost)
	}
	if r.tr != nil && r.tr.Context().Err() == nil {
		r.failf("Context not done when ConnectionLost is called")
	}
	if r.tr != nil {
		if _, err := r.tr.Write([]byte("x")); !errors.Is(err, weft.ErrClosed) {
			r.failf("Write in ConnectionLost = %v, want ErrClosed", err)
		}
		r.poster.Post(func() { r.failf("work posted from ConnectionLost ran") })
	}
	r.inCall.Add(-1)
	r.lost.Store(true)
}

// peerEndedNow reports whether the peer ended its stream with CloseWrite
// (after all of it) or closed its socket.
func (r *propRun) peerEndedNow() (half, closed bool) {
	r.peerMu.Lock()
	defer r.peerMu.Unlock()
	return r.peerHalfed, r.peerClosed
}

// The producer: writes a chunk per posted turn, one turn at a time, while
// it is not paused.
type propProducer struct {
	r         *propRun
	id        int
	paused    bool
	pending   bool
	budget    int
	stops     atomic.Int32
	afterStop atomic.Int32
}

func (p *propProducer) PauseProducing() {
	p.r.enter("PauseProducing")
	defer p.r.leave()
	if p.stops.Load() > 0 {
		p.afterStop.Add(1)
	}
	p.paused = true
}

func (p *propProducer) ResumeProducing() {
	p.r.enter("ResumeProducing")
	defer p.r.leave()
	if p.stops.Load() > 0 {
		p.afterStop.Add(1)
	}
	p.paused = false
	p.kick()
}

func (p *propProducer) StopProducing() {
	// Also called at once, on the caller's goroutine, by a RegisterProducer
	// on a lost connection: after ConnectionLost, with no callback left.
	if p.r.inCall.Add(1) != 1 {
		p.r.failf("StopProducing ran concurrently with a callback")
	}
	p.stops.Add(1)
	p.r.inCall.Add(-1)
}

// driverWrites reports whether the driver may be writing from its own
// goroutine: the end of a finalStalled run (stall), which begins once
// finishing is set.
func (r *propRun) driverWrites() bool {
	return r.cfg.final == finalStalled && r.finishing.Load()
}

func (p *propProducer) kick() {
	if !p.pending && !p.paused && p.budget > 0 && p.stops.Load() == 0 {
		p.pending = true
		p.r.post(p.turn)
	}
}

func (p *propProducer) turn() {
	p.pending = false
	if p.paused || p.budget <= 0 || p.stops.Load() > 0 {
		return
	}
	n := min(p.budget, p.r.cfg.prodCh)
	p.budget -= n
	p.r.writeN(p.r.cb, opWrite, max(n, recHdr))
	p.kick()
}

// Operations.

func (r *propRun) pick(a *actor) int {
	if a.rng.Float64() < r.cfg.pClose {
		return opLose + a.rng.IntN(4)
	}
	x := a.rng.IntN(100)
	switch {
	case x < 25:
		return opWrite
	case x < 37:
		return opWriteBuffers
	case x < 50:
		return opWriteParts
	case x < 58:
		return opPause
	case x < 68:
		return opResume
	case x < 73:
		return opRegister
	case x < 76:
		return opUnregister
	case x < 92:
		return opPost
	}
	return opBuffered
}

// op performs one random operation as a.
func (r *propRun) op(a *actor, depth int) {
	switch o := r.pick(a); o {
	case opWrite, opWriteBuffers, opWriteParts:
		r.write(a, o)
	case opPause:
		if r.finishing.Load() {
			r.resume(a)
			return
		}
		s := r.now()
		r.tr.PauseReading()
		e := r.now()
		r.mu.Lock()
		r.pauses = append(r.pauses, interval{s, e, a.w})
		r.mu.Unlock()
	case opResume:
		r.resume(a)
	case opRegister:
		r.register(a)
	case opUnregister:
		s := r.now()
		r.tr.UnregisterProducer()
		e := r.now()
		r.mu.Lock()
		r.regs = append(r.regs, interval{s, e, -1})
		r.mu.Unlock()
	case opPost:
		if depth < 3 {
			r.post(func() { r.op(r.cb, depth+1) })
		} else {
			r.post(func() {})
		}
	case opBuffered:
		if room := r.tr.(weft.WriteRoomer).WriteRoom(); a.w == 0 && r.cfg.goroutines == 0 && !r.markerPending() && !r.driverWrites() && room > recHdr {
			// The callbacks are the only writers: a Write that fits the
			// room left is taken (the flush only makes more). Not while
			// the StartTLS variant's marker may still be written from a
			// goroutine of its own, nor once the driver's finalStalled
			// writes may have begun (seed 709861891889 on unix: the
			// driver filled the buffer between a callback's WriteRoom
			// and its Write).
			wr := r.writeN(a, opWrite, min(room, recHdr+a.rng.IntN(4*r.cfg.maxWrite)))
			if errors.Is(wr.err, weft.ErrSlowConsumer) {
				r.failf("Write of %d bytes after WriteRoom() = %d returned ErrSlowConsumer", wr.n, room)
			}
		}
		b := r.tr.Buffered()
		lim := max(r.maxWB(), int(r.maxLen.Load()))
		if b < 0 || b > lim {
			r.failf("Buffered() = %d, beyond the larger of MaxWriteBuffer and the longest write (%d)", b, lim)
		}
	default:
		r.closeOp(a, o)
	}
}

func (r *propRun) resume(a *actor) {
	s := r.now()
	r.tr.ResumeReading()
	e := r.now()
	r.mu.Lock()
	r.resumes = append(r.resumes, interval{s, e, a.w})
	r.mu.Unlock()
}

func (r *propRun) register(a *actor) {
	r.mu.Lock()
	p := &propProducer{r: r, id: len(r.producers), budget: r.cfg.producerBudget}
	r.producers = append(r.producers, p)
	r.mu.Unlock()
	s := r.now()
	r.tr.RegisterProducer(p)
	e := r.now()
	r.mu.Lock()
	r.regs = append(r.regs, interval{s, e, p.id})
	r.mu.Unlock()
	// Its first turn, posted after any pause RegisterProducer posted.
	r.post(p.kick)
}

// post posts fn (wrapped: it checks it runs as a callback) and logs it.
func (r *propRun) post(fn func()) {
	pr := &postRec{}
	r.mu.Lock()
	r.posts = append(r.posts, pr)
	r.mu.Unlock()
	pr.s = r.now()
	r.poster.Post(func() {
		r.enter("posted function")
		defer r.leave()
		pr.ran.Store(true)
		fn()
	})
	pr.e = r.now()
	pr.we = time.Now()
}

func (r *propRun) maxWB() int {
	if r.cfg.maxWB > 0 {
		return r.cfg.maxWB
	}
	return max(weft.DefaultMaxWriteBuffer, r.cfg.high)
}

func (r *propRun) write(a *actor, kind int) {
	n := recHdr + a.rng.IntN(r.cfg.maxWrite)
	if a.rng.IntN(50) == 0 {
		n = recHdr + a.rng.IntN(2*r.maxWB()) // past MaxWriteBuffer at once
	}
	r.writeN(a, kind, n)
}

// writeN writes one record of n bytes as a.
func (r *propRun) writeN(a *actor, kind, n int) *writeRec {
	for {
		if m := r.maxLen.Load(); int64(n) <= m || r.maxLen.CompareAndSwap(m, int64(n)) {
			break
		}
	}
	rec := makeRecord(a.w, a.seq, n)
	wr := &writeRec{w: a.w, seq: a.seq, n: n, kind: kind, cbCtx: a.w == 0}
	a.seq++
	a.log = append(a.log, wr)
	wr.s = r.now()
	start := time.Now()
	wr.ws = start
	switch kind {
	case opWrite:
		wr.ret, wr.err = r.tr.Write(rec)
	case opWriteBuffers:
		var bufs [][]byte
		for rest := rec; len(rest) > 0; {
			k := 1 + a.rng.IntN(len(rest))
			if a.rng.IntN(4) == 0 {
				bufs = append(bufs, nil)
			}
			bufs = append(bufs, rest[:k])
			rest = rest[k:]
		}
		wr.err = r.tr.WriteBuffers(bufs...)
	case opWriteParts:
		i := a.rng.IntN(len(rec) + 1)
		j := i + a.rng.IntN(len(rec)-i+1)
		wr.err = weft.WriteParts(r.tr, rec[:i], rec[i:j], rec[j:])
	}
	wr.e = r.now()
	if d := time.Since(start); d > 2*time.Second {
		// Write never waits for the peer (which stalls for 30 ms at most).
		r.failf("write %d/%d of %d bytes took %v", wr.w, wr.seq, n, d)
	}
	if errors.Is(wr.err, weft.ErrSlowConsumer) {
		r.addCause(cause{kind: causeSlow, s: wr.s, e: wr.e, ws: wr.ws})
	}
	return wr
}

func (r *propRun) closeOp(a *actor, o int) {
	s := r.now()
	ws := time.Now()
	switch o {
	case opLose:
		r.tr.LoseConnection()
		r.addCause(cause{kind: causeLose, s: s, e: r.now(), ws: ws})
	case opLoseReason:
		weft.LoseConnectionWithReason(r.tr, r.reason)
		r.addCause(cause{kind: causeLoseReason, s: s, e: r.now(), err: r.reason, ws: ws})
	case opAbort:
		r.tr.Abort()
		r.addCause(cause{kind: causeAbort, s: s, e: r.now(), ws: ws})
	case opLoseWrite:
		err := weft.LoseWriteConnection(r.tr)
		e := r.now()
		r.mu.Lock()
		r.lwcErrs = append(r.lwcErrs, cause{kind: causeLoseWrite, s: s, e: e, err: err})
		r.mu.Unlock()
		if err == nil {
			r.addCause(cause{kind: causeLoseWrite, s: s, e: e, ws: ws})
		}
	}
}

// Records: a header (magic, writer, sequence number, length, magic), then
// bytes that depend on all of them and on their offset, so that a record
// cut, mixed with another or shifted is seen.
const recHdr = 11

func recByte(w int, seq uint32, i int) byte { return byte(w*37 + int(seq)*11 + i*7 + i>>8) }

func makeRecord(w int, seq uint32, n int) []byte {
	b := make([]byte, n)
	b[0] = 0xA5
	b[1] = byte(w)
	binary.BigEndian.PutUint32(b[2:], seq)
	binary.BigEndian.PutUint32(b[6:], uint32(n))
	b[10] = 0x5A
	for i := recHdr; i < n; i++ {
		b[i] = recByte(w, seq, i)
	}
	return b
}

func peerByte(seed uint64, i int) byte { return byte(uint64(i)*131 + seed + uint64(i>>9)) }

// runProperty is one run.
func runProperty(t *testing.T, transport string, pair func(*testing.T) (net.Conn, net.Conn), fd bool, tlsc *propTLSConfigs, seed uint64, stats map[string]int) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	cfg := randomConfig(rng, transport)
	r := &propRun{t: t, cfg: cfg, name: transport, reason: fmt.Errorf("prop reason %d", seed), trCh: make(chan weft.Transport, 1),
		lostCh: make(chan struct{}), peerStop: make(chan struct{}), peerGo: make(chan struct{}), rclAt: math.MaxInt64}
	r.cb = &actor{w: 0, rng: rand.New(rand.NewPCG(rng.Uint64(), 1))}
	r.stream = make([]byte, cfg.peerLen)
	for i := range r.stream {
		r.stream[i] = peerByte(seed, i)
	}
	if tlsc != nil {
		r.initTLS(rand.New(rand.NewPCG(rng.Uint64(), 9)), tlsc)
		cfg = r.cfg
	}
	// The timeouts (and pipelined TLS) are drawn from a stream of their
	// own: the draws above are those seeds had before these were added.
	r.drawTimeouts(rand.New(rand.NewPCG(seed, 0x71e0c10e)))
	cfg = r.cfg
	fdsBefore := propFDs()

	s, c := pair(t)
	r.peerConn = c
	if cfg.sockBuf > 0 {
		// The server's send buffer small: partial writes, parked output.
		// The peer's receive buffer stays above loopback's MSS (64 KiB):
		// below it the peer's window updates wait for the sender's zero
		// window probes, which back off to seconds.
		type bufferer interface {
			SetWriteBuffer(int) error
			SetReadBuffer(int) error
		}
		s.(bufferer).SetWriteBuffer(cfg.sockBuf)
		c.(bufferer).SetReadBuffer(128 << 10)
	}
	opts := &weft.Options{MaxWriteBuffer: cfg.maxWB, HighWater: cfg.high, LowWater: cfg.low, ReadBufferSize: cfg.readSize,
		Counters: &r.counters, IdleTimeout: cfg.idle, CloseTimeout: cfg.closeTO}
	opts = withEngine(s, opts)
	var proto weft.Protocol = &propProto{r}
	if cfg.halfCloseable {
		proto = &propHalfProto{propProto{r}}
	}
	// The goroutines' actors are made before Serve: ConnectionMade may
	// already use r.actors' length (none does, but keep it simple).
	for g := 1; g <= cfg.goroutines; g++ {
		r.actors = append(r.actors, &actor{w: g, rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(g)))})
	}
	driver := &actor{w: cfg.goroutines + 1, rng: rand.New(rand.NewPCG(rng.Uint64(), 99))}
	r.driver = driver
	peerRng := rand.New(rand.NewPCG(rng.Uint64(), 7))
	readRng := rand.New(rand.NewPCG(rng.Uint64(), 8))

	serveDone := make(chan error, 1)
	r.serveWall = time.Now()
	if fd {
		propStartFD(t, s, proto, opts, serveDone) // closes s (the Conn has a duplicate)
	} else {
		go func() { serveDone <- weft.Serve(s, proto, opts) }()
	}

	var peerWG sync.WaitGroup
	writerDone := make(chan struct{})
	peerWG.Add(2)
	go func() { // the peer's writer
		defer peerWG.Done()
		defer close(writerDone)
		r.peerWrite(peerRng)
	}()
	go func() { // the peer's reader
		defer peerWG.Done()
		if r.tls != nil {
			r.peerReadTLS(readRng, writerDone)
		} else {
			r.peerRead(readRng, writerDone)
		}
	}()
	var tlsWG sync.WaitGroup
	if r.tls != nil && r.tls.how == tlsFromGoroutine {
		tlsWG.Add(1)
		go func() {
			defer tlsWG.Done()
			r.tlsGoroutine()
		}()
	}
	if cfg.peerPlan == peerEarly {
		peerWG.Add(1)
		go func() {
			defer peerWG.Done()
			if r.tls != nil && r.tls.cutAfterTLS {
				<-r.tls.peerReady // cut the TLS stream, not the clear text
				time.Sleep(cfg.earlyAfter / 8)
			} else {
				time.Sleep(cfg.earlyAfter)
			}
			r.peerClose()
		}()
	}

	// Wait for ConnectionMade: the goroutines need the Transport.
	var tr weft.Transport
	select {
	case tr = <-r.trCh:
	case err := <-serveDone:
		select {
		case tr = <-r.trCh: // made, and already over
			serveDone <- err
		default:
			t.Fatalf("seed %d: Serve returned %v before ConnectionMade (%v); failures: %q", seed, err, cfg, r.fails)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("seed %d: ConnectionMade not called within 10 s (%v)", seed, cfg)
	}

	var wg sync.WaitGroup
	for _, a := range r.actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range cfg.opsPerG {
				if r.lost.Load() {
					return
				}
				r.op(a, 0)
				switch a.rng.IntN(8) {
				case 0:
					time.Sleep(time.Duration(a.rng.IntN(300)) * time.Microsecond)
				case 1, 2:
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()

	// The end: reading resumes for good, the connection runs on its own
	// for a while, then the final action.
	r.finishing.Store(true)
	r.resume(driver)
	// A callback (or posted function) that read finishing before it was
	// set may still pause: wait for a posted function, which runs after
	// it, then resume for good; from then on every pause is a resume. Not
	// waiting (seed 465178588198 on unix-epoll, stop 36: a callback's
	// PauseReading came after both resumes, so the peer's end of stream
	// was never read and the connection never ended) left reading paused.
	after := make(chan struct{})
	r.post(func() { close(after) })
	select {
	case <-after:
	case <-r.lostCh: // ended: posted work is dropped
	case <-time.After(10 * time.Second):
	}
	r.resume(driver)
	time.Sleep(cfg.settle)
	switch cfg.final {
	case finalLose:
		r.closeOp(driver, opLose)
	case finalLoseReason:
		r.closeOp(driver, opLoseReason)
	case finalAbort:
		r.closeOp(driver, opAbort)
	case finalLoseWrite:
		r.closeOp(driver, opLoseWrite)
	case finalStalled:
		r.stall(driver)
	}

	var serveErr error
	select {
	case serveErr = <-serveDone:
	case <-time.After(20 * time.Second):
		r.peerMu.Lock()
		got, perr := len(r.peerGot), r.peerErr
		r.peerMu.Unlock()
		t.Logf("the connection: %s", weft.DebugState(tr))
		t.Logf("goroutines in weft:\n%s", weftStacks())
		t.Fatalf("seed %d: the connection did not end within 20 s (%v); lost=%v buffered=%d peer read %d bytes (%v); failures so far: %q",
			seed, cfg, r.lost.Load(), tr.Buffered(), got, perr, r.fails)
	}

	r.served = counterValues(&r.counters)
	if r.tls != nil {
		close(r.tls.stop)
		tlsWG.Wait()
	}

	// After the end: writes fail with ErrClosed, nothing panics, posted
	// work is dropped, a producer is stopped at once.
	for k := range 3 {
		r.writeN(driver, opWrite+k, recHdr+driver.rng.IntN(100))
	}
	if err := weft.LoseWriteConnection(tr); !errors.Is(err, weft.ErrClosed) && !errors.Is(err, weft.ErrNotSupported) {
		r.failf("LoseWriteConnection after ConnectionLost = %v, want ErrClosed", err)
	}
	tr.PauseReading()
	tr.ResumeReading()
	tr.LoseConnection()
	tr.Abort()
	weft.LoseConnectionWithReason(tr, errors.New("late"))
	late := &propProducer{r: r, id: -1}
	tr.RegisterProducer(late)
	if late.stops.Load() != 1 {
		r.failf("RegisterProducer after ConnectionLost: StopProducing called %d times, want 1 (at once)", late.stops.Load())
	}
	tr.UnregisterProducer()
	var lateRan atomic.Bool
	r.poster.Post(func() { lateRan.Store(true) })
	if tr.Context().Err() == nil {
		r.failf("Context not done after ConnectionLost")
	}

	// The peer ends: it reads to the end of stream (or its error), and
	// its writer stops once the connection is gone.
	peerEnd := make(chan struct{})
	go func() { peerWG.Wait(); close(peerEnd) }()
	select {
	case <-peerEnd:
	case <-time.After(20 * time.Second):
		c.Close()
		<-peerEnd
		r.failf("the peer did not see the end of the connection within 20 s")
	}
	c.Close()
	s.Close() // the test's copy (the engine took a duplicate); closed already otherwise
	if lateRan.Load() {
		r.failf("work posted after ConnectionLost ran")
	}

	r.check(serveErr)
	r.count(stats)

	if fdsBefore >= 0 {
		end := time.Now().Add(2 * time.Second)
		for {
			n := propFDs()
			if n <= fdsBefore {
				break
			}
			if time.Now().After(end) {
				r.failf("descriptor leak: %d open before the run, %d after", fdsBefore, n)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if len(r.fails) > 0 {
		t.Errorf("seed %d on %s (%v), ConnectionLost(%v):\n\t%s", seed, transport, cfg, r.lostWhy, strings.Join(r.fails, "\n\t"))
	}
}

func propFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// The peer.

func (r *propRun) peerWrite(rng *rand.Rand) {
	var c io.Writer = r.peerConn
	switchAt := -1 // the TLS variant: where the peer waits for the switch
	pipeAt := -1   // pipelined TLS: where the clear text's tail begins
	var tc *tls.Conn
	if r.tls != nil {
		switchAt = r.tls.clearLen
		if r.tls.pipelined {
			pipeAt = switchAt - min(switchAt, 1+rng.IntN(64))
		}
	}
	for off := 0; off < len(r.stream) || off == pipeAt; {
		if off == pipeAt {
			// The tail goes out with the ClientHello, in one Write
			// (propSwitchConn.Write): the peer's reader handshakes.
			r.peerChunks = append(r.peerChunks, peerChunk{switchAt, time.Now()})
			r.tls.tailCh <- r.stream[pipeAt:switchAt]
			off, pipeAt = switchAt, -1
			continue
		}
		if off == switchAt {
			if tc = r.peerWaitTLS(); tc != nil {
				c = tc
			} else if r.tls.pipelined && !r.peerUnsentTail(c) {
				break // the handshake failed: the server is going
			} // else no switch: the rest in clear text
		}
		var k int
		switch rng.IntN(4) {
		case 0:
			k = 1 + rng.IntN(16)
		case 1, 2:
			k = 1 + rng.IntN(4096)
		default:
			k = 1 + rng.IntN(64<<10)
		}
		k = min(k, len(r.stream)-off)
		if off < switchAt {
			k = min(k, switchAt-off)
		}
		if off < pipeAt {
			k = min(k, pipeAt-off)
		}
		r.peerChunks = append(r.peerChunks, peerChunk{off + k, time.Now()})
		if _, err := c.Write(r.stream[off : off+k]); err != nil {
			return
		}
		off += k
		if rng.IntN(6) == 0 {
			time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
		}
	}
	if r.cfg.peerPlan == peerHalf {
		if switchAt == len(r.stream) {
			tc = r.peerWaitTLS() // the end goes over TLS if the connection switches
			if tc == nil && r.tls.pipelined {
				r.peerUnsentTail(c)
			}
		}
		cw, ok := r.peerConn.(interface{ CloseWrite() error })
		if !ok {
			return
		}
		s, ws := r.now(), time.Now()
		r.peerMu.Lock()
		r.peerHalfed = true
		r.peerMu.Unlock()
		if tc != nil {
			tc.CloseWrite() // close_notify
		}
		cw.CloseWrite()
		r.addCause(cause{kind: causePeerHalf, s: s, e: r.now(), ws: ws})
	}
}

// peerUnsentTail: pipelined TLS, the peer's reader saw the end of the
// server's output before it took the clear text's tail (it made no
// handshake): the writer sends the tail, in clear text, as the rest, and
// reports whether it could.
func (r *propRun) peerUnsentTail(c io.Writer) bool {
	select {
	case tail := <-r.tls.tailCh:
		_, err := c.Write(tail)
		return err == nil
	default:
		return false // the reader sent it, with its ClientHello
	}
}

func (r *propRun) peerRead(rng *rand.Rand, writerDone <-chan struct{}) {
	c := r.peerConn
	buf := make([]byte, 64<<10)
	var err error
	for {
		if rng.Float64() < r.cfg.stallP {
			time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond)
		}
		r.peerStopped()
		var n int
		n, err = c.Read(buf[:1+rng.IntN(len(buf))])
		r.peerMu.Lock()
		r.peerGot = append(r.peerGot, buf[:n]...)
		r.peerMu.Unlock()
		if err != nil {
			break
		}
	}
	r.peerFinish(err, writerDone)
	c.Close()
}

// peerFinish records how the peer's reading ended (err) and, after the
// whole output came (io.EOF), waits for the peer's writer: the peer ends
// once its stream is sent (a server that lingers drains it), or at once if
// the server is gone (its writes then fail). The caller then closes.
func (r *propRun) peerFinish(err error, writerDone <-chan struct{}) {
	r.peerMu.Lock()
	r.peerErr = err
	r.peerDone = true
	r.peerMu.Unlock()
	if err == io.EOF {
		select {
		case <-writerDone:
		case <-time.After(5 * time.Second):
		}
	}
	r.peerMu.Lock()
	r.peerClosed = true
	r.peerMu.Unlock()
}

func (r *propRun) peerClose() {
	s, ws := r.now(), time.Now()
	r.peerMu.Lock()
	early := !r.peerDone
	if early {
		r.peerEarly = true
		if r.tls != nil && r.tls.peerTLS != nil {
			r.tls.cut = true // no close_notify
		}
	}
	if r.tls != nil && r.tls.peerTLS != nil {
		r.tls.rawClose = true // early or not: a TLS stream ended with no close_notify
	}
	r.peerClosed = true // before the close: the server may see it at once
	r.peerMu.Unlock()
	r.peerConn.Close()
	if early {
		r.addCause(cause{kind: causePeerClose, s: s, e: r.now(), ws: ws})
	}
}

// The oracle.

// check runs once everything is over: Serve returned, every goroutine of
// the run is done.
func (r *propRun) check(serveErr error) {
	cfg := r.cfg
	// (1) The callbacks: ConnectionMade once, ConnectionLost once and
	// last (enter checks that nothing runs after it, nor concurrently).
	if r.made != 1 {
		r.failf("ConnectionMade called %d times", r.made)
	}
	if r.nLost != 1 {
		r.failf("ConnectionLost called %d times", r.nLost)
	}
	if r.afterRCL > 0 {
		r.failf("DataReceived called %d times after ReadConnectionLost", r.afterRCL)
	}
	if !sameErr(serveErr, r.lostWhy) {
		r.failf("Serve returned %v, ConnectionLost got %v", serveErr, r.lostWhy)
	}
	// The bytes delivered are the peer's stream, in order, from its start.
	if !strings.HasPrefix(string(r.stream), string(r.received)) {
		i := 0
		for i < len(r.received) && i < len(r.stream) && r.received[i] == r.stream[i] {
			i++
		}
		r.failf("DataReceived delivered %d bytes that are not a prefix of the peer's %d: first difference at byte %d", len(r.received), len(r.stream), i)
	}

	causes := r.causes
	has := func(kind int) bool { return hasCause(causes, kind) }
	aborted, slow, early := has(causeAbort), has(causeSlow), r.peerEarly
	// The idle or close timer cut the connection (pending output
	// discarded, as by an Abort).
	timerCut := r.timerCut()
	serverClosed := has(causeLose) || has(causeLoseReason) || aborted || slow || timerCut
	// All the input when the peer ended its stream cleanly and the server
	// closed nothing itself (a half-close goes on reading).
	if cfg.peerPlan == peerHalf && !early && !serverClosed && !r.pipeFailed() && len(r.received) != len(r.stream) {
		r.failf("the peer sent %d bytes and ended its stream, the server closed nothing, but DataReceived delivered %d", len(r.stream), len(r.received))
	}
	if cfg.halfCloseable && cfg.peerPlan == peerHalf && !early && !serverClosed && r.rcl != 1 {
		// LoseWriteConnection before the peer's end: no ReadConnectionLost.
		lwcFirst := false
		for _, c := range causes {
			if c.kind == causeLoseWrite {
				lwcFirst = true
			}
		}
		if !lwcFirst {
			r.failf("HalfCloseable, the peer ended its stream and nothing closed: ReadConnectionLost called %d times, want 1", r.rcl)
		}
	}
	peerHalf := cause{s: -1}
	for _, c := range causes {
		if c.kind == causePeerHalf {
			peerHalf = c
		}
	}
	if r.rcl > 0 {
		for _, c := range causes {
			if c.kind == causeLoseWrite && peerHalf.s >= 0 && c.e < peerHalf.s {
				r.failf("ReadConnectionLost called, but LoseWriteConnection had returned before the peer ended its stream")
			}
		}
	}

	// (2) The output: the peer's bytes are records of successful writes,
	// whole, each once, in an order that respects every pair of writes
	// of which one returned before the other began (per goroutine order;
	// atomic across goroutines); all of them after a graceful close.
	logs := map[[2]uint64]*writeRec{}
	var all []*writeRec
	for _, a := range r.allActors() {
		for _, w := range a.log {
			logs[[2]uint64{uint64(w.w), uint64(w.seq)}] = w
			all = append(all, w)
		}
	}
	r.peerMu.Lock()
	got, peerErr := r.peerGot, r.peerErr
	r.peerMu.Unlock()
	var order []*writeRec
	var offs []int
	truncated := false
	for off := 0; off < len(got); {
		rest := got[off:]
		if len(rest) < recHdr {
			if rest[0] != 0xA5 {
				r.failf("peer stream byte %d: %#x where a record begins", off, rest[0])
			}
			truncated = true
			break
		}
		w, seq, n := int(rest[1]), binary.BigEndian.Uint32(rest[2:]), int(binary.BigEndian.Uint32(rest[6:]))
		if rest[0] != 0xA5 || rest[10] != 0x5A {
			r.failf("peer stream byte %d: no record header (%x): a write interleaved or corrupted", off, rest[:recHdr])
			break
		}
		wr := logs[[2]uint64{uint64(w), uint64(seq)}]
		switch {
		case wr == nil:
			r.failf("peer stream byte %d: record %d/%d was never written", off, w, seq)
		case wr.err != nil:
			r.failf("peer stream byte %d: record %d/%d was sent, but its write returned %v", off, w, seq, wr.err)
		case wr.n != n:
			r.failf("peer stream byte %d: record %d/%d claims %d bytes, was %d", off, w, seq, n, wr.n)
		case wr.inSeen:
			r.failf("peer stream byte %d: record %d/%d sent twice", off, w, seq)
		}
		if wr == nil || wr.n != n {
			break
		}
		wr.inSeen = true
		bad := -1
		for i := recHdr; i < n && off+i < len(got); i++ {
			if got[off+i] != recByte(w, seq, i) {
				bad = i
				break
			}
		}
		if bad >= 0 {
			r.failf("peer stream byte %d: record %d/%d (%d bytes) differs at its byte %d: cut or interleaved", off, w, seq, n, bad)
			break
		}
		order = append(order, wr)
		offs = append(offs, off)
		if off+n > len(got) {
			truncated = true
			break
		}
		off += n
	}
	if r.tls != nil {
		r.checkTLS(order, offs)
	}
	// Order: no record may come after one that began after it returned.
	maxS := int64(-1)
	for _, wr := range order {
		if maxS > wr.e {
			r.failf("record %d/%d (returned at %d) arrived after one that began at %d, after it returned", wr.w, wr.seq, wr.e, maxS)
			break
		}
		maxS = max(maxS, wr.s)
	}
	for _, wr := range all {
		if wr.err == nil && wr.n > 0 && !wr.inSeen && maxS > wr.e {
			r.failf("record %d/%d returned nil but never arrived, while a later write's did", wr.w, wr.seq)
			break
		}
	}
	full := !aborted && !slow && !early && !timerCut
	if full {
		missing := 0
		for _, wr := range all {
			if wr.err == nil && !wr.inSeen {
				missing++
			}
		}
		// The StartTLS variant: a LoseConnection with nothing to send
		// over TLS closes under the handshake (tls.go's handshakeTLS),
		// so the peer's handshake fails after all the clear text.
		endOK := peerErr == io.EOF || r.tls != nil && r.tls.hsErr != nil ||
			// A lingering close ends once the peer has acknowledged all
			// the output (docs/guide.md, the lingering close); the peer's bytes sent
			// after that (the rest of its stream, its close_notify) are
			// answered with a reset, read after every byte of the output.
			missing == 0 && errors.Is(peerErr, syscall.ECONNRESET)
		if missing > 0 || truncated || !endOK {
			r.failf("graceful close (no Abort, no slow consumer, the peer read on): the peer got %d records (%d bytes, truncated=%v) then %v; %d successful writes missing",
				len(order), len(got), truncated, peerErr, missing)
		}
	}

	// (4) Write results: nil or an error of the contract; ErrClosed once
	// a close had returned.
	closedAt := int64(1 << 62)
	for _, c := range causes {
		switch c.kind {
		case causeLose, causeLoseReason, causeAbort, causeLoseWrite, causeSlow:
			closedAt = min(closedAt, c.e)
		}
	}
	closedAt = min(closedAt, r.lostStamp.Load())
	for _, wr := range all {
		switch {
		case wr.err == nil:
			if wr.kind == opWrite && wr.ret != wr.n {
				r.failf("Write of %d bytes returned %d, nil", wr.n, wr.ret)
			}
			if wr.s > closedAt {
				r.failf("write %d/%d began after the connection was closed and returned nil", wr.w, wr.seq)
			}
		case errors.Is(wr.err, weft.ErrClosed), errors.Is(wr.err, weft.ErrSlowConsumer):
			if wr.kind == opWrite && wr.ret != 0 {
				r.failf("Write returned %d, %v", wr.ret, wr.err)
			}
		default:
			r.failf("write %d/%d returned %v", wr.w, wr.seq, wr.err)
		}
		if wr.s > closedAt && !errors.Is(wr.err, weft.ErrClosed) {
			r.failf("write %d/%d after the close returned %v, want ErrClosed", wr.w, wr.seq, wr.err)
		}
	}
	// The peer's early close, when it began (a pipe's peer cannot end only
	// its output): a LoseWriteConnection after the connection saw it is
	// LoseConnection, half-close or not.
	peerClosedAt := int64(math.MaxInt64)
	r.mu.Lock()
	for _, c := range r.causes {
		if c.kind == causePeerClose {
			peerClosedAt = min(peerClosedAt, c.s)
		}
	}
	r.mu.Unlock()
	for _, c := range r.lwcErrs {
		switch {
		case pipeLike(r.name) && c.err == nil:
			if c.e < peerClosedAt {
				r.failf("LoseWriteConnection on a net.Pipe = nil before the peer closed, want ErrNotSupported")
			}
		case pipeLike(r.name):
			if !errors.Is(c.err, weft.ErrNotSupported) && !errors.Is(c.err, weft.ErrClosed) {
				r.failf("LoseWriteConnection on a net.Pipe = %v, want ErrNotSupported", c.err)
			}
			if errors.Is(c.err, weft.ErrNotSupported) && c.s > r.rclAt {
				r.failf("LoseWriteConnection on a net.Pipe after ReadConnectionLost = ErrNotSupported, want LoseConnection (nil)")
			}
		case c.err == nil:
		case errors.Is(c.err, weft.ErrClosed):
			if c.s <= closedAt && !r.anyBefore(c.e) && !timerCut {
				r.failf("LoseWriteConnection returned ErrClosed with nothing closing before it")
			}
		default:
			r.failf("LoseWriteConnection = %v", c.err)
		}
		if c.s > closedAt && !pipeLike(r.name) && !errors.Is(c.err, weft.ErrClosed) {
			r.failf("LoseWriteConnection after the close = %v, want ErrClosed", c.err)
		}
	}

	// Counters: what the peer got was written, and no more than the
	// successful writes; every frame of WriteParts counted once all the
	// output went; nothing changes once Serve returned.
	var okBytes, okParts int64
	for _, wr := range all {
		if wr.err == nil {
			okBytes += int64(wr.n)
			if wr.kind == opWriteParts {
				okParts++
			}
		}
	}
	cnt := counterValues(&r.counters)
	if cnt != r.served {
		r.failf("Counters changed after Serve returned: %v, then %v", r.served, cnt)
	}
	if out := cnt[1]; out < int64(len(got)) || out > okBytes {
		r.failf("Counters.BytesOut = %d; the peer got %d bytes, successful writes made %d", out, len(got), okBytes)
	}
	if in := cnt[0]; in < int64(len(r.received)+r.extraIn) || in > int64(len(r.stream)+r.extraIn) {
		r.failf("Counters.BytesIn = %d; DataReceived got %d bytes (and %d pipelined TLS bytes), the peer sent %d", in, len(r.received), r.extraIn, len(r.stream))
	}
	if frames := cnt[3]; frames > okParts || full && frames != okParts {
		r.failf("Counters.FramesOut = %d, %d WriteParts succeeded (all sent: %v)", frames, okParts, full)
	}

	// (3) The reason.
	r.checkReason(causes)
	r.checkTimeouts(causes)

	// Posted work: what was posted before anything began to close ran.
	firstClose := int64(1 << 62)
	for _, c := range causes {
		firstClose = min(firstClose, c.s)
	}
	// The idle timer closes at a moment the test knows only from below
	// (see checkTimeouts): work posted before that ran.
	idleFrom := time.Time{}
	if errors.Is(r.lostWhy, weft.ErrIdleTimeout) {
		idleFrom = r.activityFloor().Add(cfg.idle - timerMargin)
	}
	for _, p := range r.posts {
		if p.e < firstClose && (idleFrom.IsZero() || p.we.Before(idleFrom)) && !p.ran.Load() {
			r.failf("work posted (returned at %d, %v before ConnectionLost) before anything closed (%d) never ran", p.e, r.lostWall.Sub(p.we), firstClose)
			break
		}
	}

	// Producers: no call after StopProducing, at most one StopProducing,
	// and one for the producer registered last, for certain.
	for _, p := range r.producers {
		if p.afterStop.Load() > 0 {
			r.failf("producer %d: Pause/ResumeProducing after StopProducing", p.id)
		}
		if p.stops.Load() > 1 {
			r.failf("producer %d: StopProducing called %d times", p.id, p.stops.Load())
		}
	}
	if n := len(r.regs); n > 0 {
		last := r.regs[n-1]
		certain := last.who >= 0
		for _, g := range r.regs[:n-1] {
			if g.e > last.s {
				certain = false // concurrent with the last
			}
		}
		if certain && r.producers[last.who].stops.Load() != 1 {
			r.failf("producer %d, registered last: StopProducing called %d times, want 1", last.who, r.producers[last.who].stops.Load())
		}
	}

	// PauseReading: no DataReceived began once a pause had certainly
	// taken effect (returned before the callback before it ended), unless
	// a ResumeReading began after that pause did.
	for _, d := range r.delivs {
		var p *interval
		for i := range r.pauses {
			if q := &r.pauses[i]; q.e < d.lastLeave && (p == nil || q.s > p.s) {
				p = q
			}
		}
		if p == nil {
			continue
		}
		resumed := false
		for _, q := range r.resumes {
			if q.s < d.d && q.e >= p.s {
				resumed = true
			}
		}
		if !resumed {
			r.failf("DataReceived (at %d) while reading was paused (PauseReading %d..%d by %d, no ResumeReading since)", d.d, p.s, p.e, p.who)
			break
		}
	}
}

// has reports whether something of kind closed the connection (or began to).
func (r *propRun) has(kind int) bool {
	for _, c := range r.causes {
		if c.kind == kind {
			return true
		}
	}
	return false
}

// anyBefore reports whether something that closes the connection, or ends
// the peer's stream, began before stamp.
func (r *propRun) anyBefore(stamp int64) bool {
	for _, c := range r.causes {
		if c.s < stamp {
			return true
		}
	}
	return false
}

// hasCause reports whether causes holds one of kind.
func hasCause(causes []cause, kind int) bool {
	return slices.ContainsFunc(causes, func(c cause) bool { return c.kind == kind })
}

// checkReason checks ConnectionLost's reason against what happened.
func (r *propRun) checkReason(causes []cause) {
	reason := r.lostWhy
	has := func(kind int) bool { return hasCause(causes, kind) }
	graceful := has(causeLose) || has(causeLoseWrite) || has(causePeerHalf) || has(causePeerClose) ||
		r.cfg.peerPlan == peerNothing // reads to the end, then closes
	sentinels := []error{weft.ErrClosed, weft.ErrAborted, weft.ErrSlowConsumer, weft.ErrIdleTimeout,
		weft.ErrCloseTimeout, weft.ErrHandshakeTimeout, weft.ErrHandshakeFailed, weft.ErrServerShutdown,
		weft.ErrRejected, weft.ErrQueueTimeout, weft.ErrProtocolPanic, weft.ErrTLSActive, weft.ErrNotSupported,
		weft.ErrTLSTruncated}
	ok := false
	switch {
	case reason == nil:
		ok = graceful
	case errors.Is(reason, r.reason):
		ok = has(causeLoseReason)
	case errors.Is(reason, weft.ErrAborted):
		ok = has(causeAbort)
	case errors.Is(reason, weft.ErrSlowConsumer):
		ok = has(causeSlow)
	case errors.Is(reason, weft.ErrIdleTimeout):
		ok = r.cfg.idle > 0 // its floor: checkTimeouts
	case errors.Is(reason, weft.ErrCloseTimeout):
		ok = r.cfg.closeTO > 0 && len(causes) > 0 // a graceful close began; its floor: checkTimeouts
	default:
		sentinel := false
		for _, e := range sentinels {
			if errors.Is(reason, e) {
				sentinel = true
			}
		}
		// A network error: the peer closed while output or input was
		// in flight.
		ok = !sentinel && r.peerEarly || r.tlsReasonOK(reason)
	}
	if !ok {
		var names []string
		for _, c := range causes {
			names = append(names, causeNames[c.kind])
		}
		r.failf("ConnectionLost(%v) does not match what happened: %v (peerEarly=%v)", reason, names, r.peerEarly)
		return
	}
	r.checkTLSCut(causes)
	// The first cause, when it returned before any other began, decides
	// (the idle timer may fire before any: checkTimeouts).
	if len(causes) == 0 || errors.Is(reason, weft.ErrIdleTimeout) {
		return
	}
	first := causes[0]
	for _, c := range causes[1:] {
		if c.s < first.s {
			first = c
		}
	}
	for _, c := range causes {
		if c != first && c.s < first.e {
			return // concurrent with another: either may win
		}
	}
	switch first.kind {
	case causeAbort:
		if !errors.Is(reason, weft.ErrAborted) {
			r.failf("Abort closed the connection first, ConnectionLost(%v), want ErrAborted", reason)
		}
	case causeLoseReason:
		if !errors.Is(reason, r.reason) {
			r.failf("LoseConnectionWithReason closed the connection first, ConnectionLost(%v), want its reason", reason)
		}
	case causeSlow:
		if !errors.Is(reason, weft.ErrSlowConsumer) {
			r.failf("a write returned ErrSlowConsumer first, ConnectionLost(%v), want ErrSlowConsumer", reason)
		}
	case causeLose:
		if reason != nil && !errors.Is(reason, weft.ErrAborted) && !r.peerEarly && !errors.Is(reason, weft.ErrCloseTimeout) {
			r.failf("LoseConnection closed the connection first, ConnectionLost(%v), want nil (or ErrAborted after an Abort, ErrCloseTimeout)", reason)
		}
	}
}

// count adds what the run saw to stats (logged per transport, to see that
// the runs reach the cases the oracle distinguishes).
func (r *propRun) count(stats map[string]int) {
	switch why := r.lostWhy; {
	case why == nil:
		stats["reason nil"]++
	case errors.Is(why, weft.ErrAborted):
		stats["reason ErrAborted"]++
	case errors.Is(why, weft.ErrSlowConsumer):
		stats["reason ErrSlowConsumer"]++
	case errors.Is(why, weft.ErrCloseTimeout):
		stats["reason ErrCloseTimeout"]++
	case errors.Is(why, weft.ErrIdleTimeout):
		stats["reason ErrIdleTimeout"]++
	case errors.Is(why, r.reason):
		stats["reason own"]++
	default:
		stats["reason network"]++
	}
	for _, c := range r.causes {
		stats["cause "+causeNames[c.kind]]++
	}
	if len(r.received) == len(r.stream) {
		stats["all input"]++
	}
	if r.rcl > 0 {
		stats["ReadConnectionLost"]++
	}
	ok := 0
	for _, a := range r.allActors() {
		for _, w := range a.log {
			if w.err == nil {
				ok++
			}
			if w.inSeen {
				stats["records delivered"]++
			}
		}
	}
	stats["writes ok"] += ok
	stats["pauses"] += len(r.pauses)
	stats["deliveries"] += len(r.delivs)
	for _, p := range r.producers {
		if p.stops.Load() > 0 {
			stats["producer stopped"]++
		}
	}
	r.countTLS(stats)
	r.countTimeouts(stats)
}

func counterValues(c *weft.Counters) [4]int64 {
	return [4]int64{c.BytesIn.Load(), c.BytesOut.Load(), c.FramesIn.Load(), c.FramesOut.Load()}
}

// weftStacks returns the stacks of the goroutines running weft's code or
// the test's, for a failure that found a connection stuck.
func weftStacks() string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/weftkit/weft") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
