//go:build unix

package process

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"go.uber.org/goleak"
)

// TestProcessProperty is a randomized, model-based test of the
// ProcessProtocol contract. Each seed draws a child (this test binary
// re-executed: see init) that writes random chunks to stdout and stderr,
// echoes part of its stdin, may close its stdout, stderr or stdin early,
// may leave a grandchild holding the pipes, and exits with a random code or
// by a signal; and a parent that feeds stdin from callbacks, a goroutine and
// a Producer, closes stdin (early or not), pauses and resumes reading,
// signals or kills the child, cancels the context, closes descriptors and
// calls LoseConnection. The oracle checks what the package documents:
// callbacks never concurrent, no data while reading is paused, each
// stream's bytes exactly those the child wrote (a prefix only where the
// contract allows a cut: the parent closed that descriptor, killed the
// child, or Options.WaitDelay cut a pipe a grandchild held), every end
// callback once and in order, the status, the errors of writes after a
// close, and no goroutine, descriptor or zombie left.
//
// WEFT_PROCESS_SEED=a,b,c runs those seeds; WEFT_PROCESS_SEEDS=n runs n
// seeds from WEFT_PROCESS_SEED_BASE (default 1).
func TestProcessProperty(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "freebsd" {
		t.Skip("the re-executed child needs a Unix test binary")
	}
	seeds := propSeeds(t)
	for _, seed := range seeds {
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runPropSeed(t, seed)
		})
		if !ok {
			t.Logf("reproduce: WEFT_PROCESS_SEED=%d go test -race -count=1 -run 'TestProcessProperty' ./process", seed)
		}
	}
}

func propSeeds(t *testing.T) []uint64 {
	if s := os.Getenv("WEFT_PROCESS_SEED"); s != "" {
		var out []uint64
		for f := range strings.SplitSeq(s, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("WEFT_PROCESS_SEED %q: %v", s, err)
			}
			out = append(out, v)
		}
		return out
	}
	n, base := 24, uint64(1)
	if testing.Short() {
		n = 6
	}
	if s := os.Getenv("WEFT_PROCESS_SEEDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("WEFT_PROCESS_SEEDS %q: want a positive count", s)
		}
		n = v
	}
	if s := os.Getenv("WEFT_PROCESS_SEED_BASE"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("WEFT_PROCESS_SEED_BASE %q: %v", s, err)
		}
		base = v
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

// --- the plan, drawn from the seed by the parent and the child alike ---

type stepKind int

const (
	stepWrite stepKind = iota // write n bytes to fd
	stepEcho                  // read n bytes of stdin (fewer at EOF), write them to stdout
	stepClose                 // close fd (0, 1 or 2)
	stepSleep                 // sleep n milliseconds
)

type propStep struct {
	kind stepKind
	fd   int
	n    int
}

type propPlan struct {
	seed uint64
	// The child.
	steps      []propStep
	exitCode   int
	exitSig    syscall.Signal // 0: exit with exitCode
	grand      bool           // spawn a grandchild holding stdin, stdout and stderr
	grandDelay int            // ms before the grandchild writes its tail
	grandTail  int            // bytes the grandchild writes to stdout
	grandHold  int            // ms it holds the pipes after that
	// The parent.
	opts          Options
	extraStdin    int  // bytes offered beyond what the child reads
	earlyClose    int  // -1, or close stdin after this many bytes (< what the child reads)
	closeAtEnd    bool // close stdin once everything is written
	feedDelayMS   int  // the goroutine's first write waits this long
	feedCallbacks bool
	producer      int // 0 none, 1 registered in ConnectionMade, 2 from a goroutine
	pauseProb     float64
	signalAt      int // -1, or signal once this many output bytes arrived (from a callback)
	signalAfterMS int // -1, or signal from a goroutine after this many ms
	signal        syscall.Signal
	cancelAfterMS int // -1, or cancel the context after this many ms
	loseAt        int // -1, or LoseConnection after this many output bytes
	closeFD       int // 0 none, else CloseChildFD(closeFD) after closeFDAt output bytes
	closeFDAt     int
}

func propSize(r *rand.Rand) int {
	switch x := r.IntN(10); {
	case x < 3:
		return r.IntN(65)
	case x < 6:
		return r.IntN(4 << 10)
	case x < 9:
		return r.IntN(64 << 10)
	default:
		return r.IntN(300 << 10)
	}
}

func newPropPlan(seed uint64) *propPlan {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	p := &propPlan{seed: seed}
	closed := map[int]bool{}
	total := 0
	for range r.IntN(14) {
		var s propStep
		switch x := r.IntN(20); {
		case x < 11:
			s = propStep{kind: stepWrite, fd: 1 + r.IntN(2), n: propSize(r)}
		case x < 16:
			s = propStep{kind: stepEcho, fd: 1, n: propSize(r) / 2}
		case x < 18:
			s = propStep{kind: stepSleep, n: r.IntN(4)}
		default:
			fd := r.IntN(3)
			if closed[fd] {
				continue
			}
			closed[fd] = true
			s = propStep{kind: stepClose, fd: fd}
		}
		if total > 1200<<10 && (s.kind == stepWrite || s.kind == stepEcho) {
			continue
		}
		total += s.n
		p.steps = append(p.steps, s)
	}
	if r.IntN(3) == 0 {
		p.exitSig = []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGHUP}[r.IntN(3)]
		if p.exitSig == syscall.SIGHUP && signal.Ignored(syscall.SIGHUP) {
			// Run under nohup: the child inherits SIGHUP ignored and
			// could not die of it. Parent and child both see this, so
			// their plans agree.
			p.exitSig = syscall.SIGTERM
		}
	} else {
		p.exitCode = []int{0, 0, 0, 1, 3, 42, 255}[r.IntN(7)]
	}
	if r.IntN(5) == 0 {
		p.grand = true
		p.grandDelay = r.IntN(60)
		if r.IntN(2) == 0 {
			p.grandTail = propSize(r)
		}
		p.grandHold = r.IntN(80)
	}

	// The parent.
	switch r.IntN(4) {
	case 0:
		p.opts.MaxWriteBuffer = 4<<10 + r.IntN(64<<10)
		p.opts.HighWater = p.opts.MaxWriteBuffer / (1 + r.IntN(4))
		p.opts.LowWater = p.opts.HighWater / (1 + r.IntN(4))
	case 1:
		p.opts.HighWater = 1 + r.IntN(32<<10)
	}
	if r.IntN(3) == 0 {
		p.opts.ReadBufferSize = 1 + r.IntN(8<<10)
	}
	if p.grand && r.IntN(2) == 0 {
		p.opts.WaitDelay = time.Duration(10+r.IntN(150)) * time.Millisecond
	} else if r.IntN(6) == 0 {
		p.opts.WaitDelay = time.Duration(1+r.IntN(20)) * time.Millisecond
	}
	need := p.stdinNeeded()
	p.extraStdin = r.IntN(3) * propSize(r)
	p.earlyClose = -1
	if need > 0 && r.IntN(5) == 0 {
		p.earlyClose = r.IntN(need)
	}
	p.closeAtEnd = r.IntN(2) == 0
	// The goroutine always feeds (callbacks alone could wait for output
	// that needs stdin first), sometimes only after a while.
	p.feedDelayMS = r.IntN(3) * r.IntN(20)
	p.feedCallbacks = r.IntN(2) == 0
	p.producer = r.IntN(3)
	p.pauseProb = []float64{0, 0, 0.05, 0.3}[r.IntN(4)]
	p.signalAt, p.signalAfterMS, p.cancelAfterMS, p.loseAt = -1, -1, -1, -1
	p.signal = []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM}[r.IntN(2)]
	switch r.IntN(8) {
	case 0:
		p.signalAt = r.IntN(total + 1)
	case 1:
		p.signalAfterMS = r.IntN(150)
	case 2:
		p.cancelAfterMS = r.IntN(150)
	}
	if r.IntN(8) == 0 {
		p.loseAt = r.IntN(total + 1)
	}
	if r.IntN(6) == 0 {
		p.closeFD = 1 + r.IntN(2)
		p.closeFDAt = r.IntN(total + 1)
	}
	return p
}

// stdinNeeded is how many stdin bytes the child reads if it gets them all.
func (p *propPlan) stdinNeeded() int {
	n := 0
	for _, s := range p.steps {
		if s.kind == stepClose && s.fd == 0 {
			break
		}
		if s.kind == stepEcho {
			n += s.n
		}
	}
	return n
}

func (p *propPlan) childClosesStdin() bool {
	return slices.ContainsFunc(p.steps, func(s propStep) bool { return s.kind == stepClose && s.fd == 0 })
}

// propBytes is the deterministic content of one chunk.
func propBytes(seed, tag uint64, n int) []byte {
	var k [32]byte
	binary.LittleEndian.PutUint64(k[0:], seed)
	binary.LittleEndian.PutUint64(k[8:], tag)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(k).Read(b)
	return b
}

const (
	tagStdin = 1 << 40
	tagTail  = 2 << 40
)

// expected returns what the child writes to stdout and stderr when the
// parent wrote the first accepted bytes of stdin and then closed it (or
// wrote at least what the child reads).
func (p *propPlan) expected(stdin []byte) (out, errOut []byte) {
	var bufs [3]bytes.Buffer
	closed := map[int]bool{}
	off := 0
	for i, s := range p.steps {
		switch s.kind {
		case stepWrite:
			if !closed[s.fd] {
				bufs[s.fd].Write(propBytes(p.seed, uint64(i), s.n))
			}
		case stepEcho:
			if closed[0] {
				continue
			}
			n := min(s.n, max(0, len(stdin)-off))
			if !closed[1] {
				bufs[1].Write(stdin[off : off+n])
			}
			off += n
		case stepClose:
			closed[s.fd] = true
		}
	}
	if p.grand && !closed[1] {
		bufs[1].Write(propBytes(p.seed, tagTail, p.grandTail))
	}
	return bufs[1].Bytes(), bufs[2].Bytes()
}

// --- the child and the grandchild: this test binary, re-executed ---

const (
	propChildEnv = "WEFT_PROCESS_PROP_CHILD"
	propGrandEnv = "WEFT_PROCESS_PROP_GRANDCHILD"
)

func init() {
	if s := os.Getenv(propGrandEnv); s != "" {
		propGrandchild(s)
	}
	if s := os.Getenv(propChildEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			os.Exit(90)
		}
		propChild(newPropPlan(seed))
	}
}

func propChild(p *propPlan) {
	// A write to a pipe the parent closed fails instead of killing the
	// child: its status stays the planned one.
	signal.Ignore(syscall.SIGPIPE)
	files := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	closed := map[int]bool{}
	broken := map[int]bool{}
	write := func(fd int, b []byte) {
		if closed[fd] || broken[fd] || len(b) == 0 {
			return
		}
		if _, err := files[fd].Write(b); err != nil {
			broken[fd] = true // the parent closed it
		}
	}
	eof := false
	for i, s := range p.steps {
		switch s.kind {
		case stepWrite:
			write(s.fd, propBytes(p.seed, uint64(i), s.n))
		case stepEcho:
			if closed[0] || eof {
				continue
			}
			buf := make([]byte, s.n)
			n, err := io.ReadFull(os.Stdin, buf)
			if err != nil {
				eof = true
			}
			write(1, buf[:n])
		case stepClose:
			closed[s.fd] = true
			files[s.fd].Close()
		case stepSleep:
			time.Sleep(time.Duration(s.n) * time.Millisecond)
		}
	}
	if p.grand {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%d,%d,%d", propGrandEnv, p.seed, p.grandDelay, p.grandTail, p.grandHold))
		for fd, f := range files {
			if closed[fd] {
				f = nil
			}
			switch fd {
			case 0:
				cmd.Stdin = f
			case 1:
				cmd.Stdout = f
			case 2:
				cmd.Stderr = f
			}
		}
		if err := cmd.Start(); err != nil {
			os.Exit(91)
		}
	}
	if p.exitSig != 0 {
		_ = syscall.Kill(os.Getpid(), p.exitSig)
		time.Sleep(time.Minute)
		os.Exit(92)
	}
	os.Exit(p.exitCode)
}

func propGrandchild(s string) {
	signal.Ignore(syscall.SIGPIPE)
	var seed uint64
	var delay, tail, hold int
	if _, err := fmt.Sscanf(s, "%d,%d,%d,%d", &seed, &delay, &tail, &hold); err != nil {
		os.Exit(93)
	}
	time.Sleep(time.Duration(delay) * time.Millisecond)
	_, _ = os.Stdout.Write(propBytes(seed, tagTail, tail))
	time.Sleep(time.Duration(hold) * time.Millisecond)
	os.Exit(0)
}

// --- the parent ---

type propEvent struct {
	kind string // made, data, lost, exited, ended
	fd   int
}

type propHarness struct {
	t      *testing.T
	plan   *propPlan
	stdin  []byte // the bytes offered to stdin, in order
	target int    // how many of them to write
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup

	tr     Transport
	inCall atomic.Int32

	// Serialized state (callbacks and producer calls only).
	events      []propEvent
	data        [3]bytes.Buffer
	outBytes    int
	exited      error
	ended       error
	signalDone  bool
	loseDone    bool
	closeFDDone bool
	lostSeen    [3]bool
	prodState   string // "", "paused", "running", "stopped"
	prodStops   int

	// Written by other goroutines too.
	mu            sync.Mutex
	accepted      int // bytes of stdin Write accepted
	feedDone      bool
	stdinClosedBy string // why the parent closed stdin, "" if it did not
	sent          []syscall.Signal
	cancelled     bool
	parentClosed  [3]bool
	prodPaused    bool

	pauseMu sync.Mutex
	paused  bool

	wake      chan struct{}
	postAfter atomic.Bool // work posted from ProcessEnded ran
}

func runPropSeed(t *testing.T, seed uint64) {
	plan := newPropPlan(seed)
	t.Logf("plan: %s", plan)
	ignore := goleak.IgnoreCurrent()
	var fdsBefore map[string]string
	if runtime.GOOS == "linux" {
		// The runtime's poller opens its descriptors with the first pipe.
		if r, w, err := os.Pipe(); err == nil {
			r.Close()
			w.Close()
		}
		fdsBefore = propFDs(t)
	}

	need := plan.stdinNeeded()
	h := &propHarness{t: t, plan: plan, stop: make(chan struct{}), wake: make(chan struct{}, 1)}
	h.target = need + plan.extraStdin
	if plan.earlyClose >= 0 {
		h.target = plan.earlyClose
	}
	h.stdin = propBytes(seed, tagStdin, h.target)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.cancel = cancel
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", propChildEnv, seed))
	opts := plan.opts
	pr, err := Start(ctx, cmd, h, &opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	h.goFunc(h.feeder)
	if plan.producer == 2 {
		h.goFunc(func() { pr.RegisterProducer(&propProducer{h}) })
	}
	if d := plan.signalAfterMS; d >= 0 {
		h.goFunc(func() {
			select {
			case <-time.After(time.Duration(d) * time.Millisecond):
				h.signal(plan.signal)
			case <-h.stop:
			}
		})
	}
	if d := plan.cancelAfterMS; d >= 0 {
		h.goFunc(func() {
			select {
			case <-time.After(time.Duration(d) * time.Millisecond):
				h.mu.Lock()
				h.cancelled = true
				h.mu.Unlock()
				cancel()
			case <-h.stop:
			}
		})
	}

	waited := make(chan error, 1)
	go func() { waited <- pr.Wait() }()
	var waitErr error
	select {
	case waitErr = <-waited:
	case <-time.After(20 * time.Second):
		// Read h.events only after Wait: the callbacks may still run.
		t.Errorf("child %d: Wait did not return within 20s (Done closed: %v): killing it", pr.Pid(), propClosed(pr.Done()))
		h.resume()
		pr.LoseConnection()
		_ = pr.Kill()
		select {
		case waitErr = <-waited:
		case <-time.After(10 * time.Second):
			t.Fatalf("child %d: Wait still blocked after Kill and LoseConnection", pr.Pid())
		}
	}
	close(h.stop)
	h.wg.Wait()
	cancel()

	h.check(pr, waitErr)

	// No zombie: the child was reaped by the package.
	if pid, err := syscall.Wait4(pr.Pid(), nil, syscall.WNOHANG, nil); !errors.Is(err, syscall.ECHILD) {
		t.Errorf("child %d not reaped: Wait4 = %d, %v", pr.Pid(), pid, err)
	}
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines left after Wait: %v", err)
	}
	if fdsBefore != nil {
		after := propFDs(t)
		for fd, what := range after {
			if _, ok := fdsBefore[fd]; !ok {
				t.Errorf("descriptor %s (%s) left open", fd, what)
			}
		}
	}
}

func (p *propPlan) String() string {
	var b strings.Builder
	for _, s := range p.steps {
		switch s.kind {
		case stepWrite:
			fmt.Fprintf(&b, "w%d:%d ", s.fd, s.n)
		case stepEcho:
			fmt.Fprintf(&b, "echo:%d ", s.n)
		case stepClose:
			fmt.Fprintf(&b, "close%d ", s.fd)
		case stepSleep:
			fmt.Fprintf(&b, "sleep:%d ", s.n)
		}
	}
	if p.exitSig != 0 {
		fmt.Fprintf(&b, "exit:%v ", p.exitSig)
	} else {
		fmt.Fprintf(&b, "exit:%d ", p.exitCode)
	}
	if p.grand {
		fmt.Fprintf(&b, "grandchild(delay %dms tail %d hold %dms) ", p.grandDelay, p.grandTail, p.grandHold)
	}
	fmt.Fprintf(&b, "| opts %+v extra %d earlyClose %d closeAtEnd %v feed(delay %dms cb %v) producer %d pause %.2f signal %v at %d/%dms cancel %dms lose %d closeFD %d at %d",
		p.opts, p.extraStdin, p.earlyClose, p.closeAtEnd, p.feedDelayMS, p.feedCallbacks, p.producer, p.pauseProb,
		p.signal, p.signalAt, p.signalAfterMS, p.cancelAfterMS, p.loseAt, p.closeFD, p.closeFDAt)
	return b.String()
}

func (h *propHarness) goFunc(fn func()) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		fn()
	}()
}

func (h *propHarness) enter(what string) {
	if h.inCall.Add(1) != 1 {
		h.t.Errorf("%s ran concurrently with another callback", what)
	}
}

func (h *propHarness) leave() { h.inCall.Add(-1) }

func (h *propHarness) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// feed writes the next chunk of stdin (at most max bytes), closing stdin
// once the target is reached if the plan says so. It reports whether the
// feeding is over.
func (h *propHarness) feed(max int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.feedDone {
		return true
	}
	if limit := h.plan.opts.MaxWriteBuffer; limit > 0 {
		max = min(max, limit)
	}
	n := min(max, h.target-h.accepted)
	if n > 0 {
		_, err := h.tr.Write(h.stdin[h.accepted : h.accepted+n])
		switch {
		case err == nil:
			h.accepted += n
		case errors.Is(err, ErrWriteBufferFull):
			return false
		case errors.Is(err, ErrClosed):
			if !h.closedAllowedLocked() {
				h.t.Errorf("stdin Write = %v after %d of the %d bytes the child reads, with no reason for stdin to be closed", err, h.accepted, h.plan.stdinNeeded())
			}
			h.feedDone = true
			return true
		default:
			h.t.Errorf("stdin Write = %v, want nil, ErrWriteBufferFull or ErrClosed", err)
			h.feedDone = true
			return true
		}
	}
	if h.accepted < h.target {
		return false
	}
	h.feedDone = true
	if h.plan.closeAtEnd || h.plan.earlyClose >= 0 {
		h.closeStdinLocked("CloseStdin")
	}
	return true
}

func (h *propHarness) closeStdinLocked(why string) {
	if h.stdinClosedBy == "" {
		h.stdinClosedBy = why
	}
	if err := h.tr.CloseStdin(); err != nil {
		h.t.Errorf("CloseStdin = %v, want nil", err)
	}
	if _, err := h.tr.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		h.t.Errorf("Write after CloseStdin = %v, want ErrClosed", err)
	}
	if err := h.tr.CloseStdin(); err != nil {
		h.t.Errorf("second CloseStdin = %v, want nil (idempotent)", err)
	}
}

// closedAllowedLocked reports whether stdin may be closed now although the
// parent has not written everything the child reads.
func (h *propHarness) closedAllowedLocked() bool {
	return h.stdinClosedBy != "" || h.accepted >= h.plan.stdinNeeded() || h.plan.childClosesStdin() ||
		len(h.sent) > 0 || h.cancelled
}

func (h *propHarness) feeder() {
	r := rand.New(rand.NewPCG(h.plan.seed, 7))
	select {
	case <-time.After(time.Duration(h.plan.feedDelayMS) * time.Millisecond):
	case <-h.stop:
		return
	}
	for {
		h.mu.Lock()
		held := h.prodPaused
		h.mu.Unlock()
		if !held && h.feed(1+propSize(r)) {
			return
		}
		select {
		case <-h.stop:
			return
		case <-h.wake:
		case <-time.After(time.Millisecond):
		}
	}
}

func (h *propHarness) signal(sig syscall.Signal) {
	h.mu.Lock()
	h.sent = append(h.sent, sig)
	h.mu.Unlock()
	err := h.tr.Signal(sig)
	switch {
	case err == nil:
	case errors.Is(err, ErrProcessExited):
		h.mu.Lock()
		h.sent = slices.DeleteFunc(h.sent, func(s syscall.Signal) bool { return s == sig })
		h.mu.Unlock()
	default:
		h.t.Errorf("Signal(%v) = %v", sig, err)
	}
}

func (h *propHarness) closeFD(fd int) {
	h.mu.Lock()
	h.parentClosed[fd] = true
	h.mu.Unlock()
	if err := h.tr.CloseChildFD(fd); err != nil {
		h.t.Errorf("CloseChildFD(%d) = %v", fd, err)
	}
	if err := h.tr.CloseChildFD(fd); err != nil {
		h.t.Errorf("second CloseChildFD(%d) = %v, want nil (idempotent)", fd, err)
	}
}

func (h *propHarness) pause() {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	if h.paused {
		return
	}
	h.tr.PauseReading()
	h.paused = true
}

func (h *propHarness) resume() {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	h.paused = false
	h.tr.ResumeReading()
}

func (h *propHarness) isPaused() bool {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	return h.paused
}

func (h *propHarness) ConnectionMade(t Transport) {
	h.enter("ConnectionMade")
	defer h.leave()
	if len(h.events) != 0 {
		h.t.Errorf("ConnectionMade after %v", h.events)
	}
	h.events = append(h.events, propEvent{kind: "made"})
	h.tr = t
	if h.plan.feedCallbacks {
		h.feed(8 << 10)
	}
	if h.plan.producer == 1 {
		t.RegisterProducer(&propProducer{h})
	}
}

func (h *propHarness) ChildDataReceived(fd int, data []byte) {
	h.enter("ChildDataReceived")
	defer h.leave()
	h.events = append(h.events, propEvent{kind: "data", fd: fd})
	if fd != 1 && fd != 2 {
		h.t.Errorf("ChildDataReceived(%d)", fd)
		return
	}
	if h.isPaused() {
		h.t.Errorf("ChildDataReceived(%d, %d bytes) while reading is paused", fd, len(data))
	}
	if h.lostSeen[fd] {
		h.t.Errorf("ChildDataReceived(%d) after ChildConnectionLost(%d)", fd, fd)
	}
	rs := h.plan.opts.ReadBufferSize
	if rs == 0 {
		rs = DefaultReadBufferSize
	}
	if len(data) == 0 || len(data) > rs {
		h.t.Errorf("ChildDataReceived(%d) with %d bytes, want 1 to ReadBufferSize %d", fd, len(data), rs)
	}
	h.data[fd].Write(data)
	h.outBytes += len(data)
	p := h.plan

	r := rand.New(rand.NewPCG(p.seed, uint64(h.outBytes)))
	if p.feedCallbacks && r.IntN(2) == 0 {
		h.feed(1 + propSize(r))
	}
	if p.signalAt >= 0 && !h.signalDone && h.outBytes >= p.signalAt {
		h.signalDone = true
		h.signal(p.signal)
	}
	if p.loseAt >= 0 && !h.loseDone && h.outBytes >= p.loseAt {
		h.loseDone = true
		h.mu.Lock()
		h.parentClosed = [3]bool{true, true, true}
		if h.stdinClosedBy == "" {
			h.stdinClosedBy = "LoseConnection"
		}
		h.mu.Unlock()
		h.tr.LoseConnection()
		if _, err := h.tr.Write([]byte("x")); !errors.Is(err, ErrClosed) {
			h.t.Errorf("Write after LoseConnection = %v, want ErrClosed", err)
		}
	}
	if p.closeFD != 0 && !h.closeFDDone && h.outBytes >= p.closeFDAt {
		h.closeFDDone = true
		h.closeFD(p.closeFD)
	}
	if r.Float64() < p.pauseProb {
		h.pause()
		if r.IntN(2) == 0 {
			h.tr.Post(h.resume)
		} else {
			d := time.Duration(r.IntN(3000)) * time.Microsecond
			h.goFunc(func() {
				select {
				case <-time.After(d):
				case <-h.stop:
				}
				h.resume()
			})
		}
	}
}

func (h *propHarness) ChildConnectionLost(fd int) {
	h.enter("ChildConnectionLost")
	defer h.leave()
	h.events = append(h.events, propEvent{kind: "lost", fd: fd})
	if fd < 0 || fd > 2 {
		h.t.Errorf("ChildConnectionLost(%d)", fd)
		return
	}
	h.lostSeen[fd] = true
	h.mu.Lock()
	parentClosed := h.parentClosed[fd]
	h.mu.Unlock()
	if fd != 0 && h.isPaused() && !parentClosed {
		h.t.Errorf("ChildConnectionLost(%d) while reading is paused, and the parent did not close it", fd)
	}
	if fd == 0 {
		if _, err := h.tr.Write(nil); !errors.Is(err, ErrClosed) {
			h.t.Errorf("Write after ChildConnectionLost(0) = %v, want ErrClosed", err)
		}
		if err := h.tr.CloseStdin(); err != nil {
			h.t.Errorf("CloseStdin after ChildConnectionLost(0) = %v, want nil (idempotent)", err)
		}
		h.poke()
	} else if err := h.tr.WriteToChild(fd, []byte("x")); !errors.Is(err, ErrBadFD) {
		h.t.Errorf("WriteToChild(%d) = %v, want ErrBadFD", fd, err)
	}
}

func (h *propHarness) ProcessExited(status error) {
	h.enter("ProcessExited")
	defer h.leave()
	h.events = append(h.events, propEvent{kind: "exited"})
	h.exited = status
	if _, err := h.tr.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		h.t.Errorf("Write in ProcessExited = %v, want ErrClosed", err)
	}
	if err := h.tr.Kill(); !errors.Is(err, ErrProcessExited) {
		h.t.Errorf("Kill in ProcessExited = %v, want ErrProcessExited", err)
	}
}

func (h *propHarness) ProcessEnded(status error) {
	h.enter("ProcessEnded")
	defer h.leave()
	h.events = append(h.events, propEvent{kind: "ended"})
	h.ended = status
	h.tr.Post(func() { h.postAfter.Store(true) })
	h.poke()
}

// propProducer feeds stdin when resumed; its calls must be serialized with
// the callbacks and follow the documented protocol.
type propProducer struct{ h *propHarness }

func (p *propProducer) PauseProducing() {
	h := p.h
	h.enter("PauseProducing")
	defer h.leave()
	switch h.prodState {
	case "paused":
		h.t.Errorf("PauseProducing while paused")
	case "stopped":
		h.t.Errorf("PauseProducing after StopProducing")
	}
	h.prodState = "paused"
	h.mu.Lock()
	h.prodPaused = true
	h.mu.Unlock()
}

func (p *propProducer) ResumeProducing() {
	h := p.h
	h.enter("ResumeProducing")
	defer h.leave()
	switch h.prodState {
	case "", "running":
		h.t.Errorf("ResumeProducing while not paused (%q)", h.prodState)
	case "stopped":
		h.t.Errorf("ResumeProducing after StopProducing")
	}
	h.prodState = "running"
	h.mu.Lock()
	h.prodPaused = false
	h.mu.Unlock()
	h.feed(4 << 10)
	h.poke()
}

func (p *propProducer) StopProducing() {
	h := p.h
	h.enter("StopProducing")
	defer h.leave()
	if h.prodState == "stopped" {
		h.t.Errorf("StopProducing twice")
	}
	h.prodState = "stopped"
	h.prodStops++
	h.poke()
}

var _ weft.Producer = (*propProducer)(nil)

func (h *propHarness) eventSummary() string {
	var b strings.Builder
	last := ""
	for _, e := range h.events {
		s := e.kind
		if e.kind == "data" || e.kind == "lost" {
			s = fmt.Sprintf("%s%d", e.kind, e.fd)
		}
		if s == last && e.kind == "data" {
			continue
		}
		last = s
		b.WriteString(s + " ")
	}
	return b.String()
}

func (h *propHarness) check(pr *Process, waitErr error) {
	t, p := h.t, h.plan
	ev := h.events
	sum := h.eventSummary()

	// Order: made first, ended last, each end once, in order.
	if len(ev) < 2 || ev[0].kind != "made" || ev[len(ev)-1].kind != "ended" {
		t.Fatalf("events %s: want made first and ended last", sum)
	}
	count := map[string]int{}
	for i, e := range ev {
		k := e.kind
		if k == "lost" {
			k = fmt.Sprintf("lost%d", e.fd)
		}
		count[k]++
		if e.kind == "data" && slices.ContainsFunc(ev[:i], func(x propEvent) bool { return x.kind == "lost" && x.fd == e.fd }) {
			t.Errorf("events %s: data on %d after its ChildConnectionLost", sum, e.fd)
		}
		if e.kind == "ended" && i != len(ev)-1 {
			t.Errorf("events %s: ProcessEnded not last", sum)
		}
	}
	for _, k := range []string{"made", "exited", "ended", "lost0", "lost1", "lost2"} {
		if count[k] != 1 {
			t.Errorf("events %s: %s %d times, want once", sum, k, count[k])
		}
	}

	// Status.
	h.mu.Lock()
	sent, cancelled, accepted, parentClosed := slices.Clone(h.sent), h.cancelled, h.accepted, h.parentClosed
	stdinClosedBy := h.stdinClosedBy
	h.mu.Unlock()
	if h.exited == nil || (!errors.Is(h.exited, ErrProcessDone) && !errors.Is(h.exited, ErrProcessTerminated)) {
		t.Fatalf("ProcessExited(%v): want ErrProcessDone or a *ProcessTerminated", h.exited)
	}
	code, sig := ExitStatus(h.exited)
	planned := code == p.exitCode && sig == 0 && p.exitSig == 0 || code == -1 && sig == p.exitSig && p.exitSig != 0
	byParent := code == -1 && (slices.Contains(sent, sig) || cancelled && sig == syscall.SIGKILL)
	if !planned && !byParent {
		t.Errorf("ProcessExited(%v): code %d signal %v; want the planned exit (code %d signal %v) or a signal the parent sent (%v, context cancelled %v)",
			h.exited, code, sig, p.exitCode, p.exitSig, sent, cancelled)
	}
	if errors.Is(h.exited, ErrProcessDone) != (code == 0 && sig == 0) {
		t.Errorf("ProcessExited(%v): ErrProcessDone must mean exit code 0", h.exited)
	}
	var pt *ProcessTerminated
	if errors.As(h.exited, &pt) && pt.Cause != nil {
		if !cancelled || sig != syscall.SIGKILL || !errors.Is(pt.Cause, context.Canceled) {
			t.Errorf("ProcessExited(%v): Cause %v, but the context (cancelled: %v) did not kill the child", h.exited, pt.Cause, cancelled)
		}
	} else if cancelled && sig == syscall.SIGKILL && !slices.Contains(sent, syscall.SIGKILL) && p.exitSig != syscall.SIGKILL {
		t.Errorf("ProcessExited(%v): the context killed the child, want a Cause matching context.Canceled", h.exited)
	}
	cut := false
	if h.ended != h.exited {
		cut = cutStatus(h.exited, h.ended)
		if !cut {
			t.Errorf("ProcessEnded(%v) differs from ProcessExited(%v) and is no WaitDelay cut", h.ended, h.exited)
		} else if !p.grand {
			t.Errorf("ProcessEnded(%v): a cut reported with no grandchild holding a pipe", h.ended)
		} else if p.opts.WaitDelay == 0 {
			t.Errorf("ProcessEnded(%v): a cut reported without Options.WaitDelay", h.ended)
		}
	}
	if errors.Is(h.ended, ErrProcessDone) {
		if waitErr != nil {
			t.Errorf("Wait = %v, want nil for ProcessEnded(%v)", waitErr, h.ended)
		}
	} else if waitErr != h.ended {
		t.Errorf("Wait = %v, want ProcessEnded's %v", waitErr, h.ended)
	}

	t.Logf("outcome: exited %v, ended %v, stdin accepted %d (closed by %q), signals sent %v, cancelled %v, parent closed %v, out %d/%d err %d/%d, events %s",
		h.exited, h.ended, accepted, stdinClosedBy, sent, cancelled, parentClosed,
		h.data[1].Len(), len(wantOutFor(p, h.stdin[:accepted])), h.data[2].Len(), len(wantErrFor(p, h.stdin[:accepted])), sum)

	// Data: exactly what the child wrote, or a prefix where a cut is allowed.
	wantOut, wantErr := p.expected(h.stdin[:accepted])
	killed := byParent // the parent's signal may be the planned one, and come first
	for fd, want := range map[int][]byte{1: wantOut, 2: wantErr} {
		got := h.data[fd].Bytes()
		mayCut := killed || cut || parentClosed[fd]
		if bytes.Equal(got, want) || mayCut && bytes.HasPrefix(want, got) {
			continue
		}
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Errorf("descriptor %d: got %d bytes, want %d (a prefix allowed: %v); first difference at %d; events %s",
			fd, len(got), len(want), mayCut, i, sum)
	}

	// Producer.
	if p.producer != 0 && h.prodStops != 1 {
		t.Errorf("StopProducing called %d times, want once (stdin closed)", h.prodStops)
	}
	if h.postAfter.Load() {
		t.Errorf("work posted from ProcessEnded ran")
	}
	select {
	case <-pr.Context().Done():
	default:
		t.Errorf("Context not done after Wait")
	}
	if err := pr.Kill(); !errors.Is(err, ErrProcessExited) {
		t.Errorf("Kill after Wait = %v, want ErrProcessExited", err)
	}
	if _, err := pr.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Wait = %v, want ErrClosed", err)
	}
}

func propClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func wantOutFor(p *propPlan, stdin []byte) []byte { o, _ := p.expected(stdin); return o }
func wantErrFor(p *propPlan, stdin []byte) []byte { _, e := p.expected(stdin); return e }

// propFDs lists this process's open descriptors (Linux).
func propFDs(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("listing descriptors: %v", err)
	}
	fds := map[string]string{}
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			fds[e.Name()] = l
		}
	}
	return fds
}
