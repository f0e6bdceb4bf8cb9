package gen

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT: bind the source address but
// choose the port at connect time, so that many connections can share it.
const ipBindAddressNoPort = 24

// target is a resolved server address as a socket address.
type target struct {
	family int
	sa     unix.Sockaddr // a template: use addr(), since unix.Connect writes into it
}

// addr returns a private copy of the socket address.
func (t target) addr() unix.Sockaddr {
	switch sa := t.sa.(type) {
	case *unix.SockaddrInet4:
		c := *sa
		return &c
	case *unix.SockaddrInet6:
		c := *sa
		return &c
	}
	return t.sa
}

func resolve(addr string) (target, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return target{}, fmt.Errorf("%w: address %q: %v", ErrBadConfig, addr, err)
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: ta.Port}
		copy(sa.Addr[:], ip4)
		return target{unix.AF_INET, sa}, nil
	}
	if ta.IP == nil {
		return target{unix.AF_INET, &unix.SockaddrInet4{Port: ta.Port, Addr: [4]byte{127, 0, 0, 1}}}, nil
	}
	sa := &unix.SockaddrInet6{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To16())
	return target{unix.AF_INET6, sa}, nil
}

// sourceAddr returns the i-th source address of the 127.0.0.1–127.0.0.9
// spread, or nil for IPv6 targets (no spread there).
func (t target) sourceAddr(i int) unix.Sockaddr {
	if t.family != unix.AF_INET {
		return nil
	}
	return &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, byte(1 + i%9)}}
}

// socket opens a TCP socket bound to src (may be nil), with TCP_NODELAY.
func (t target) socket(src unix.Sockaddr, nonblock bool) (int, error) {
	typ := unix.SOCK_STREAM | unix.SOCK_CLOEXEC
	if nonblock {
		typ |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(t.family, typ, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if src != nil {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, ipBindAddressNoPort, 1)
		if err := unix.Bind(fd, src); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("bind: %w", err)
		}
	}
	return fd, nil
}

// dial connects a blocking socket; the caller may switch it to non-blocking.
func (t target) dial(src unix.Sockaddr) (int, error) {
	fd, err := t.socket(src, false)
	if err != nil {
		return -1, err
	}
	for {
		err = unix.Connect(fd, t.addr())
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	return fd, nil
}

// dialMany opens n connections with up to par dials at once. spread selects
// source addresses 127.0.0.1–127.0.0.9. On error it closes what it opened.
func (t target) dialMany(n, par int, spread bool) ([]int, error) {
	fds := make([]int, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(par, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				var src unix.Sockaddr
				if spread {
					src = t.sourceAddr(i)
				}
				fd, err := t.dial(src)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d of %d: %w", i+1, n, err)
					}
					mu.Unlock()
					next.Store(int64(n))
					fd = -1
				}
				fds[i] = fd
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		closeAll(fds)
		return nil, firstErr
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		if fd > 0 {
			unix.Close(fd)
		}
	}
}
