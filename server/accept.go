package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/weftkit/weft"
)

// Accept backoff, as net/http: a temporary accept error (EMFILE, ENFILE, ...)
// is retried after a delay that starts at acceptBackoffMin and doubles up to
// acceptBackoffMax, so a server out of descriptors does not spin.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// temporary reports whether an accept error is worth retrying.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) acceptLoop(ls *listenerState) error {
	var delay time.Duration
	for {
		nc, err := ls.l.Accept()
		if err != nil {
			if err := s.acceptFailed(ls, err, temporary(err), &delay); err != nil {
				return err
			}
			continue
		}
		delay = 0
		s.stats.accepted.Add(1)
		s.setConnKeepAlive(nc)
		id, ok := s.track(nc, ls)
		if !ok {
			nc.Close()
			s.closedUntracked()
			return ErrServerClosed
		}
		// Without a PROXY header or TLS handshake to wait for, admission
		// (run, queue, reject) is decided here, in accept order, so that a
		// FIFO or LIFO queue follows the order in which clients connected.
		var early *admitted
		if _, isTLS := nc.(*tls.Conn); len(ls.proxy) == 0 && ls.tls == nil && !isTLS {
			adm, w := s.admit(id, ipOf(nc.RemoteAddr()), nc)
			early = &admitted{adm: adm, w: w}
		} else {
			// Over MaxConnsPerPeer handshakes from this address, or over
			// MaxHandshakes: closed here, so that a flood of silent
			// clients costs no goroutine. The peer is checked first, so
			// that one address's flood takes no global slot.
			hp := s.handshakePeer(nc, ls)
			if !s.takeHandshakePeer(hp) {
				s.rejectHandshake(id, nc, ls, rejPerPeer)
				continue
			}
			if !s.takeHandshake() {
				s.doneHandshakePeer(hp)
				s.rejectHandshake(id, nc, ls, rejMaxHandshakes)
				continue
			}
			early = &admitted{hsPeer: hp, handshake: true}
		}
		go s.handle(id, nc, ls, early)
	}
}

// handshakePeer returns the address a connection about to do its handshake
// counts against in hsPeers: its socket peer, unless MaxConnsPerPeer is off
// or the peer is a trusted PROXY source (whose connections carry many
// clients); then none (invalid).
func (s *Server) handshakePeer(nc net.Conn, ls *listenerState) ipKey {
	if s.MaxConnsPerPeer == 0 || (len(ls.proxy) > 0 && trusted(ls.proxy, nc.RemoteAddr())) {
		return ipKey{}
	}
	return ipOf(nc.RemoteAddr())
}

// takeHandshakePeer counts one more connection of ip in its handshake, unless
// MaxConnsPerPeer of them are already (it then reports false). An invalid ip
// is not counted.
func (s *Server) takeHandshakePeer(ip ipKey) bool {
	if !ip.IsValid() {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hsPeers[ip] >= s.MaxConnsPerPeer {
		return false
	}
	s.hsPeers[ip]++
	return true
}

// doneHandshakePeer undoes takeHandshakePeer.
func (s *Server) doneHandshakePeer(ip ipKey) {
	if !ip.IsValid() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.hsPeers[ip] - 1; n > 0 {
		s.hsPeers[ip] = n
	} else {
		delete(s.hsPeers, ip)
	}
}

// takeHandshake takes one of the MaxHandshakes slots, if one is free. The
// connection's goroutine gives it back (doneHandshake) when its handshake
// ended, whatever the outcome.
func (s *Server) takeHandshake() bool { return takeSlot(&s.stats.handshaking, s.maxHS) }

// takeSlot takes one of limit slots counted by n, if one is free. It is
// exact: n never goes past limit, even for a moment (the Handshaking and
// Lingering gauges read it), and a try is refused only when limit slots are
// really taken. (Adding first and checking after let a gauge overshoot, and
// turned a connection away because of another's try that was itself about
// to be refused.)
func takeSlot(n *atomic.Int64, limit int64) bool {
	for {
		v := n.Load()
		if v >= limit {
			return false
		}
		if n.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

func (s *Server) doneHandshake() { s.stats.handshaking.Add(-1) }

// rejectHandshake closes, on the accept loop, a tracked connection refused
// for want of a handshake slot (why: rejMaxHandshakes, or rejPerPeer for its
// address's): no byte (before the TLS handshake or PROXY header nothing
// sensible can be sent), counted as a rejection.
func (s *Server) rejectHandshake(id uint64, nc net.Conn, ls *listenerState, why rejectKind) {
	info := ConnInfo{ID: id, LocalAddr: nc.LocalAddr(), RemoteAddr: nc.RemoteAddr()}
	s.hook(info, StateNew)
	nc.Close()
	s.clearPending(id)
	s.stats.rejected[why].Add(1)
	s.finish(info, fmt.Errorf("%w: %s", weft.ErrRejected, rejectNames[why]))
	s.releaseListener(ls)
	s.wg.Done()
}

// acceptFailed handles an accept error of either accept loop: it returns
// the error that ends the loop, or nil after backing off when retry says the
// error is worth retrying (delay starts at acceptBackoffMin and doubles up to
// acceptBackoffMax; the caller resets it to 0 after a success).
func (s *Server) acceptFailed(ls *listenerState, err error, retry bool, delay *time.Duration) error {
	if s.isClosing() {
		return ErrServerClosed
	}
	if !retry {
		s.log.Warn("server: accept failed", "addr", ls.l.Addr().String(), "err", err)
		return err
	}
	if *delay == 0 {
		*delay = acceptBackoffMin
	} else {
		*delay = min(2**delay, acceptBackoffMax)
	}
	s.stats.acceptErrors.Add(1)
	s.log.Warn("server: accept error; retrying", "addr", ls.l.Addr().String(), "err", err, "delay", *delay)
	t := time.NewTimer(*delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-s.done:
		return ErrServerClosed
	}
}

// admitted is an admission decided by the accept loop, or, with handshake
// set, none yet: the connection holds a MaxHandshakes slot and, if hsPeer is
// valid, counts against hsPeer's handshakes (see takeHandshakePeer) until
// its handshake ends.
type admitted struct {
	adm       admission
	w         *waiter
	hsPeer    ipKey
	handshake bool
}

// track registers a new connection (as pending, so that Shutdown and Close
// can reach it from now on) and its goroutine, unless the server is closing.
func (s *Server) track(nc net.Conn, ls *listenerState) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return 0, false
	}
	id := s.nextID.Add(1)
	if nc != nil { // nil: a descriptor started at once (acceptedFD)
		s.pending[id] = nc
	}
	s.wg.Add(1)
	ls.refs.Add(1)
	return id, true
}

// closedUntracked counts the close of a connection accepted as the server
// closed, which track refused (it has no ID, so no hook or log line): every
// accepted connection is counted once in Closed.
func (s *Server) closedUntracked() {
	s.stats.closed[ReasonShutdown].Add(1)
}

func (s *Server) isClosing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}
