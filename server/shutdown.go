package server

import (
	"context"
	"net"

	"github.com/weftkit/weft"
)

// Shutdown stops the server gracefully: it closes every listener (Serve then
// returns ErrServerClosed) and the connections still in a TLS or PROXY
// handshake, ends the wait of queued connections as a rejection does
// (RejectMessage if set, then a half-close, discarding what the client still
// sends for up to RejectLinger, within MaxLingering; without a message the
// client still gets a clean end of stream rather than a reset), lets
// rejected connections already lingering finish their linger, tells every
// running connection (weft.Conn.Shutdown: the Protocol's Shutdown hook if it
// implements weft.ShutdownNotifier, then LoseConnection, which flushes
// pending output), and waits for all of them to end. If ctx ends first, the
// remaining connections, lingering ones included, are closed at once
// (running ones with weft.ErrServerShutdown); Shutdown then waits for their
// goroutines and returns ctx.Err(). It returns nil when every connection
// drained. Either way it returns only after the listeners'
// Serve calls ended and the Factory's Stop (weft.Stopper), if any, returned.
// Later calls (and Close) are harmless. It must not be called from a
// Protocol callback, a ConnState hook or the Factory's Start, Stop or
// BuildProtocol, whose end it waits for (call it on another goroutine
// there).
func (s *Server) Shutdown(ctx context.Context) error {
	running := s.beginClose(false)
	for _, c := range running {
		c.wc.Shutdown()
	}
	drained := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		s.serving.Wait()
		s.closeEngine()
		s.log.Debug("server: shut down; all connections drained")
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.aborting = true // and the ones that register from now on
	cuts := s.lateCuts
	spared := s.sparedLocked()
	s.mu.Unlock()
	left := s.snapshotConns()
	if n := len(left) + len(spared); n > 0 {
		s.log.Warn("server: shutdown deadline; closing connections", "left", n, "err", ctx.Err())
	}
	for _, nc := range spared {
		nc.Close()
	}
	for _, c := range left {
		c.wc.Close(weft.ErrServerShutdown)
	}
	<-drained
	s.serving.Wait()
	s.closeEngine()
	s.mu.Lock()
	cut := len(left) > 0 || len(spared) > 0 || s.lateCuts != cuts
	s.mu.Unlock()
	if !cut {
		// ctx was done already (or ended as the last ones finished), but
		// no connection was cut: everything drained.
		s.log.Debug("server: shut down; all connections drained")
		return nil
	}
	return ctx.Err()
}

// Close stops the server at once: it closes every listener and every
// connection (running ones with weft.ErrServerShutdown, discarding their
// pending output), waits for the connections' goroutines and the listeners'
// Serve calls to end and for the Factory's Stop (weft.Stopper), if any, to
// return, and returns (a listener's Close must therefore unblock its Accept,
// as net.Listener requires). It returns nil (the error is for io.Closer). Like
// Shutdown, it must not be called from a Protocol callback, a ConnState
// hook or the Factory's Start, Stop or BuildProtocol (it would wait for
// itself): use go s.Close() there.
func (s *Server) Close() error {
	for _, c := range s.beginClose(true) {
		c.wc.Close(weft.ErrServerShutdown)
	}
	s.wg.Wait()
	s.serving.Wait()
	s.closeEngine()
	return nil
}

// beginClose marks the server closing (and, with abort, closing running
// connections at once), closes the listeners and the connections that run
// no Protocol yet (with abort; without it, the handshaking ones only: the
// spared ones end on their own goroutines, see sparedConn), and returns the
// running ones.
func (s *Server) beginClose(abort bool) []*Conn {
	if err := s.init(); err != nil {
		return nil
	}
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
		s.cancel()
		for e := s.queue.Front(); e != nil; e = e.Next() {
			e.Value.(*waiter).wakeLocked() // it leaves on s.done
		}
	}
	if abort {
		s.aborting = true
	}
	ls := make([]*listenerState, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	pending := make([]net.Conn, 0, len(s.pending))
	for _, nc := range s.pending {
		if _, ok := nc.(sparedConn); ok && !abort {
			continue
		}
		pending = append(pending, nc)
	}
	running := s.conns.all()
	s.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
	for _, nc := range pending {
		nc.Close()
	}
	return running
}

// sparedConn marks, in s.pending, a connection that admit queued or refused:
// its goroutine ends it (a queued one when Shutdown ends its wait) with
// RejectMessage and a linger bounded by RejectLinger, so a graceful Shutdown
// does not close its socket, which would lose the message and, with client
// bytes unread, turn the close into a reset. Close and Shutdown's deadline
// close it at once. Handshaking connections are not spared: before the end
// of a TLS handshake or PROXY header nothing sensible can be sent, and a
// handshake may take up to HandshakeTimeout.
type sparedConn struct{ net.Conn }

// spareLocked marks the pending connection id spared, if it is pending.
// Under s.mu.
func (s *Server) spareLocked(id uint64) {
	nc, ok := s.pending[id]
	if !ok {
		return
	}
	if _, ok := nc.(sparedConn); !ok {
		s.pending[id] = sparedConn{nc}
	}
}

// sparedLocked returns the spared pending connections. Under s.mu.
func (s *Server) sparedLocked() []net.Conn {
	var ncs []net.Conn
	for _, nc := range s.pending {
		if _, ok := nc.(sparedConn); ok {
			ncs = append(ncs, nc)
		}
	}
	return ncs
}

// isAborting reports whether connections are being closed at once: Close,
// or Shutdown's deadline.
func (s *Server) isAborting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborting
}
