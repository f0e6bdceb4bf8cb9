package weft

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Engine is a readiness engine: one epoll instance watching many sockets, so
// that an idle connection costs no goroutine and no buffer — only its Conn.
// The engine takes each connection's descriptor out of its net.Conn and
// registers it once (edge-triggered, for input and output). When a socket
// becomes ready, its connection goes on a run queue served by a pool of
// worker goroutines: a worker reads into its own buffer, runs the callbacks,
// writes what they wrote in one system call, and moves on. At most one worker
// owns a connection at a time, so callbacks stay ordered and never
// concurrent; and whenever connections are queued, one worker is kept free to
// take them, so a callback that blocks (a database call, a sleep) delays only
// its own connection while the pool grows by one (up to 1024 workers). The
// epoll descriptor is itself parked in Go's netpoller, so the engine needs
// no thread of its own.
//
// Create one with NewEngine, pass it in Options.Engine (the server does this
// for its connections), and Close it when no connection uses it any more.
// Connections that are not sockets (net.Pipe, TLS) are served by a goroutine
// whatever Options.Engine says, and a connection whose Protocol calls
// StartTLS leaves the engine for a goroutine of its own (crypto/tls blocks).
type Engine struct {
	epfd int
	file *os.File

	mu     sync.Mutex
	conns  fdTable // by descriptor
	gen    uint32
	closed bool // Close was called: register refuses

	events [128]syscall.EpollEvent
	ready  []*Conn // the poller's scratch list
	wg     sync.WaitGroup

	pool workerPool
}

// workerPool runs queued connections. Its invariant ("one spare"): while the
// queue is not empty, at least one worker is awake and not committed to a
// connection, so a worker whose callback blocks never holds up the queue.
// Past maxIdle+freeSpawns workers, new ones start at most one per spawnGap
// (and never past maxWorkers): a worker blocked for a moment on a lock (thousands of
// closing connections waiting for the server's registry while its holder
// was preempted) then costs at most a few more workers, where the plain rule
// started one per queued connection, each with its read buffer.
type workerPool struct {
	mu        sync.Mutex
	cond      sync.Cond
	q         []*Conn
	head      int
	idle      int // parked workers
	spare     int // awake workers not running a connection
	workers   int // all workers
	maxIdle   int
	lastSpawn time.Time // when the last worker past maxIdle started
	retry     bool      // a timer will call ensureSpareLocked again
	closed    bool
	wg        sync.WaitGroup
}

// Past maxIdle+freeSpawns workers, new ones start at most one per spawnGap.
// Below, they start at once: a few dozen callbacks that sleep now and then
// (the benchmarks' blocking scenario) keep workers coming and going, and
// pacing them added milliseconds to everyone's latency.
const (
	freeSpawns = 64
	spawnGap   = time.Millisecond
)

// NewEngine starts a readiness engine.
func NewEngine() (*Engine, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("weft: epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("weft: epoll nonblock: %w", err)
	}
	e := &Engine{epfd: epfd, file: os.NewFile(uintptr(epfd), "weft-epoll")}
	e.pool.cond.L = &e.pool.mu
	e.pool.maxIdle = 4 + runtime.GOMAXPROCS(0)
	rc, err := e.file.SyscallConn()
	if err != nil {
		e.file.Close()
		return nil, fmt.Errorf("weft: epoll: %w", err)
	}
	e.wg.Add(1)
	go e.poll(rc)
	return e, nil
}

// Close stops the engine: it ends the connections still registered (their
// ConnectionLost receives ErrServerShutdown, their output is discarded; one
// handed to a goroutine by StartTLS is no longer the engine's),
// then stops its poller and, once the run queue is empty, its workers.
// Connections given to it after Close are served by a goroutine (Start), or
// fail (NewConnFD's Start calls done with the error).
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	live := e.conns.all()
	e.mu.Unlock()
	// Their runners close their descriptors on the workers, which drain
	// the run queue before they exit.
	for _, c := range live {
		c.Close(ErrServerShutdown)
	}
	err := e.file.Close()
	e.wg.Wait()
	p := &e.pool
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// poll harvests epoll events whenever Go's netpoller says the epoll descriptor
// is readable.
func (e *Engine) poll(rc syscall.RawConn) {
	defer e.wg.Done()
	rc.Read(func(fd uintptr) bool {
		for {
			n, err := epollWaitNow(int(fd), e.events[:])
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n <= 0 {
				return false // wait for the next edge
			}
			e.dispatch(e.events[:n])
			if n < len(e.events) {
				return false
			}
		}
	})
}

const hangupEvents = syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR

func (e *Engine) dispatch(evs []syscall.EpollEvent) {
	e.mu.Lock()
	for i := range evs {
		ev := &evs[i]
		c := e.conns.get(int(ev.Fd))
		if c == nil || c.gen != uint32(ev.Pad) {
			continue // a stale event for a closed descriptor
		}
		if ev.Events&(syscall.EPOLLIN|hangupEvents) != 0 {
			in := uint32(fIn)
			if ev.Events&hangupEvents != 0 {
				in |= fHup
			}
			c.flags.Or(in)
		}
		e.ready = append(e.ready, c) // scheduled below, outside the table lock
	}
	e.mu.Unlock()
	for i, c := range e.ready {
		c.schedule()
		e.ready[i] = nil
	}
	e.ready = e.ready[:0]
}

// errFlushing keeps a connection whose output is still being written through
// its net.Conn on the goroutine engine (Start hands it over otherwise).
var errFlushing = errors.New("weft: output still being written")

// errTLSPending keeps a connection whose switch to TLS, asked for before
// Start, waits on the goroutine engine, which makes the switch (a
// connection the engine runs would only be handed back, handOff).
var errTLSPending = errors.New("weft: a switch to TLS waits")

// add takes c's descriptor (a duplicate; the net.Conn is closed), registers it
// and schedules ConnectionMade. On an error c stays with its net.Conn.
func (e *Engine) add(c *Conn) error {
	nio := c.nio
	fd := -1
	var derr error
	cerr := nio.rc.Control(func(s uintptr) {
		fd, derr = dupCloexec(int(s))
	})
	if cerr != nil {
		return cerr
	}
	if derr != nil {
		return fmt.Errorf("weft: dup: %w", derr)
	}
	if fd < 0 || fd > maxFD {
		return errNoFD
	}
	c.mu.Lock()
	if c.is(bSockClosed) {
		c.mu.Unlock()
		syscall.Close(fd)
		return ErrClosed
	}
	if c.is(bFlushing) {
		// Output written before Start is still going out through the
		// net.Conn (a flusher goroutine may be blocked in its Write):
		// the connection stays with the goroutine engine.
		c.mu.Unlock()
		syscall.Close(fd)
		return errFlushing
	}
	if c.tlsPendingLocked() {
		// StartTLS was called before Start: only the goroutine engine
		// switches to TLS.
		c.mu.Unlock()
		syscall.Close(fd)
		return errTLSPending
	}
	c.nio, c.fd = nil, int32(fd)
	// Until fd is registered the connection counts as queued: a close, a
	// write or a ResumeReading from another goroutine (which schedule the
	// runner) only mark it pending, and the first turn, queued below, does
	// what they asked. A runner started meanwhile would close fd under
	// register, and a failed register would then close it again and serve
	// the connection a second time on a goroutine.
	c.rs.Store(rsRunning)
	c.mu.Unlock()
	if err := e.register(c); err != nil {
		c.mu.Lock()
		c.nio, c.fd = nio, -1
		c.rs.Store(0)
		// What came meanwhile was meant for the engine: a close did not
		// close the net.Conn, a write left its flush to the runner.
		closed, rst := c.is(bSockClosed), c.is(bRst)
		c.bits &^= bSockClosed
		queued := c.is(bFlushQueued)
		c.bits &^= bFlushQueued
		start := queued && c.startFlushLocked()
		c.mu.Unlock()
		syscall.Close(fd)
		if closed {
			c.closeSocket(rst)
		} else if start {
			c.flush()
		}
		return err
	}
	nio.nc.Close()  // its descriptor only; the socket lives on in fd
	c.flags.Or(fIn) // read once: the net.Conn's owner may have left bytes behind
	e.enqueue(c)    // rs is rsRunning (see above)
	return nil
}

// addFD registers a connection made by NewConnFD; the caller then queues
// its first turn (ConnectionMade), or on an error closes the descriptor.
func (e *Engine) addFD(c *Conn) error { return e.register(c) }

// checkFDAbove is the descriptor number from which register checks that the
// descriptor is open before growing the table for it; below it the table
// holds at most 512 KiB.
const checkFDAbove = 1 << 16

// descriptorOpen reports whether fd is an open descriptor.
func descriptorOpen(fd int) bool {
	_, _, errno := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	return errno == 0
}

// register puts c (its descriptor set) in the table and the epoll set.
func (e *Engine) register(c *Conn) error {
	fd := int(c.fd)
	if fd >= checkFDAbove && !descriptorOpen(fd) {
		// A bogus number (NewConnFD given a closed descriptor) would grow
		// the table to its size before epoll_ctl refused it: up to 8 GiB
		// for 1<<30. Numbers this high are rare, so the check costs one
		// system call only where it matters.
		return fmt.Errorf("weft: descriptor %d: %w", fd, syscall.EBADF)
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	e.gen++
	c.gen = e.gen
	e.conns.set(fd, c)
	e.mu.Unlock()
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | (syscall.EPOLLET & 0xffffffff),
		Fd:     int32(fd),
		Pad:    int32(c.gen),
	}
	if err := epollAdd(e.epfd, fd, &ev); err != nil {
		e.remove(c)
		return fmt.Errorf("weft: epoll_ctl: %w", err)
	}
	return nil
}

// dupCloexec duplicates fd with close-on-exec set (the duplicate shares the
// socket and its non-blocking flag).
func dupCloexec(fd int) (int, error) {
	for {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(r), nil
	}
}

// remove forgets c before its descriptor is closed (closing the descriptor
// removes it from the epoll set: it is never shared with another process, as
// it is close-on-exec).
func (e *Engine) remove(c *Conn) {
	e.mu.Lock()
	e.conns.remove(int(c.fd), c)
	e.mu.Unlock()
}

// release forgets c, whose descriptor fd leaves the engine for a net.Conn
// made on a duplicate (handOff); the caller then closes fd. The duplicate
// keeps the socket, and so its epoll entry, alive: the entry is removed
// here, or the socket's events would keep waking the poller. Not once the
// engine is closed: its epoll descriptor, closed or about to be (after
// closed is set), might by then be another file's.
func (e *Engine) release(c *Conn, fd int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.conns.remove(fd, c)
	if !e.closed {
		epollDel(e.epfd, fd)
	}
}

// fdConn makes a net.Conn on a duplicate of the socket descriptor fd, which
// stays the caller's.
func fdConn(fd int) (net.Conn, error) {
	dup, err := dupCloexec(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "weft-socket")
	nc, err := net.FileConn(f) // another duplicate, in Go's netpoller
	f.Close()
	return nc, err
}

// enqueue puts a scheduled connection on the run queue.
func (e *Engine) enqueue(c *Conn) {
	p := &e.pool
	p.mu.Lock()
	if p.closed {
		// The engine was closed under a connection still in use: serve
		// this turn (a close, a flush) on a goroutine of its own.
		p.mu.Unlock()
		go runAlone(c)
		return
	}
	p.q = append(p.q, c)
	p.ensureSpareLocked(e)
	p.mu.Unlock()
}

// runAlone runs c's turns outside the pool.
func runAlone(c *Conn) {
	var buf *[]byte
	for c.run(&buf) {
	}
	putBuf(buf)
}

// ensureSpareLocked keeps the one-spare invariant: it wakes a parked worker or
// starts one unless a worker is already free to take the queue's head.
func (p *workerPool) ensureSpareLocked(e *Engine) {
	if p.spare > 0 {
		return
	}
	if p.idle > 0 {
		p.spare++
		p.idle--
		p.cond.Signal()
		return
	}
	if p.workers >= maxWorkers {
		return // no spare: the queue waits for a running worker
	}
	if p.workers >= p.maxIdle+freeSpawns {
		now := time.Now()
		if wait := spawnGap - now.Sub(p.lastSpawn); wait > 0 {
			if !p.retry {
				p.retry = true
				time.AfterFunc(wait, func() {
					p.mu.Lock()
					p.retry = false
					if p.head < len(p.q) && !p.closed {
						p.ensureSpareLocked(e)
					}
					p.mu.Unlock()
				})
			}
			return
		}
		p.lastSpawn = now
	}
	p.spare++
	p.workers++
	p.wg.Add(1)
	go e.work()
}

// maxWorkers bounds an engine's workers, so at most this many callbacks can
// block at once without delaying other connections; past it, ready
// connections wait for a worker to come free. Each worker is a goroutine,
// with a read buffer while it reads.
var maxWorkers = 1024 // a variable for tests

// work is a worker: it runs queued connections, one at a time.
func (e *Engine) work() {
	p := &e.pool
	defer p.wg.Done()
	var buf *[]byte
	p.mu.Lock()
	for {
		for p.head == len(p.q) {
			p.spare--
			if p.closed || p.idle >= p.maxIdle {
				p.workers--
				p.mu.Unlock()
				putBuf(buf)
				return
			}
			// A parked worker keeps its buffer: at most maxIdle of them
			// wait, and handing it back to a sync.Pool on every park
			// made the pool allocate anew after each GC.
			p.idle++
			p.cond.Wait() // the waker moved us from idle to spare
		}
		c := p.q[p.head]
		p.q[p.head] = nil
		p.head++
		if p.head == len(p.q) {
			p.q, p.head = p.q[:0], 0
		}
		p.spare--
		if p.head < len(p.q) {
			p.ensureSpareLocked(e)
		}
		p.mu.Unlock()

		requeue := c.run(&buf) // takes buf when it reads

		p.mu.Lock()
		p.spare++
		if requeue {
			p.q = append(p.q, c)
		}
	}
}

// sysRead and sysWrite are read(2) and write(2) on a non-blocking socket,
// made without telling the scheduler a system call is in progress (the
// descriptor never blocks, so the call returns in microseconds). With
// syscall.Read and syscall.Write, a copy of a large frame through loopback
// could outlast two sysmon ticks; sysmon then hands the worker's P to another
// thread, and under load on a pinned CPU these hand-offs, and sysmon's own
// 20 µs wake-ups that they keep going, took a fifth of the server's CPU time
// (perf, S3 of the benchmarks).
func sysRead(fd int, p []byte) (int, error) { return rawRW(syscall.SYS_READ, fd, p) }

func sysWrite(fd int, p []byte) (int, error) { return rawRW(syscall.SYS_WRITE, fd, p) }

// rawRW makes read(2) or write(2) (trap) as a raw system call.
func rawRW(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	r, _, errno := syscall.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// epollWaitNow is epoll_wait with a zero timeout, made as a raw system call:
// it never blocks (the wait is Go's netpoller's), so it needs no
// entersyscall/exitsyscall.
func epollWaitNow(epfd int, events []syscall.EpollEvent) (int, error) {
	r, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// epollAdd is epoll_ctl(EPOLL_CTL_ADD) as a raw system call, and sysClose
// close(2): neither blocks on the engine's non-blocking sockets (no
// SO_LINGER timeout is ever set), and as a Syscall each would tell the
// scheduler about a call that ends at once, which wakes sysmon (see
// sysRead). Both are made for every connection.
func epollAdd(epfd, fd int, ev *syscall.EpollEvent) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(epfd), syscall.EPOLL_CTL_ADD,
		uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// epollDel is epoll_ctl(EPOLL_CTL_DEL); see epollAdd.
func epollDel(epfd, fd int) {
	syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(epfd), syscall.EPOLL_CTL_DEL, uintptr(fd), 0, 0, 0)
}

// sysClose closes fd; see epollAdd.
func sysClose(fd int) { syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0) }
