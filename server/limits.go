package server

import (
	"container/list"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/weftkit/weft"
)

// admission is the outcome of admit.
type admission int

const (
	admitRun admission = iota
	admitOverflow
	admitQueued
	admitShutdown
	rejectMaxConns
	rejectMaxQueue
	rejectPerPeer
)

func rejectReason(a admission) rejectKind {
	switch a {
	case rejectMaxQueue:
		return rejMaxQueue
	case rejectPerPeer:
		return rejPerPeer
	}
	return rejMaxConns
}

// ipKey is a peer's IP address; invalid for non-IP peers (unix sockets),
// which MaxConnsPerPeer does not limit.
type ipKey = netip.Addr

// ipOf returns the IP address of a, unmapped (::ffff:1.2.3.4 is 1.2.3.4).
// A unix-socket address has none, whatever its name: a local client may
// bind its socket to a path such as "127.0.0.1:80", which must not make it
// that IP peer (trusted as a PROXY source, or counted against that
// address's MaxConnsPerPeer).
func ipOf(a net.Addr) ipKey {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UnixAddr:
		return ip
	default:
		if a == nil {
			return ip
		}
		switch a.Network() {
		case "unix", "unixgram", "unixpacket":
			return ip
		}
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	return ip.Unmap()
}

// waiter is a queued connection.
type waiter struct {
	id    uint64        // accept order: the queue is kept sorted by it
	nc    net.Conn      // checked for a hang-up; nil: never counts as hung up
	elem  *list.Element // nil once out of the queue
	grant chan struct{} // closed when it leaves the queue by the server's hand
	dead  bool          // it left because it hung up (set before grant is closed)
	sock  net.Conn      // the socket waitWatching waits on, under Server.mu; nil when none waits
}

// hungUp reports whether the queued client hung up (see peerHungUp).
func (w *waiter) hungUp() bool { return w.nc != nil && peerHungUp(w.nc) }

// admit decides, under the lock, whether a connection runs now, waits in the
// queue or is rejected. A queued connection is checked for a hang-up through
// nc, unless nc is nil (bytes were already read from it: it is served, its
// bytes then EOF, whatever happens). With MaxConnsPerPeer set, every
// admitted, overflow or queued connection counts against its peer until it
// ends (without it, peers are not counted at all, so that they cost no
// memory).
//
// A connection queued or rejected here is spared (see sparedConn): its
// goroutine ends it, with RejectMessage and a bounded linger, so a graceful
// Shutdown leaves it to that instead of closing its socket. It is marked
// under the same lock as the queue, so that a Shutdown beginning at any
// moment either finds it spared or makes admit return admitShutdown.
func (s *Server) admit(id uint64, ip ipKey, nc net.Conn) (admission, *waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, w := s.admitLocked(id, ip, nc)
	if a == admitQueued || a >= rejectMaxConns {
		s.spareLocked(id)
	}
	return a, w
}

// admitLocked is admit's decision, under s.mu.
func (s *Server) admitLocked(id uint64, ip ipKey, nc net.Conn) (admission, *waiter) {
	if s.closing {
		return admitShutdown, nil
	}
	if s.MaxConnsPerPeer > 0 && ip.IsValid() && s.peers[ip] >= s.MaxConnsPerPeer {
		return rejectPerPeer, nil
	}
	var a admission
	var w *waiter
	switch {
	case s.MaxConns == 0 || s.active < s.MaxConns:
		s.active++
		a = admitRun
	case s.Overflow == Reject && s.OverflowFactory == nil:
		return rejectMaxConns, nil
	case s.Overflow == Reject:
		if s.overflow >= s.maxQueue {
			return rejectMaxQueue, nil
		}
		s.overflow++
		a = admitOverflow
	default:
		if s.queue.Len() >= s.maxQueue {
			return rejectMaxQueue, nil
		}
		// Keep the queue in accept order: connections reach admit from
		// their own goroutines (after any PROXY header or TLS handshake), so
		// a later connection may get here first.
		w = &waiter{id: id, nc: nc, grant: make(chan struct{})}
		e := s.queue.Back()
		for e != nil && e.Value.(*waiter).id > id {
			e = e.Prev()
		}
		if e == nil {
			w.elem = s.queue.PushFront(w)
		} else {
			w.elem = s.queue.InsertAfter(w, e)
		}
		s.stats.queued.Add(1)
		a = admitQueued
	}
	if s.MaxConnsPerPeer > 0 && ip.IsValid() {
		s.peers[ip]++
	}
	return a, w
}

// wait blocks until the queued connection gets a slot (nil), or returns why
// it will not: weft.ErrQueueTimeout, ErrQueueHangup or weft.ErrServerShutdown.
func (s *Server) wait(w *waiter) error {
	if w.nc != nil {
		if rc, sock := hangupWatch(w.nc); rc != nil {
			return s.waitWatching(w, rc, sock)
		}
	}
	var timeout <-chan time.Time
	if s.QueueTimeout > 0 {
		t := time.NewTimer(s.QueueTimeout)
		defer t.Stop()
		timeout = t.C
	}
	poll := time.NewTicker(QueuePollInterval)
	defer poll.Stop()
	for {
		var why error
		select {
		case <-w.grant:
			return w.granted()
		case <-timeout:
			why = weft.ErrQueueTimeout
		case <-s.done:
			why = weft.ErrServerShutdown
		case <-poll.C:
			if !w.hungUp() {
				continue
			}
			why = ErrQueueHangup
		}
		return s.leave(w, why)
	}
}

// leave ends w's wait for why (nil: it was granted), unless the server
// granted it (or found it dead) at the same moment: the grant wins.
func (s *Server) leave(w *waiter, why error) error {
	if why != nil && s.dequeue(w) {
		return why
	}
	<-w.grant
	return w.granted()
}

// granted is the outcome of a wait the server ended (grant closed): nil,
// or ErrQueueHangup for a client found gone at its turn.
func (w *waiter) granted() error {
	if w.dead {
		return ErrQueueHangup
	}
	return nil
}

// waitWatching is wait for a client whose socket can be watched (Linux):
// instead of looking every QueuePollInterval, it waits for the socket's
// readiness, so a client that hangs up leaves the queue (and frees its
// place in MaxQueue) at once, and a queued connection costs no system call
// while nothing happens. The wait ends at the socket's read deadline, set
// to QueueTimeout; a grant and the beginning of a shutdown wake it by
// moving the deadline to the past (wakeLocked), under s.mu, as its own
// setting and clearing of the deadline are, so no wake-up is lost or left
// behind on the socket the Protocol will read.
func (s *Server) waitWatching(w *waiter, rc syscall.RawConn, sock net.Conn) error {
	var end time.Time
	if s.QueueTimeout > 0 {
		end = time.Now().Add(s.QueueTimeout)
	}
	s.mu.Lock()
	w.sock = sock
	sock.SetReadDeadline(end)
	if w.elem == nil || s.closing { // granted, or the shutdown began, already
		w.wakeLocked()
	}
	s.mu.Unlock()
	// One wait: the socket's look (Read calls the function first, then
	// on each readiness edge) ends it on a grant, the shutdown or the
	// client's hang-up, and the deadline on a wake-up or the timeout
	// (Read returns at a past deadline without calling the function).
	hung := false
	err := rc.Read(func(fd uintptr) bool {
		select {
		case <-w.grant:
			return true
		case <-s.done:
			return true
		default:
		}
		hung = peekHungUp(fd)
		return hung
	})
	var why error
	select {
	case <-w.grant:
	case <-s.done:
		why = weft.ErrServerShutdown
	default:
		switch {
		case hung:
			why = ErrQueueHangup
		case errors.Is(err, os.ErrDeadlineExceeded):
			why = weft.ErrQueueTimeout // the only deadline besides a wake-up's
		default:
			why = weft.ErrServerShutdown // Close closed the socket under it
		}
	}
	s.mu.Lock()
	w.sock = nil
	sock.SetReadDeadline(time.Time{})
	s.mu.Unlock()
	return s.leave(w, why)
}

// wakeLocked ends the wait of waitWatching, if w is in one; s.mu is held.
func (w *waiter) wakeLocked() {
	if w.sock != nil {
		w.sock.SetReadDeadline(aLongTimeAgo)
	}
}

// aLongTimeAgo is a read deadline that wakes a waiting read at once.
var aLongTimeAgo = time.Unix(1, 0)

// dequeue removes w from the queue if it is still there.
func (s *Server) dequeue(w *waiter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.elem == nil {
		return false
	}
	s.queue.Remove(w.elem)
	w.elem = nil
	s.stats.queued.Add(-1)
	return true
}

// releaseSlot gives back a connection's slot and peer count, and hands free
// slots to queued connections (skipping the ones whose client hung up).
func (s *Server) releaseSlot(ip ipKey, overflow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetPeerLocked(ip)
	if overflow {
		s.overflow--
		return
	}
	s.active--
	// Once closing, queued connections leave on s.done (reason shutdown),
	// told as a rejection is unless Close or Shutdown's deadline closed their
	// sockets; granting them a slot would run them after the shutdown began
	// or take a closed socket for a client that hung up.
	for !s.closing && s.active < s.MaxConns && s.queue.Len() > 0 {
		e := s.queue.Front()
		if s.Overflow == QueueLIFO {
			e = s.queue.Back()
		}
		w := e.Value.(*waiter)
		s.queue.Remove(e)
		w.elem = nil
		s.stats.queued.Add(-1)
		if w.hungUp() {
			w.dead = true
		} else {
			s.active++
		}
		close(w.grant)
		w.wakeLocked()
	}
}

func (s *Server) forgetPeer(ip ipKey) {
	s.mu.Lock()
	s.forgetPeerLocked(ip)
	s.mu.Unlock()
}

func (s *Server) forgetPeerLocked(ip ipKey) {
	if s.MaxConnsPerPeer == 0 || !ip.IsValid() {
		return
	}
	if n := s.peers[ip] - 1; n > 0 {
		s.peers[ip] = n
	} else {
		delete(s.peers, ip)
	}
}
