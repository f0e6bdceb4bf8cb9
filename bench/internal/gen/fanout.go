package gen

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// FanoutConfig configures fanout (chat) mode.
type FanoutConfig struct {
	PID      int           // server process id, for its CPU time over the window; zero: not measured
	Addr     string        // chat server host:port (required)
	Clients  int           // chat clients; zero: 100
	InFlight int           // messages per client not yet delivered to everyone; zero: 1
	Size     int           // message text bytes; zero: 64
	Warmup   time.Duration // zero: none
	Duration time.Duration // measured window; zero: 5 s
	RawSys   bool          // raw system calls in the hot loop (see sysops); zero: through the scheduler
	Drain    time.Duration // wait after the window for messages in flight (see EchoConfig.Drain); zero: DefaultDrain
}

// Fanout connects Clients chat clients, gives each a name ("c0000", …), then
// has every client send messages, each of which the server must deliver as
// "<name> text" to the Clients−1 others, in order. A client sends its next
// message once an earlier one reached everybody (InFlight outstanding at most).
// It reports deliveries per second and the send-to-delivery latency.
//
// The chat protocol expected: the server prompts for a name on connect,
// answers the name line with a line starting "Welcome", and relays each later
// line as "<NAME> text" to the other clients. Other lines are ignored.
func Fanout(cfg FanoutConfig) (*Result, error) {
	if cfg.Addr == "" {
		return nil, fmt.Errorf("%w: FanoutConfig.Addr is empty", ErrBadConfig)
	}
	setDefault(&cfg.Clients, 100)
	setDefault(&cfg.InFlight, 1)
	setDefault(&cfg.Size, 64)
	if cfg.Duration == 0 {
		cfg.Duration = 5 * time.Second
	}
	if cfg.Drain <= 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.Clients < 2 || cfg.Clients > 10000 || cfg.InFlight < 0 {
		return nil, fmt.Errorf("%w: FanoutConfig.Clients %d must be 2–10000", ErrBadConfig, cfg.Clients)
	}
	fr, err := NewFramer(Line, cfg.Size)
	if err != nil {
		return nil, err
	}
	tg, err := resolve(cfg.Addr)
	if err != nil {
		return nil, err
	}
	fds, err := tg.dialMany(cfg.Clients, 32, false)
	if err != nil {
		return nil, err
	}
	defer closeAll(fds)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create: %w", err)
	}
	defer unix.Close(epfd)
	var phase atomic.Int32
	l := &fanLoop{sys: sysops{raw: cfg.RawSys}, epfd: epfd, fr: fr, p: cfg.InFlight, phase: &phase, base: time.Now(),
		rbuf: make([]byte, 256<<10), maxLine: cfg.Size + 64}
	for i, fd := range fds {
		c := &fanClient{fd: fd, id: i, name: fmt.Sprintf("c%04d", i),
			next: make([]uint64, cfg.Clients), cnt: make([]int32, cfg.InFlight),
			sent: make([]int64, cfg.InFlight)}
		if err := l.join(c); err != nil {
			return nil, fmt.Errorf("client %d: %w", i, err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
		l.clients = append(l.clients, c)
	}
	var wg sync.WaitGroup
	wg.Go(l.run)
	time.Sleep(cfg.Warmup)
	w := window{pid: cfg.PID}
	w.start()
	phase.Store(phaseMeasure)
	time.Sleep(cfg.Duration)
	phase.Store(phaseDrain)
	w.stop()
	drain(&phase, &wg, cfg.Drain)
	l.lost()
	r := &Result{Mode: "fanout", Codec: string(Line), Conns: cfg.Clients, InFlight: cfg.InFlight,
		Size: cfg.Size, Msgs: l.msgs, Errors: l.errs, FirstError: l.firstErr}
	for _, c := range l.clients {
		if !c.dead {
			r.Alive++
		}
	}
	w.fill(r)
	r.MBPerSec = r.MsgsPerSec * float64(cfg.Size) / 1e6
	r.setLatency(&l.hist)
	return r, nil
}

type fanClient struct {
	fd, id int
	name   string
	part   []byte   // partial line
	out    []byte   // queued this round
	pend   []byte   // not taken by the socket
	next   []uint64 // next expected seq from each sender
	acked  uint64   // all of this client's messages below acked reached everyone
	seq    uint64   // next seq to send
	cnt    []int32  // receivers of message seq at cnt[seq%P]
	sent   []int64  // send time of message seq at sent[seq%P]
	dirty  bool
	dead   bool
}

type fanLoop struct {
	sys      sysops
	epfd     int
	fr       *Framer
	p        int
	phase    *atomic.Int32
	base     time.Time
	clients  []*fanClient
	dirty    []*fanClient
	rbuf     []byte
	maxLine  int
	now      int64
	measure  bool
	drain    bool // phaseDrain: send nothing new, wait for what is in flight
	hist     Hist
	msgs     int64
	errs     int64
	firstErr string
}

// join sends the name and waits (blocking, bounded) for the Welcome line.
func (l *fanLoop) join(c *fanClient) error {
	tv := unix.NsecToTimeval((10 * time.Second).Nanoseconds())
	_ = unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if _, err := unix.Write(c.fd, []byte(c.name+"\r\n")); err != nil {
		return fmt.Errorf("sending the name: %w", err)
	}
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i >= 0 {
			line := buf[:i]
			buf = buf[i+1:]
			if bytes.HasPrefix(line, []byte("Welcome")) {
				c.part = append(make([]byte, 0, l.maxLine), buf...)
				return unix.SetNonblock(c.fd, true)
			}
			continue
		}
		if len(buf) > 4096 {
			return fmt.Errorf("no Welcome line in %q", buf)
		}
		n, err := unix.Read(c.fd, tmp)
		if err != nil || n == 0 {
			return fmt.Errorf("waiting for Welcome after %q: closed or %v", buf, err)
		}
		buf = append(buf, tmp[:n]...)
	}
}

func (l *fanLoop) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l.now = int64(time.Since(l.base))
	for _, c := range l.clients {
		for range l.p {
			l.send(c)
		}
	}
	l.flushDirty()
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
			c := l.clients[ev.Fd]
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
		l.flushDirty()
		if l.drain && l.drained() {
			return
		}
	}
}

func (l *fanLoop) fail(c *fanClient, msg string) {
	l.errs++
	if l.firstErr == "" {
		l.firstErr = msg
	}
	if c != nil && !c.dead {
		c.dead = true
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	}
}

func (l *fanLoop) send(c *fanClient) {
	c.sent[c.seq%uint64(l.p)] = l.now
	c.out = l.fr.Append(c.out, c.id, c.seq)
	c.seq++
	if !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, c)
	}
}

func (l *fanLoop) read(c *fanClient) {
	n, err := l.sys.read(c.fd, l.rbuf)
	if n <= 0 {
		if err == unix.EAGAIN || err == unix.EINTR {
			return
		}
		l.fail(c, fmt.Sprintf("client %d: connection closed or %v", c.id, err))
		return
	}
	data := l.rbuf[:n]
	if len(c.part) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(c.part)+len(data) > l.maxLine {
				l.fail(c, fmt.Sprintf("client %d: line longer than %d bytes", c.id, l.maxLine))
				return
			}
			c.part = append(c.part, data...)
			return
		}
		c.part = append(c.part, data[:i]...)
		data = data[i+1:]
		if !l.line(c, c.part) {
			return
		}
		c.part = c.part[:0]
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if !l.line(c, data[:i]) {
			return
		}
		data = data[i+1:]
	}
	if len(data) > l.maxLine {
		l.fail(c, fmt.Sprintf("client %d: line longer than %d bytes", c.id, l.maxLine))
		return
	}
	c.part = append(c.part, data...)
}

// line handles one received line (without "\n") on receiver c.
func (l *fanLoop) line(c *fanClient, line []byte) bool {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 || line[0] != '<' {
		return true // prompts, notices
	}
	end := bytes.IndexByte(line, '>')
	if end < 2 || line[1] != 'c' || len(line) < end+2 || line[end+1] != ' ' {
		l.fail(c, fmt.Sprintf("client %d: unexpected line %.60q", c.id, line))
		return false
	}
	k, ok := atoiBytes(line[2:end])
	if !ok || k >= len(l.clients) || k == c.id {
		l.fail(c, fmt.Sprintf("client %d: bad or own sender in %.60q", c.id, line))
		return false
	}
	text := line[end+2:]
	want := c.next[k]
	if !l.fr.VerifyPayload(text, k, want) {
		l.fail(c, fmt.Sprintf("client %d: message %d from c%04d missing or altered: got %.60q", c.id, want, k, text))
		return false
	}
	c.next[k]++
	s := l.clients[k]
	if l.measure {
		l.msgs++
		l.hist.Record(l.now - s.sent[want%uint64(l.p)])
	}
	s.cnt[want%uint64(l.p)]++
	for s.acked < s.seq && int(s.cnt[s.acked%uint64(l.p)]) == len(l.clients)-1 {
		s.cnt[s.acked%uint64(l.p)] = 0
		s.acked++
		if !s.dead && !l.drain {
			l.send(s)
		}
	}
	return true
}

// drained reports whether every live client's messages reached every other
// client.
func (l *fanLoop) drained() bool {
	for _, s := range l.clients {
		if !s.dead && s.acked < s.seq {
			return false
		}
	}
	return true
}

// lost reports, once the loop has stopped, every client whose oldest
// message has not reached every other client, not even in the drain after
// the window: the server lost it for someone. With one message in flight
// that sender would otherwise just stop sending, silently.
func (l *fanLoop) lost() {
	for _, s := range l.clients {
		if s.dead || s.acked >= s.seq {
			continue
		}
		missing := -1
		for _, c := range l.clients {
			if c != s && c.next[s.id] <= s.acked {
				missing = c.id
				break
			}
		}
		sent := s.sent[s.acked%uint64(l.p)]
		l.fail(nil, fmt.Sprintf("message %d of c%04d never delivered to all (sent %.2f s before the end, %d of %d clients got it, c%04d did not)",
			s.acked, s.id, time.Duration(l.now-sent).Seconds(), s.cnt[s.acked%uint64(l.p)], len(l.clients)-1, missing))
	}
}

func (l *fanLoop) flushDirty() {
	for _, c := range l.dirty {
		c.dirty = false
		if c.dead || len(c.out) == 0 {
			c.out = c.out[:0]
			continue
		}
		if len(c.pend) > 0 {
			c.pend = append(c.pend, c.out...)
		} else {
			n, err := l.sys.write(c.fd, c.out)
			if err != nil && err != unix.EAGAIN && err != unix.EINTR {
				l.fail(c, fmt.Sprintf("client %d: write: %v", c.id, err))
			} else if n = max(n, 0); n < len(c.out) {
				c.pend = append(c.pend, c.out[n:]...)
				ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLOUT, Fd: int32(c.id)}
				_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
			}
		}
		c.out = c.out[:0]
	}
	l.dirty = l.dirty[:0]
}

func (l *fanLoop) flush(c *fanClient) {
	if len(c.pend) == 0 {
		return
	}
	n, err := l.sys.write(c.fd, c.pend)
	if err != nil && err != unix.EAGAIN && err != unix.EINTR {
		l.fail(c, fmt.Sprintf("client %d: write: %v", c.id, err))
		return
	}
	rest := copy(c.pend, c.pend[max(n, 0):])
	c.pend = c.pend[:rest]
	if rest == 0 {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.id)}
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
	}
}

// atoiBytes parses a short decimal number without allocating.
func atoiBytes(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
