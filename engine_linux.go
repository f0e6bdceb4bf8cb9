package weft

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Engine is a readiness engine: one epoll instance watching many sockets, so
// that an idle connection costs no goroutine and no buffer — only its Conn.
// When a socket becomes readable a goroutine runs that connection's callbacks
// until the socket is drained; connections are independent, so a callback that
// blocks delays only its own connection. Writes go out exactly as with the
// goroutine engine (inline, non-blocking; a backed-up remainder is written by a
// short-lived goroutine). The epoll descriptor is itself parked in Go's
// netpoller, so the engine needs no thread of its own.
//
// Create one with NewEngine, pass it in Options.Engine (the server does this
// for its connections), and Close it when no connection uses it any more.
type Engine struct {
	epfd int
	file *os.File

	mu    sync.Mutex
	conns map[int32]*Conn
	gen   uint32

	events [128]syscall.EpollEvent
	wg     sync.WaitGroup
}

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
	e := &Engine{epfd: epfd, file: os.NewFile(uintptr(epfd), "weft-epoll"), conns: make(map[int32]*Conn)}
	rc, err := e.file.SyscallConn()
	if err != nil {
		e.file.Close()
		return nil, fmt.Errorf("weft: epoll: %w", err)
	}
	e.wg.Add(1)
	go e.poll(rc)
	return e, nil
}

// Close stops the engine. Connections still registered stop receiving read
// events; close them first.
func (e *Engine) Close() error {
	err := e.file.Close()
	e.wg.Wait()
	return err
}

// poll harvests epoll events whenever Go's netpoller says the epoll descriptor
// is readable.
func (e *Engine) poll(rc syscall.RawConn) {
	defer e.wg.Done()
	rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), e.events[:], 0)
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

func (e *Engine) dispatch(evs []syscall.EpollEvent) {
	for i := range evs {
		ev := &evs[i]
		e.mu.Lock()
		c := e.conns[ev.Fd]
		e.mu.Unlock()
		if c == nil || c.gen != uint32(ev.Pad) {
			continue // a stale event for a closed descriptor
		}
		if ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			c.hup.Store(true)
		}
		c.schedule()
	}
}

var errNoFD = errors.New("weft: connection has no descriptor")

// add registers c (a socket) and schedules its ConnectionMade.
func (e *Engine) add(c *Conn) error {
	c.fd = -1
	c.rc.Control(func(fd uintptr) { c.fd = int(fd) })
	if c.fd < 0 {
		return errNoFD
	}
	c.engineReadFn = c.engineRead
	e.mu.Lock()
	e.gen++
	c.gen = e.gen
	e.conns[int32(c.fd)] = c
	e.mu.Unlock()
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | (syscall.EPOLLET & 0xffffffff),
		Fd:     int32(c.fd),
		Pad:    int32(c.gen),
	}
	if err := syscall.EpollCtl(e.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		e.mu.Lock()
		delete(e.conns, int32(c.fd))
		e.mu.Unlock()
		return fmt.Errorf("weft: epoll_ctl: %w", err)
	}
	c.schedule()
	return nil
}

// remove unregisters c; called before its socket is closed.
func (e *Engine) remove(c *Conn) {
	e.mu.Lock()
	if e.conns[int32(c.fd)] == c {
		delete(e.conns, int32(c.fd))
	}
	e.mu.Unlock()
	syscall.EpollCtl(e.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
}
