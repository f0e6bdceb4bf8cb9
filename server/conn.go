package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/eofmark"
)

// handle runs one accepted connection to its end, on its own goroutine:
// handshake (PROXY header, TLS), admission (run, queue or reject), then the
// Protocol. A connection without an early admission (early.handshake) is one
// that needs a handshake: the accept loop took a MaxHandshakes slot for it,
// and counted it against its peer's handshakes, given back here once the
// handshake ended.
func (s *Server) handle(id uint64, nc net.Conn, ls *listenerState, early *admitted) {
	handedOff := false // to the Engine, which then ends the connection
	defer func() {
		if !handedOff {
			s.releaseListener(ls)
			s.wg.Done()
		}
	}()
	info := ConnInfo{ID: id, LocalAddr: nc.LocalAddr(), RemoteAddr: nc.RemoteAddr()}
	s.hook(info, StateNew)
	if s.debugLog() {
		s.log.Debug("server: accepted", "id", info.ID, "remote", addrString(info.RemoteAddr))
	}

	nc, remote, preread, err := s.handshake(nc, ls)
	if early.handshake {
		s.doneHandshake()
		s.doneHandshakePeer(early.hsPeer)
	}
	if err != nil {
		switch {
		case errors.Is(err, ErrUntrustedProxy):
			s.stats.rejected[rejUntrustedProxy].Add(1)
		case errors.Is(err, errPerPeerHandshake):
			s.stats.rejected[rejPerPeer].Add(1)
		}
		nc.Close()
		s.clearPending(info.ID)
		s.finish(info, err)
		return
	}
	info.RemoteAddr = remote
	ip := ipOf(remote)

	var adm admission
	var w *waiter
	if !early.handshake {
		adm, w = early.adm, early.w
	} else {
		// A client whose first bytes were read already (after a PROXY
		// header, or sniffed) is served even if it hangs up while queued:
		// its bytes, then EOF. So it is not checked for a hang-up. Nor is a
		// TLS client: its handshake may have read application data into
		// the TLS connection's buffer, leaving only the end of stream in
		// the socket, which the check would take for a client gone.
		check := nc
		if _, isTLS := nc.(*tls.Conn); isTLS || len(preread) > 0 {
			check = nil
		}
		adm, w = s.admit(info.ID, ip, check)
	}
	switch adm {
	case admitRun, admitOverflow:
	case admitQueued:
		s.hook(info, StateQueued)
		if s.debugLog() {
			s.log.Debug("server: queued", "id", info.ID, "remote", addrString(remote))
		}
		if err := s.wait(w); err != nil {
			s.forgetPeer(ip)
			switch {
			case errors.Is(err, weft.ErrQueueTimeout):
				s.stats.rejected[rejQueueTimeout].Add(1)
				// Lingers even without a RejectMessage: the client's
				// bytes were never read, and a plain close would turn
				// into a reset.
				s.lingerClose(nc)
			case errors.Is(err, weft.ErrServerShutdown):
				s.shutdownClose(nc)
			default:
				nc.Close()
			}
			s.clearPending(info.ID)
			s.finish(info, err)
			return
		}
	case admitShutdown:
		nc.Close()
		s.clearPending(info.ID)
		s.finish(info, weft.ErrServerShutdown)
		return
	default: // a rejection
		r := rejectReason(adm)
		s.stats.rejected[r].Add(1)
		s.rejectClose(nc)
		s.clearPending(info.ID)
		s.finish(info, fmt.Errorf("%w: %s", weft.ErrRejected, rejectNames[r]))
		return
	}
	handedOff = s.run(info, nc, ls, ip, preread, adm == admitOverflow)
}

// run builds the Protocol and drives the connection with the weft runtime:
// on this goroutine (Serve), or, with an engine (the caller's Engine or the
// server's own, engineFor), handed to the engine (Start)
// so that an idle connection holds no goroutine; it then reports true and
// the engine's done callback releases what handle would have.
func (s *Server) run(info ConnInfo, nc net.Conn, ls *listenerState, ip ipKey, preread []byte, overflow bool) bool {
	f := s.Factory
	if overflow {
		f = s.OverflowFactory
	}
	p, err := s.build(f, info.RemoteAddr)
	if err != nil {
		nc.Close()
		s.clearPending(info.ID)
		s.releaseSlot(ip, overflow)
		s.finish(info, err)
		return false
	}
	if p == nil {
		nc.Close()
		s.clearPending(info.ID)
		s.releaseSlot(ip, overflow)
		s.stats.rejected[rejRefused].Add(1)
		s.finish(info, ErrRefused)
		return false
	}
	opts := s.opts
	opts.RemoteAddr = info.RemoteAddr // the PROXY source, if any
	opts.Preread = preread
	opts.Engine = s.engineFor(ownEngineTakes(nc)) // not TLS, not a pipe, no wrapper
	c := newConn(info.ID, p, ls, overflow)
	c.wc = weft.NewConn(nc, (*managed)(c), &opts)
	if ok, spared := s.startRunning(info.ID); !ok {
		if spared {
			// Queued until now: ended as a queued connection is at
			// Shutdown (its bytes were never read; a plain close is
			// a reset), still reachable by Close and the deadline.
			s.shutdownClose(nc)
			s.clearPending(info.ID)
		} else {
			nc.Close()
		}
		s.releaseSlot(ip, overflow)
		s.finish(info, weft.ErrServerShutdown)
		return false
	}
	s.stats.active.Add(1)
	s.hook(info, StateActive)
	if s.debugLog() {
		s.log.Debug("server: active", "id", info.ID, "remote", addrString(info.RemoteAddr), "overflow", overflow)
	}
	if opts.Engine == nil {
		c.end(c.wc.Serve())
		return false
	}
	c.wc.Start(nil) // ends in managed.InternalWeftEnded
	return true
}

// build calls f.BuildProtocol, recovering a panic: it then returns a
// *buildPanic (a weft.ErrProtocolPanic), which costs that connection only.
// A Factory that ignores the address (weft.AddrIgnorer) is given nil, on
// every path alike.
func (s *Server) build(f weft.Factory, remote net.Addr) (p weft.Protocol, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, &buildPanic{value: v, stack: debug.Stack()}
		}
	}()
	if ignoresAddr(f) {
		remote = nil
	}
	return f.BuildProtocol(remote), nil
}

// ignoresAddr reports whether f says its BuildProtocol does not use its
// address (weft.AddrIgnorer).
func ignoresAddr(f weft.Factory) bool {
	ai, ok := f.(weft.AddrIgnorer)
	return ok && ai.IgnoresAddr()
}

// buildPanic is a panic of Factory.BuildProtocol, recovered: the connection
// is closed with it (reason panic) and finish logs it at Error.
type buildPanic struct {
	value any
	stack []byte
}

func (e *buildPanic) Error() string {
	return fmt.Sprintf("%v: Factory.BuildProtocol: %v", weft.ErrProtocolPanic, e.value)
}

func (e *buildPanic) Unwrap() error { return weft.ErrProtocolPanic }

// end accounts for the end of a running connection.
func (c *Conn) end(err error) {
	s := c.srv()
	info := c.Info()
	var ip ipKey
	if s.MaxConnsPerPeer > 0 {
		ip = ipOf(info.RemoteAddr) // as handle computed it: the same address
	}
	s.stats.active.Add(-1)
	s.unregister(c)
	s.releaseSlot(ip, c.overflow())
	s.finish(info, err)
}

// finish counts the close reason, calls the hook and logs.
func (s *Server) finish(info ConnInfo, err error) {
	if err != nil && s.isClosing() && !errors.Is(err, weft.ErrServerShutdown) && cutByClose(err) {
		err = fmt.Errorf("%w: %w", weft.ErrServerShutdown, err)
	}
	r := ReasonOf(err)
	s.stats.closed[r].Add(1)
	s.hook(info, StateClosed)
	var bp *buildPanic
	if errors.As(err, &bp) {
		s.log.Error("server: Factory.BuildProtocol panicked; connection closed", "id", info.ID, "remote", addrString(info.RemoteAddr),
			"panic", fmt.Sprint(bp.value), "stack", string(bp.stack))
		return
	}
	if r == ReasonError || r == ReasonPanic || r == ReasonHandshakeFailed && !peerWentAway(err) {
		s.log.Warn("server: connection failed", "id", info.ID, "remote", addrString(info.RemoteAddr), "reason", r.String(), "err", err)
	} else {
		if s.debugLog() {
			s.log.Debug("server: closed", "id", info.ID, "remote", addrString(info.RemoteAddr), "reason", r.String(), "err", err)
		}
	}
}

// peerWentAway reports whether a failed handshake (TLS, or a PROXY header)
// ended because the client closed, reset or stopped answering the
// connection, as port scanners, TCP health checks and browsers with
// connections opened ahead do all day: still a failed handshake in the
// counts, but logged at Debug, where a client that sent what is not a
// handshake is logged at Warn.
func peerWentAway(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isPeerResetErr(err) || isPeerTimeoutErr(err)
}

// cutByClose reports whether err is what a connection gets when the server's
// closing cuts it: its socket closed under it, or, for a TLS handshake, the
// server's context cancelled (HandshakeContext then reports
// context.Canceled, not the closed socket).
func cutByClose(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, context.Canceled)
}

// handshake reads the PROXY header (trusted sources on a PROXY listener) and
// completes the TLS handshake, both within HandshakeTimeout. It returns the
// connection to serve, the client's address and bytes read past the header.
func (s *Server) handshake(nc net.Conn, ls *listenerState) (net.Conn, net.Addr, []byte, error) {
	remote := nc.RemoteAddr()
	var preread []byte
	if len(ls.proxy) > 0 {
		if trusted(ls.proxy, remote) {
			r, pre, err := s.readProxyHeader(nc)
			if err != nil {
				return nc, remote, nil, err
			}
			remote, preread = r, pre
			// A TLS handshake to come counts against the client the
			// header named (the accept loop could not know it): one
			// client behind the proxy must not hold every
			// MaxHandshakes slot. Given back when it ends.
			// (Not the trusted proxy's own address: no header, LOCAL.)
			if _, isTLS := nc.(*tls.Conn); (isTLS || ls.tls != nil) && s.MaxConnsPerPeer > 0 {
				if ip := ipOf(r); ip.IsValid() && ip != ipOf(nc.RemoteAddr()) {
					if !s.takeHandshakePeer(ip) {
						return nc, remote, nil, errPerPeerHandshake
					}
					defer s.doneHandshakePeer(ip)
				}
			}
		} else {
			pre, err := s.sniffUntrusted(nc)
			if err != nil {
				return nc, remote, nil, err
			}
			preread = pre
		}
	}
	tc, isTLS := nc.(*tls.Conn)
	if !isTLS && ls.tls != nil {
		base := nc
		if len(preread) > 0 {
			base = &prereadConn{Conn: nc, buf: preread}
			preread = nil
		}
		tc, isTLS = tls.Server(eofmark.Wrap(base), ls.tls), true
		nc = tc
	}
	if isTLS {
		tc.SetDeadline(time.Now().Add(s.hsTO))
		err := handshakeAside(s.ctx, tc)
		tc.SetDeadline(time.Time{})
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nc, remote, nil, fmt.Errorf("%w: TLS handshake not done within %v", weft.ErrHandshakeTimeout, s.hsTO)
			}
			return nc, remote, nil, fmt.Errorf("%w: TLS: %w", errHandshake, err)
		}
	}
	return nc, remote, preread, nil
}

// handshakeAside runs tc's handshake on a goroutine of its own and waits for
// it. The handshake's cryptography grows a goroutine's stack to 8 KiB, and
// the runtime halves a stack only when less than a quarter of it is in use.
// Without an Engine the connection's goroutine goes on to wait in tc's Read
// for as long as the client stays, and kept those 8 KiB although its read
// needs about half: 5,000 idle TLS connections to a Server without an
// Engine took 30.6–32.1 KB of RSS each with the handshake on their own
// goroutine, 23.1–23.3 KB with this (StackInuse 8.2 → 4.1 KB per
// connection; bench's loadgen -mode tlsidle). With an Engine the serving
// goroutine is a fresh one already.
func handshakeAside(ctx context.Context, tc *tls.Conn) error {
	done := make(chan error, 1)
	go func() { done <- tc.HandshakeContext(ctx) }()
	return <-done
}

// errHandshake wraps TLS and PROXY failures other than timeouts.
var errHandshake = errors.New("server: handshake failed")

// errPerPeerHandshake refuses a connection whose client, named by a trusted
// PROXY header, has MaxConnsPerPeer TLS handshakes going already.
var errPerPeerHandshake = fmt.Errorf("%w: %s (handshakes)", weft.ErrRejected, rejectNames[rejPerPeer])

// rejectClose writes RejectMessage (if any), then closes nc gracefully: it
// half-closes and discards what the client still sends for up to
// RejectLinger, so that unread client bytes do not turn the close into a TCP
// reset that would destroy the message. With MaxLingering connections doing
// so already, it closes nc at once without the message.
func (s *Server) rejectClose(nc net.Conn) {
	if len(s.RejectMessage) == 0 {
		nc.Close()
		return
	}
	s.lingerClose(nc)
}

// shutdownClose ends a queued connection whose wait a graceful Shutdown
// ended: as rejectClose, but it half-closes and lingers even without a
// RejectMessage, so that the client, whose bytes were never read, gets a
// clean end of stream rather than a reset. Once connections are being
// closed at once (Close, or Shutdown's deadline) it closes nc at once.
func (s *Server) shutdownClose(nc net.Conn) {
	if s.isAborting() {
		nc.Close()
		return
	}
	s.lingerClose(nc)
}

// lingerClose writes RejectMessage (if any), half-closes nc and discards
// what the client still sends, at most 1 MiB for up to RejectLinger, then
// closes it; with MaxLingering connections lingering already, it closes nc
// at once (counted in LingerSkipped).
func (s *Server) lingerClose(nc net.Conn) {
	if !takeSlot(&s.stats.lingering, s.maxLing) {
		s.stats.lingerSkip.Add(1)
		nc.Close()
		return
	}
	defer s.stats.lingering.Add(-1)
	deadline := time.Now().Add(RejectLinger)
	nc.SetDeadline(deadline)
	if len(s.RejectMessage) > 0 {
		if _, err := nc.Write(s.RejectMessage); err != nil {
			nc.Close()
			return
		}
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.Copy(io.Discard, io.LimitReader(nc, 1<<20))
	nc.Close()
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
