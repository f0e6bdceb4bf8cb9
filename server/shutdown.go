package server

import (
	"context"
	"net"

	"github.com/weftkit/weft"
)

// Shutdown stops the server gracefully: it closes every listener (Serve then
// returns ErrServerClosed), closes queued and handshaking connections, tells
// every running connection (weft.Conn.Shutdown: the Protocol's Shutdown hook
// if it implements weft.ShutdownNotifier, then LoseConnection, which flushes
// pending output), and waits for them to end. If ctx ends first, the
// remaining connections are closed with weft.ErrServerShutdown; Shutdown
// then waits for their goroutines and returns ctx.Err(). It returns nil when
// every connection drained. Either way it returns only after the listeners'
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
		s.log.Debug("server: shut down; all connections drained")
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.aborting = true // and the ones that register from now on
	cuts := s.lateCuts
	s.mu.Unlock()
	left := s.snapshotConns()
	if len(left) > 0 {
		s.log.Warn("server: shutdown deadline; closing connections", "left", len(left), "err", ctx.Err())
	}
	for _, c := range left {
		c.wc.Close(weft.ErrServerShutdown)
	}
	<-drained
	s.serving.Wait()
	s.mu.Lock()
	cut := len(left) > 0 || s.lateCuts != cuts
	s.mu.Unlock()
	if !cut {
		// ctx was done already (or ended as the last ones finished), but
		// no running connection was cut: everything drained.
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
	return nil
}

// beginClose marks the server closing (and, with abort, closing running
// connections at once), closes the listeners and the connections that run
// no Protocol yet, and returns the running ones.
func (s *Server) beginClose(abort bool) []*Conn {
	if err := s.init(); err != nil {
		return nil
	}
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
		s.cancel()
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
		pending = append(pending, nc)
	}
	running := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		running = append(running, c)
	}
	s.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
	for _, nc := range pending {
		nc.Close()
	}
	return running
}
