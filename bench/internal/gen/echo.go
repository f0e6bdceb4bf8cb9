package gen

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// EchoConfig configures echo mode. The zero value of each field but Addr has a
// default.
type EchoConfig struct {
	PID      int           // server process id, for its CPU time over the window; zero: not measured
	Addr     string        // server host:port (required)
	Codec    Codec         // zero: line
	Conns    int           // connections; zero: 100
	InFlight int           // frames in flight per connection; zero: 1
	Size     int           // payload bytes per frame; zero: 64
	Warmup   time.Duration // load before the window; zero: none
	Duration time.Duration // measured window; zero: 5 s
	Loops    int           // epoll loops (one per CPU); zero: runtime.NumCPU()
	Spread   bool          // use source addresses 127.0.0.1–127.0.0.9
	RawSys   bool          // raw system calls in the hot loop (see sysops); zero: through the scheduler
	Spin     bool          // never sleep in epoll (busy-poll; implies RawSys)
	// Drain bounds the wait, after the window, for the frames still in
	// flight: every frame sent must come back, and one that has not by
	// then is an error. Zero: DefaultDrain.
	Drain time.Duration
	// Side, if set, is a second set of connections to another address,
	// driven by the same epoll loops with the same codec, size and frames
	// in flight, verified the same way, and reported apart (Result.Side).
	// The blocking scenario uses it for the connections whose callbacks
	// sleep: one generator process for both sets, so that the two sets'
	// generators do not preempt each other on the generator's CPU.
	Side *EchoSide
}

// EchoSide is the second connection set of an echo run.
type EchoSide struct {
	Addr  string // host:port (required)
	Conns int    // connections; zero: 10
}

func (c *EchoConfig) defaults() error {
	if c.Addr == "" {
		return fmt.Errorf("%w: EchoConfig.Addr is empty", ErrBadConfig)
	}
	if c.Codec == "" {
		c.Codec = Line
	}
	setDefault(&c.Conns, 100)
	setDefault(&c.InFlight, 1)
	setDefault(&c.Size, 64)
	setDefault(&c.Loops, runtime.NumCPU())
	if c.Duration == 0 {
		c.Duration = 5 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
	if c.Conns < 0 || c.InFlight < 0 || c.Loops < 0 || c.Warmup < 0 || c.Duration < 0 || c.Drain < 0 {
		return fmt.Errorf("%w: negative EchoConfig field", ErrBadConfig)
	}
	if c.Side != nil {
		if c.Side.Addr == "" {
			return fmt.Errorf("%w: EchoSide.Addr is empty", ErrBadConfig)
		}
		setDefault(&c.Side.Conns, 10)
		if c.Side.Conns < 0 {
			return fmt.Errorf("%w: negative EchoSide.Conns", ErrBadConfig)
		}
	}
	return nil
}

func setDefault(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

// phases of a run, shared with the loops.
const (
	phaseWarmup  = iota
	phaseMeasure // messages counted, latencies recorded
	phaseDrain   // no new messages; what is in flight must still arrive, verified
	phaseStop
)

// DefaultDrain is how long a run waits, after its window, for the messages
// still in flight before it reports each missing one as an error.
const DefaultDrain = 3 * time.Second

// drain waits until the loops (wg), in phaseDrain, have received everything
// in flight and returned, or d has passed; then stops them.
func drain(phase *atomic.Int32, wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	phase.Store(phaseStop)
	<-done
}

// Echo runs echo mode: Conns connections, each keeping InFlight frames in
// flight, every echoed frame verified byte for byte.
func Echo(cfg EchoConfig) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	fr, err := NewFramer(cfg.Codec, cfg.Size)
	if err != nil {
		return nil, err
	}
	tg, err := resolve(cfg.Addr)
	if err != nil {
		return nil, err
	}
	fds, err := tg.dialMany(cfg.Conns, 32, cfg.Spread)
	if err != nil {
		return nil, err
	}
	defer closeAll(fds)
	var sideFDs []int
	if cfg.Side != nil {
		stg, err := resolve(cfg.Side.Addr)
		if err != nil {
			return nil, err
		}
		if sideFDs, err = stg.dialMany(cfg.Side.Conns, 32, false); err != nil {
			return nil, err
		}
		defer closeAll(sideFDs)
	}
	var phase atomic.Int32
	base := time.Now()
	loops := make([]*echoLoop, min(cfg.Loops, cfg.Conns))
	for i := range loops {
		l, err := newEchoLoop(fr, cfg.InFlight, &phase, base)
		if err != nil {
			for _, l := range loops[:i] {
				unix.Close(l.epfd)
			}
			return nil, err
		}
		l.sys = sysops{raw: cfg.RawSys, spin: cfg.Spin}
		loops[i] = l
	}
	for i, fd := range fds {
		if err := loops[i%len(loops)].add(fd, i, false); err != nil {
			return nil, err
		}
	}
	for i, fd := range sideFDs {
		if err := loops[i%len(loops)].add(fd, len(fds)+i, true); err != nil {
			return nil, err
		}
	}
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(l.run)
	}
	time.Sleep(cfg.Warmup)
	w := window{pid: cfg.PID}
	w.start()
	phase.Store(phaseMeasure)
	time.Sleep(cfg.Duration)
	phase.Store(phaseDrain)
	w.stop()
	drain(&phase, &wg, cfg.Drain)
	for _, l := range loops {
		l.lost()
	}

	r := &Result{Mode: "echo", Codec: string(cfg.Codec), Conns: cfg.Conns, InFlight: cfg.InFlight, Size: cfg.Size}
	var side *Result
	if cfg.Side != nil {
		side = &Result{Mode: "echo", Codec: string(cfg.Codec), Conns: cfg.Side.Conns, InFlight: cfg.InFlight, Size: cfg.Size}
	}
	var h, sh Hist
	for _, l := range loops {
		unix.Close(l.epfd)
		h.Merge(&l.sets[0].hist)
		l.sets[0].addTo(r)
		if side != nil {
			sh.Merge(&l.sets[1].hist)
			l.sets[1].addTo(side)
		}
		for _, c := range l.conns {
			switch {
			case c.dead:
			case c.side:
				side.Alive++
			default:
				r.Alive++
			}
		}
	}
	w.fill(r)
	r.MBPerSec = r.MsgsPerSec * float64(cfg.Size) / 1e6
	r.setLatency(&h)
	if side != nil {
		side.Window = r.Window
		if r.Window > 0 {
			side.MsgsPerSec = float64(side.Msgs) / r.Window
		}
		side.MBPerSec = side.MsgsPerSec * float64(cfg.Size) / 1e6
		side.setLatency(&sh)
		r.Side = side
	}
	return r, nil
}

// setStats are one connection set's figures in one loop.
type setStats struct {
	hist     Hist
	msgs     int64
	errs     int64
	firstErr string
}

func (st *setStats) addTo(r *Result) {
	r.Msgs += st.msgs
	r.Errors += st.errs
	if r.FirstError == "" {
		r.FirstError = st.firstErr
	}
}

type echoConn struct {
	fd, id  int
	idx     int32 // index in the loop's conns, the epoll data
	sendSeq uint64
	recvSeq uint64
	sent    []int64 // send time of frame seq at sent[seq%InFlight]
	part    []byte  // a partial frame carried to the next read
	pend    []byte  // output the socket did not take
	dead    bool
	side    bool // in EchoConfig.Side's set
}

type echoLoop struct {
	sys      sysops
	epfd     int
	fr       *Framer
	inflight int
	phase    *atomic.Int32
	base     time.Time
	conns    []*echoConn
	rbuf     []byte
	obuf     []byte
	now      int64
	measure  bool
	drain    bool        // phaseDrain: answer nothing, wait for what is in flight
	sets     [2]setStats // the main set's and the side set's
}

func newEchoLoop(fr *Framer, inflight int, phase *atomic.Int32, base time.Time) (*echoLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create: %w", err)
	}
	rsize := max(256<<10, 4*fr.WireSize())
	return &echoLoop{
		epfd: epfd, fr: fr, inflight: inflight, phase: phase, base: base,
		rbuf: make([]byte, rsize),
		obuf: make([]byte, 0, rsize+fr.WireSize()),
	}, nil
}

func (l *echoLoop) add(fd, id int, side bool) error {
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("set non-blocking: %w", err)
	}
	c := &echoConn{
		fd: fd, id: id, idx: int32(len(l.conns)), side: side,
		sent: make([]int64, l.inflight),
		part: make([]byte, 0, l.fr.WireSize()),
		pend: make([]byte, 0, l.inflight*l.fr.WireSize()),
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(len(l.conns))}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	l.conns = append(l.conns, c)
	return nil
}

func (l *echoLoop) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l.now = int64(time.Since(l.base))
	for _, c := range l.conns {
		out := l.obuf[:0]
		for range l.inflight {
			out = l.send(c, out)
		}
		l.write(c, out)
	}
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := l.sys.wait(l.epfd, events, 50)
		if err != nil && err != unix.EINTR {
			l.fail(nil, fmt.Sprintf("epoll_wait: %v", err))
			return
		}
		ph := l.phase.Load()
		if ph == phaseStop {
			return
		}
		l.measure, l.drain = ph == phaseMeasure, ph == phaseDrain
		l.now = int64(time.Since(l.base))
		for _, ev := range events[:max(n, 0)] {
			c := l.conns[ev.Fd]
			if c.dead {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				l.flush(c)
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !c.dead {
				l.read(c)
			}
		}
		if l.drain && l.drained() {
			return
		}
	}
}

// drained reports whether every live connection got back every frame sent.
func (l *echoLoop) drained() bool {
	for _, c := range l.conns {
		if !c.dead && c.recvSeq < c.sendSeq {
			return false
		}
	}
	return true
}

// lost reports, once the loop has stopped, every live connection with frames
// sent and never echoed, not even in the drain after the window: the server
// lost them, or stopped answering the connection. With one frame in flight
// nothing else would show it — no later frame arrives out of order — and
// the run would only count fewer messages.
func (l *echoLoop) lost() {
	for _, c := range l.conns {
		if c.dead || c.recvSeq >= c.sendSeq {
			continue
		}
		sent := c.sent[c.recvSeq%uint64(l.inflight)]
		l.fail(c, fmt.Sprintf("connection %d: frame %d never echoed (sent %.2f s before the end, %d of %d frames echoed)",
			c.id, c.recvSeq, time.Duration(l.now-sent).Seconds(), c.recvSeq, c.sendSeq))
	}
}

func (l *echoLoop) send(c *echoConn, out []byte) []byte {
	c.sent[c.sendSeq%uint64(l.inflight)] = l.now
	out = l.fr.Append(out, c.id, c.sendSeq)
	c.sendSeq++
	return out
}

// stats returns the figures of c's set (the main set's for nil).
func (l *echoLoop) stats(c *echoConn) *setStats {
	if c != nil && c.side {
		return &l.sets[1]
	}
	return &l.sets[0]
}

func (l *echoLoop) fail(c *echoConn, msg string) {
	st := l.stats(c)
	st.errs++
	if st.firstErr == "" {
		st.firstErr = msg
	}
	if c != nil && !c.dead {
		c.dead = true
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	}
}

func (l *echoLoop) read(c *echoConn) {
	n, err := l.sys.read(c.fd, l.rbuf)
	if n <= 0 {
		if err == unix.EAGAIN || err == unix.EINTR {
			return
		}
		if err == nil {
			l.fail(c, fmt.Sprintf("connection %d: closed by the server after %d frames", c.id, c.recvSeq))
		} else {
			l.fail(c, fmt.Sprintf("connection %d: read: %v", c.id, err))
		}
		return
	}
	data := l.rbuf[:n]
	w := l.fr.WireSize()
	out := l.obuf[:0]
	ok := true
	if len(c.part) > 0 {
		take := min(w-len(c.part), len(data))
		c.part = append(c.part, data[:take]...)
		data = data[take:]
		if len(c.part) == w {
			out, ok = l.frame(c, c.part, out)
			c.part = c.part[:0]
		}
	}
	for ok && len(data) >= w {
		out, ok = l.frame(c, data[:w], out)
		data = data[w:]
	}
	if !ok {
		return
	}
	c.part = append(c.part, data...)
	if len(out) > 0 {
		l.write(c, out)
	}
}

// frame checks one echoed frame and queues the next one in out.
func (l *echoLoop) frame(c *echoConn, f, out []byte) ([]byte, bool) {
	if c.recvSeq >= c.sendSeq || !l.fr.Verify(f, c.id, c.recvSeq) {
		l.fail(c, fmt.Sprintf("connection %d: frame %d: echoed bytes differ from the frame sent (%.40q)", c.id, c.recvSeq, f))
		return out, false
	}
	if l.measure {
		st := l.stats(c)
		st.hist.Record(l.now - c.sent[c.recvSeq%uint64(l.inflight)])
		st.msgs++
	}
	c.recvSeq++
	if l.drain {
		return out, true
	}
	return l.send(c, out), true
}

func (l *echoLoop) write(c *echoConn, out []byte) {
	if len(c.pend) > 0 {
		c.pend = append(c.pend, out...)
		return
	}
	n, err := l.sys.write(c.fd, out)
	if err != nil && err != unix.EAGAIN && err != unix.EINTR {
		l.fail(c, fmt.Sprintf("connection %d: write: %v", c.id, err))
		return
	}
	n = max(n, 0)
	if n < len(out) {
		c.pend = append(c.pend, out[n:]...)
		l.watchOut(c, true)
	}
}

func (l *echoLoop) flush(c *echoConn) {
	if len(c.pend) == 0 {
		return
	}
	n, err := l.sys.write(c.fd, c.pend)
	if err != nil && err != unix.EAGAIN && err != unix.EINTR {
		l.fail(c, fmt.Sprintf("connection %d: write: %v", c.id, err))
		return
	}
	n = max(n, 0)
	rest := copy(c.pend, c.pend[n:])
	c.pend = c.pend[:rest]
	if rest == 0 {
		l.watchOut(c, false)
	}
}

func (l *echoLoop) watchOut(c *echoConn, on bool) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: c.idx}
	if on {
		ev.Events |= unix.EPOLLOUT
	}
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
}
