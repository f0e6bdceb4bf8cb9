package server

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/weftkit/weft"
)

// The descriptor accept path. With an Engine, on a plain TCP listener (no
// TLS, no PROXY protocol) and without MaxConns, every connection runs at
// once, so the server needs no net.Conn for it: the accept loop takes
// descriptors with accept4 and hands them to the engine with weft.NewConnFD.
// That saves the net.Conn, its netFD and addresses (garbage the GC would
// collect later, which idle-connection memory carries), and the system calls
// of registering the socket in Go's netpoller and handing it over. A
// connection refused by admission (MaxConnsPerPeer, shutdown) is turned into
// a net.Conn and takes the usual path, which writes the reject message; one
// whose Factory returns nil (or that the server's close overtakes while it
// is set up) is closed here (runFD).

// fdAcceptable reports whether ls can use the descriptor accept path, and
// prepares it: a pollable duplicate of the listening socket.
func (s *Server) fdAcceptable(ls *listenerState) bool {
	if ls.tls != nil || len(ls.proxy) > 0 || s.MaxConns > 0 {
		return false
	}
	tl, ok := ls.l.(*net.TCPListener)
	if !ok || s.engineFor(true) == nil {
		return false
	}
	// A duplicate of the listening socket, registered in the runtime
	// poller (File keeps the non-blocking flag), to wait on; the original
	// is still checked on every wake-up, so that closing l stops Serve as
	// it does on the net.Conn path.
	f, err := tl.File()
	if err != nil {
		return false
	}
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close() // not pollable: keep the usual path
		return false
	}
	ls.fdFile = f
	return true
}

// fdAcceptCheck bounds how long the descriptor accept loop waits before it
// looks whether the listener was closed behind its back (by l.Close rather
// than Shutdown or Close, which wake it at once).
const fdAcceptCheck = 500 * time.Millisecond

// acceptLoopFD is acceptLoop on the listener's descriptor.
func (s *Server) acceptLoopFD(ls *listenerState) error {
	rc, err := ls.fdFile.SyscallConn()
	if err != nil {
		return err
	}
	lrc, err := ls.l.(*net.TCPListener).SyscallConn()
	if err != nil {
		return err
	}
	noop := func(uintptr) {}
	laddr := ls.l.Addr().(*net.TCPAddr)
	sameLocal := !laddr.IP.IsUnspecified() // else ask each socket
	opts := sockOpts{list: sockOptList(keepAliveConfig(s.KeepAlive))}
	lrc.Control(func(lfd uintptr) { opts.primed = setSockOpts(int(lfd), opts.list) })
	var delay time.Duration
	for {
		var aerr error
		ls.fdFile.SetReadDeadline(time.Now().Add(fdAcceptCheck))
		err := rc.Read(func(lfd uintptr) bool {
			if err := lrc.Control(noop); err != nil {
				aerr = err // the listener was closed
				return true
			}
			for {
				fd, remote, err := accept4(int(lfd))
				switch err {
				case nil:
				case syscall.EAGAIN:
					return false // wait for the next connection
				case syscall.EINTR, syscall.ECONNABORTED:
					continue
				default:
					aerr = os.NewSyscallError("accept4", err)
					return true
				}
				delay = 0
				s.stats.accepted.Add(1)
				opts.apply(fd)
				var local net.Addr = laddr
				ownLocal := false // local is the listener's, not this socket's own
				if !sameLocal {
					if la, err := localAddr(fd); err == nil {
						local, ownLocal = la, true
					}
				}
				if !s.acceptedFD(fd, local, remote, ownLocal, ls) {
					aerr = ErrServerClosed
					return true
				}
			}
		})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if cerr := lrc.Control(noop); cerr != nil {
				err = cerr
			} else {
				continue
			}
		}
		if err == nil {
			err = aerr
		}
		if err == nil {
			continue
		}
		if errors.Is(err, ErrServerClosed) {
			return ErrServerClosed
		}
		retry := errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
			errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
		if err := s.acceptFailed(ls, err, retry, &delay); err != nil {
			return err
		}
	}
}

// sockOpts gives the sockets the descriptor path accepts their options:
// TCP_NODELAY, as package net sets on every TCP connection, and the
// keep-alive of Server.KeepAlive (sockOptList). Linux copies a listening
// socket's options into the sockets it accepts, so they are set once on the
// listener and an accepted socket costs no system call for them: five per
// connection before, 4 % of the server's CPU in the churn benchmark (S6).
// That the kernel copies them is checked, not assumed: until an accepted
// socket is seen to have them all, each is given them itself. Sockets the
// kernel made before the listener had them (a backlog waiting when Serve
// began, as under socket activation) lack them and are given them; the
// accept queue is first in, first out, so once one has them, all later ones
// do. It belongs to one accept loop.
type sockOpts struct {
	list      []sockOpt
	primed    bool // the listener has them
	inherited bool // an accepted socket was seen to have them all
	misses    int  // accepted sockets seen without them
}

// sockOpt is one socket option and its value.
type sockOpt struct{ level, opt, v int }

// sockOptList is the options the descriptor path's sockets get for ka:
// TCP_NODELAY first (see hasSockOpts), then keep-alive as ka says, off
// included.
func sockOptList(ka net.KeepAliveConfig) []sockOpt {
	l := []sockOpt{{syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1}}
	if !ka.Enable {
		return append(l, sockOpt{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 0})
	}
	return append(l,
		sockOpt{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(seconds(ka.Idle))},
		sockOpt{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, int(seconds(ka.Interval))},
		sockOpt{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, ka.Count},
		sockOpt{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1})
}

// maxOptChecks bounds the accepted sockets checked for inherited options
// (one getsockopt each when they lack them): a full backlog at most, at
// Linux's default somaxconn.
const maxOptChecks = 4096

// apply gives the accepted socket fd its options, unless it has them from
// the listener. Errors are ignored, as package net ignores them on Accept.
func (o *sockOpts) apply(fd int) {
	if o.inherited {
		return
	}
	if o.primed && o.misses < maxOptChecks {
		if hasSockOpts(fd, o.list) {
			o.inherited = true
			return
		}
		o.misses++
	}
	setSockOpts(fd, o.list)
}

// setSockOpts sets every option of list on the socket fd (on the listening
// socket: for its accepted sockets to inherit) and reports whether all were
// set.
func setSockOpts(fd int, list []sockOpt) bool {
	ok := true
	for _, o := range list {
		ok = syscall.SetsockoptInt(fd, o.level, o.opt, o.v) == nil && ok
	}
	return ok
}

// hasSockOpts reports whether the socket fd has every option of list. The
// first, TCP_NODELAY, is read first: a socket made before the listener had
// them costs one system call.
func hasSockOpts(fd int, list []sockOpt) bool {
	for _, o := range list {
		if v, err := syscall.GetsockoptInt(fd, o.level, o.opt); err != nil || v != o.v {
			return false
		}
	}
	return true
}

// acceptedFD admits an accepted descriptor and starts serving it; false
// means the server is closing (fd is closed). ownLocal says local was made
// for this socket (localAddr), not shared.
func (s *Server) acceptedFD(fd int, local, remote net.Addr, ownLocal bool, ls *listenerState) bool {
	id, ok := s.track(nil, ls)
	if !ok {
		syscall.Close(fd)
		s.closedUntracked()
		return false
	}
	ip := ipOf(remote)
	adm, _ := s.admit(id, ip, nil) // never queued: no MaxConns here
	if adm != admitRun {
		// Refused (per-peer limit, shutdown): the usual path, which writes
		// the reject message and counts the reason, needs a net.Conn.
		nc, err := fdConnOf(fd)
		if err != nil {
			// Accepted, then lost: it reaches the hook and the close
			// counts like any other connection.
			info := ConnInfo{ID: id, LocalAddr: local, RemoteAddr: remote}
			s.hook(info, StateNew)
			s.finish(info, err)
			s.releaseListener(ls)
			s.wg.Done()
			return true
		}
		if !s.addPending(id, nc) {
			// Close or Shutdown began since track and could not see it:
			// closed here, as they would have (handle then ends it as
			// refused, counted under its reason).
			nc.Close()
		}
		go s.handle(id, nc, ls, &admitted{adm: adm})
		return true
	}
	j := fdSetup{id: id, fd: fd, local: local, remote: remote, ownLocal: ownLocal, ls: ls, ip: ip}
	if s.setups.Add(1) > maxSetups {
		// Setting up faster than the connections start: do it here, which
		// also slows accepting down. Goroutines waiting to run (each with
		// its stack) piled up otherwise while the server's CPU was busy,
		// and stayed in its memory.
		s.setup(j)
		return true
	}
	select {
	case s.setupCh <- j: // an idle setup goroutine takes it
		return true
	default:
	}
	// None is idle. Those at work are most often runnable and about to be
	// idle again (the accept loop ran ahead of them on a busy CPU): let
	// them run once before starting another. A burst of connects started
	// a setup goroutine for most of them otherwise, up to maxSetups, whose
	// stacks stayed in the server's memory after they exited.
	runtime.Gosched()
	select {
	case s.setupCh <- j:
	default:
		s.wg.Add(1) // the connection's own count is held: not zero here
		go s.setupLoop(j)
	}
	return true
}

// addPending registers nc as pending under id, a connection that track
// registered without one (the descriptor path) and that admit refused, so
// that Close and Shutdown's deadline close it (a rejected one lingering
// after RejectMessage, say) instead of waiting for it. It is spared (see
// sparedConn): a graceful Shutdown lets its linger end. It reports false,
// registering nothing, when the server is closing: the caller then closes
// nc itself.
func (s *Server) addPending(id uint64, nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.pending[id] = sparedConn{nc}
	return true
}

// fdSetup is a descriptor-path connection to set up.
type fdSetup struct {
	id            uint64
	fd            int
	local, remote net.Addr
	ownLocal      bool // local was made for this socket (see acceptedFD)
	ls            *listenerState
	ip            ipKey
}

// maxSetups bounds the descriptor-path connections set up at once on
// goroutines of their own (the Factory's BuildProtocol may take its time).
const maxSetups = 64

// setupIdle is how long a setup goroutine waits for the next connection
// before it exits.
const setupIdle = 5 * time.Second

// setup runs runFD for j and releases its setup slot.
func (s *Server) setup(j fdSetup) {
	s.runFD(j)
	s.setups.Add(-1)
}

// setupLoop sets up j, then the connections the accept loop hands it while
// it is idle, until it has waited setupIdle for one or the server closes.
// Reusing the goroutines saves a goroutine per accepted connection and the
// growth of its stack (2.5 % of the server's CPU in the churn benchmark).
func (s *Server) setupLoop(j fdSetup) {
	defer s.wg.Done()
	workLoop(j, s.setup, s.setupCh, s.done, setupIdle)
}

// runFD is handle and run for a descriptor admitted to run.
func (s *Server) runFD(j fdSetup) {
	fd, local, remote, ls, ip := j.fd, j.local, j.remote, j.ls, j.ip
	info := ConnInfo{ID: j.id, LocalAddr: local, RemoteAddr: remote}
	s.hook(info, StateNew)
	if s.debugLog() {
		s.log.Debug("server: accepted", "id", info.ID, "remote", addrString(remote))
	}
	// Without a hook, nothing but this function sees local, and remote
	// too when the Factory is not given it: they are recycled once the
	// connection is set up (NewConnFD copies or packs them).
	hookless := s.ConnState == nil
	recycle := func() {
		if hookless && ignoresAddr(s.Factory) {
			recycleAddr(remote)
		}
		if hookless && j.ownLocal {
			recycleAddr(local)
		}
	}
	abandon := func(err error) {
		syscall.Close(fd)
		s.releaseSlot(ip, false)
		s.finish(info, err)
		s.releaseListener(ls)
		s.wg.Done()
		recycle()
	}
	p, err := s.build(s.Factory, remote)
	if err != nil {
		abandon(err)
		return
	}
	if p == nil {
		s.stats.rejected[rejRefused].Add(1)
		abandon(ErrRefused)
		return
	}
	c := newConn(j.id, p, ls, false)
	wc, err := weft.NewConnFD(fd, local, remote, (*managed)(c), &s.fdOpts)
	if err != nil {
		abandon(err)
		return
	}
	c.wc = wc
	if s.isClosing() {
		abandon(weft.ErrServerShutdown)
		return
	}
	s.stats.active.Add(1)
	s.hook(info, StateActive)
	if s.debugLog() {
		s.log.Debug("server: active", "id", info.ID, "remote", addrString(remote), "overflow", false)
	}
	recycle()
	c.wc.Start(nil) // ends in managed.InternalWeftEnded
}

// fdConnOf is fdConn; tests replace it to make it fail.
var fdConnOf = fdConn

// fdConn turns an accepted descriptor into a net.Conn (and closes fd).
func fdConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "weft-accepted")
	defer f.Close()
	return net.FileConn(f)
}

// tcpAddr4Box and tcpAddr6Box hold a peer's *net.TCPAddr and its IP in one
// object (64 bytes), as tcpAddr4 and tcpAddr6 make them. The accept path
// makes one per connection for BuildProtocol and the ConnState hook, and the
// connection keeps only a packed copy. As two objects, the address fell in
// the 48-byte size class of the server's live per-connection object, and
// once collected left holes in its spans that idle connections' memory kept
// resident (S5). An IPv4 one that nothing else can hold is recycled
// (recycleAddr).
type tcpAddr4Box struct {
	a  net.TCPAddr
	ip [4]byte
}

type tcpAddr6Box struct {
	a  net.TCPAddr
	ip [16]byte
}

// addr4Pool holds the IPv4 addresses runFD recycled.
var addr4Pool = sync.Pool{New: func() any { return new(tcpAddr4Box) }}

// tcpAddr4 returns ip:port as a *net.TCPAddr made in one allocation, or
// recycled.
func tcpAddr4(ip [4]byte, port int) *net.TCPAddr {
	b := addr4Pool.Get().(*tcpAddr4Box)
	b.ip = ip
	b.a = net.TCPAddr{IP: b.ip[:], Port: port}
	return &b.a
}

// recycleAddr puts back an address that accept4 or localAddr made, once
// nothing can hold it: for the peer's, the Factory was not given it
// (weft.AddrIgnorer); for both, no ConnState hook saw it, and
// weft.NewConnFD keeps an IPv4 TCP address packed (remote) or copied
// (local), not the pointer. Without it every accepted connection left its
// address as garbage, which, until the next collection, idle connections'
// memory carried (30–40 bytes per connection in S5). a must come from
// accept4 or localAddr (tcpAddr4, tcpAddr6 or an empty address): an IPv4
// one is a tcpAddr4Box whose IP is its own array. That is checked on the
// addresses as numbers before a is taken for a box: a pointer past a plain
// *net.TCPAddr would leave its object.
func recycleAddr(a net.Addr) {
	ta, ok := a.(*net.TCPAddr)
	if !ok || len(ta.IP) != net.IPv4len ||
		uintptr(unsafe.Pointer(unsafe.SliceData(ta.IP))) != uintptr(unsafe.Pointer(ta))+unsafe.Offsetof(tcpAddr4Box{}.ip) {
		return
	}
	b := (*tcpAddr4Box)(unsafe.Pointer(ta))
	*b = tcpAddr4Box{}
	addr4Pool.Put(b)
}

// tcpAddr6 makes an IPv6 TCP address; a non-zero zone is an interface index.
func tcpAddr6(ip [16]byte, port int, zone uint32) *net.TCPAddr {
	b := &tcpAddr6Box{ip: ip}
	a := &b.a
	a.IP, a.Port = b.ip[:], port
	if zone != 0 {
		if ifi, err := net.InterfaceByIndex(int(zone)); err == nil {
			a.Zone = ifi.Name
		}
	}
	return a
}
