package gen

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ChurnConfig configures churn mode.
type ChurnConfig struct {
	PID         int           // server process id, for its CPU time over the window; zero: not measured
	Addr        string        // server host:port (required)
	Codec       Codec         // zero: line
	Concurrency int           // connections open at once; zero: 32
	Size        int           // payload of the one echo; zero: 64
	Warmup      time.Duration // zero: none
	Duration    time.Duration // measured window; zero: 5 s
	Loops       int           // epoll loops; zero: runtime.NumCPU()
	Drain       time.Duration // wait after the window for connections in progress (see EchoConfig.Drain); zero: DefaultDrain
}

// Churn repeatedly connects (from 127.0.0.1–127.0.0.9), echoes one frame and
// closes, keeping Concurrency connections in progress; it reports completed
// connections per second and the connect-to-echo latency.
func Churn(cfg ChurnConfig) (*Result, error) {
	if cfg.Addr == "" {
		return nil, fmt.Errorf("%w: ChurnConfig.Addr is empty", ErrBadConfig)
	}
	if cfg.Codec == "" {
		cfg.Codec = Line
	}
	setDefault(&cfg.Concurrency, 32)
	setDefault(&cfg.Size, 64)
	setDefault(&cfg.Loops, runtime.NumCPU())
	if cfg.Duration == 0 {
		cfg.Duration = 5 * time.Second
	}
	if cfg.Drain <= 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.Concurrency < 0 || cfg.Loops < 0 {
		return nil, fmt.Errorf("%w: negative ChurnConfig field", ErrBadConfig)
	}
	fr, err := NewFramer(cfg.Codec, cfg.Size)
	if err != nil {
		return nil, err
	}
	tg, err := resolve(cfg.Addr)
	if err != nil {
		return nil, err
	}
	var phase atomic.Int32
	base := time.Now()
	n := min(cfg.Loops, cfg.Concurrency)
	loops := make([]*churnLoop, n)
	for i := range loops {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			for _, l := range loops[:i] {
				unix.Close(l.epfd)
			}
			return nil, fmt.Errorf("epoll_create: %w", err)
		}
		k := cfg.Concurrency / n
		if i < cfg.Concurrency%n {
			k++
		}
		l := &churnLoop{epfd: epfd, tg: tg, fr: fr, phase: &phase, base: base, id0: i << 24,
			slots: make([]churnSlot, k), src: i, sa: tg.addr()}
		for j := range l.slots {
			l.slots[j].buf = make([]byte, fr.WireSize())
			l.slots[j].fd = -1
		}
		for j := range l.srcs {
			l.srcs[j] = tg.sourceAddr(j) // made once: no allocation per connection
		}
		loops[i] = l
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
	r := &Result{Mode: "churn", Codec: string(cfg.Codec), Conns: cfg.Concurrency, Size: cfg.Size}
	var h Hist
	for _, l := range loops {
		unix.Close(l.epfd)
		h.Merge(&l.hist)
		r.Msgs += l.msgs
		r.Errors += l.errs
		if r.FirstError == "" {
			r.FirstError = l.firstErr
		}
	}
	w.fill(r)
	r.MBPerSec = r.MsgsPerSec * float64(cfg.Size) / 1e6
	r.setLatency(&h)
	return r, nil
}

type churnSlot struct {
	fd        int
	connected bool
	id        int
	start     int64
	got       int
	buf       []byte
}

type churnLoop struct {
	epfd     int
	tg       target
	sa       unix.Sockaddr // this loop's copy of the server address
	fr       *Framer
	phase    *atomic.Int32
	base     time.Time
	slots    []churnSlot
	id0      int // connection ids of this loop start here
	next     int
	src      int
	srcs     [9]unix.Sockaddr // sourceAddr's, by src mod 9
	now      int64
	measure  bool
	drain    bool // phaseDrain: open nothing new, wait for what is in progress
	hist     Hist
	msgs     int64
	errs     int64
	firstErr string
}

func (l *churnLoop) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer func() {
		for i := range l.slots {
			if l.slots[i].fd >= 0 {
				unix.Close(l.slots[i].fd)
			}
		}
	}()
	l.now = int64(time.Since(l.base))
	for i := range l.slots {
		l.open(i)
	}
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(l.epfd, events, 50)
		if err != nil && err != unix.EINTR {
			l.fail(-1, fmt.Sprintf("epoll_wait: %v", err))
			return
		}
		ph := l.phase.Load()
		if ph == phaseStop {
			return
		}
		l.measure, l.drain = ph == phaseMeasure, ph == phaseDrain
		l.now = int64(time.Since(l.base))
		for _, ev := range events[:max(n, 0)] {
			l.event(int(ev.Fd), ev.Events)
		}
		for i := range l.slots { // retry slots whose connect failed at once
			if l.slots[i].fd < 0 {
				l.open(i)
			}
		}
		if l.drain && l.drained() {
			return
		}
	}
}

// drained reports whether no connection is in progress.
func (l *churnLoop) drained() bool {
	for i := range l.slots {
		if l.slots[i].fd >= 0 {
			return false
		}
	}
	return true
}

// lost reports, once the loop has stopped, every connection still without
// its echo after the drain: the server never accepted or never answered it.
// Its slot did no more work, and without this the run would only count
// fewer connections.
func (l *churnLoop) lost() {
	for i := range l.slots {
		s := &l.slots[i]
		if s.fd < 0 {
			continue
		}
		state := "connect not completed"
		if s.connected {
			state = fmt.Sprintf("%d of %d bytes echoed", s.got, len(s.buf))
		}
		l.fail(-1, fmt.Sprintf("connection %d: no echo (opened %.2f s before the end, %s)",
			s.id, time.Duration(l.now-s.start).Seconds(), state))
	}
}

func (l *churnLoop) fail(slot int, msg string) {
	l.errs++
	if l.firstErr == "" {
		l.firstErr = msg
	}
	if slot >= 0 && l.slots[slot].fd >= 0 {
		unix.Close(l.slots[slot].fd)
		l.slots[slot].fd = -1
	}
}

// open starts a new connection in slot i.
func (l *churnLoop) open(i int) {
	if l.drain {
		return
	}
	s := &l.slots[i]
	l.src++
	fd, err := l.tg.socket(l.srcs[l.src%len(l.srcs)], true)
	if err != nil {
		l.fail(i, err.Error())
		return
	}
	s.fd, s.connected, s.got, s.start = fd, false, 0, l.now
	s.id = l.id0 + l.next
	l.next = (l.next + 1) & (1<<24 - 1)
	if err := unix.Connect(fd, l.sa); err != nil && err != unix.EINPROGRESS {
		l.fail(i, fmt.Sprintf("connect: %v", err))
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(i)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.fail(i, fmt.Sprintf("epoll_ctl: %v", err))
	}
}

func (l *churnLoop) event(i int, events uint32) {
	s := &l.slots[i]
	if s.fd < 0 {
		return
	}
	if !s.connected {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		// Writable without an error or hang-up: connected (the kernel's
		// error is asked for only when there is one).
		if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			msg := "connect: hung up"
			if e, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil {
				msg = fmt.Sprintf("connect: SO_ERROR: %v", err)
			} else if e != 0 {
				msg = fmt.Sprintf("connect: %v (reported by epoll)", unix.Errno(e))
			}
			l.fail(i, msg)
			l.open(i)
			return
		}
		s.connected = true
		out := l.fr.Append(s.buf[:0], s.id, 0)
		if n, err := unix.Write(s.fd, out); err != nil || n != len(out) {
			l.fail(i, fmt.Sprintf("write: %d bytes, %v", n, err))
			l.open(i)
			return
		}
		if events&unix.EPOLLIN == 0 {
			return // the echo cannot be there yet: its EPOLLIN edge comes
		}
	}
	for s.got < len(s.buf) {
		n, err := unix.Read(s.fd, s.buf[s.got:])
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			l.fail(i, fmt.Sprintf("read after %d bytes: closed or %v", s.got, err))
			l.open(i)
			return
		}
		s.got += n
	}
	if !l.fr.Verify(s.buf, s.id, 0) {
		l.fail(i, fmt.Sprintf("echo differs from the frame sent: %q", s.buf))
		l.open(i)
		return
	}
	if l.measure {
		l.msgs++
		l.hist.Record(l.now - s.start)
	}
	unix.Close(s.fd)
	s.fd = -1
	l.open(i)
}
