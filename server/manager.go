package server

import (
	"net"
	"time"

	"github.com/weftkit/weft"
)

// ConnInfo identifies a connection.
type ConnInfo struct {
	// ID is unique within the Server, assigned at accept, starting at 1.
	ID uint64
	// LocalAddr is the listener-side address.
	LocalAddr net.Addr
	// RemoteAddr is the client's address: the PROXY header's source once it
	// has been read, the socket peer before that or without one.
	RemoteAddr net.Addr
}

// Conn is the manager's handle on a connection running a Protocol.
//
// It is the server's only allocation per running connection: it also wraps
// the Protocol (managed) and carries what the end of the connection needs.
// Its addresses are read from the weft.Conn, which holds them anyway.
//
// It fits the 48-byte size class: the Server is reached through the
// listener, and the overflow flag shares the ID's word.
type Conn struct {
	idf     uint64 // the ID, with cOverflow in its top bit
	started int64  // since s.epoch (monotonic), set by register
	wc      *weft.Conn
	proto   weft.Protocol
	ls      *listenerState // ls.s is the Server
}

// cOverflow marks, in Conn.idf, a connection that runs the OverflowFactory's
// Protocol. IDs count from 1 and never reach it.
const (
	cOverflow = 1 << 63
	idMask    = cOverflow - 1
)

// newConn makes the handle of connection id, accepted by ls.
func newConn(id uint64, p weft.Protocol, ls *listenerState, overflow bool) *Conn {
	if overflow {
		id |= cOverflow
	}
	return &Conn{idf: id, proto: p, ls: ls}
}

// srv returns the connection's Server.
func (c *Conn) srv() *Server { return c.ls.s }

// overflow reports whether the connection runs the OverflowFactory's Protocol.
func (c *Conn) overflow() bool { return c.idf&cOverflow != 0 }

// ID returns the connection's ID.
func (c *Conn) ID() uint64 { return c.idf & idMask }

// Info returns the connection's ID and addresses.
func (c *Conn) Info() ConnInfo {
	t := c.wc.Transport() // RemoteAddr: the PROXY source given to NewConn, if any
	return ConnInfo{ID: c.ID(), LocalAddr: t.LocalAddr(), RemoteAddr: t.RemoteAddr()}
}

// Started returns when the connection's ConnectionMade returned.
func (c *Conn) Started() time.Time { return c.srv().epoch.Add(time.Duration(c.started)) }

// Transport returns the connection's Transport; it is safe to use from any
// goroutine.
func (c *Conn) Transport() weft.Transport { return c.wc.Transport() }

// Close closes the connection at once with reason (see weft.Conn.Close).
func (c *Conn) Close(reason error) { c.wc.Close(reason) }

// Post runs fn serialized with the Protocol's callbacks (see weft.Conn.Post).
func (c *Conn) Post(fn func()) { c.wc.Post(fn) }

// startRunning takes a connection about to run its Protocol out of pending
// and reports whether it may run: false when the server is closing (the
// caller then closes it). A connection that may not run and was spared (it
// was queued: spared reports it) stays in pending, so that Close or
// Shutdown's deadline can cut the linger of its shutdownClose (the caller
// then clears it); any other is out of pending either way. From now on
// Shutdown does not close a running connection's socket as a handshaking
// one's, it tells the connection once ConnectionMade has returned
// (managed.ConnectionMade), and Close or Shutdown's deadline closes it
// there.
func (s *Server) startRunning(id uint64) (ok, spared bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		if _, spared = s.pending[id].(sparedConn); spared {
			return false, true
		}
	}
	delete(s.pending, id) // running, or closed by the caller
	return !s.closing, false
}

func (s *Server) clearPending(id uint64) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// managed wraps a connection's Protocol so that the connection joins the
// manager only once ConnectionMade has run: Shutdown's hook, Broadcast and
// Range never reach a Protocol before its ConnectionMade. It is the Conn
// under another method set, so that wrapping allocates nothing.
type managed Conn

func (m *managed) ConnectionMade(t weft.Transport) {
	m.proto.ConnectionMade(t)
	c := (*Conn)(m)
	closing, abort := c.srv().register(c)
	switch {
	case abort:
		// Close (or Shutdown's deadline) began meanwhile and could not
		// see this connection: close it now.
		m.wc.Close(weft.ErrServerShutdown)
	case closing:
		// Shutdown began meanwhile and could not see this connection: tell
		// it now (posted: runs right after this callback).
		m.wc.Shutdown()
	}
}

func (m *managed) DataReceived(data []byte) { m.proto.DataReceived(data) }

func (m *managed) ConnectionLost(reason error) { m.proto.ConnectionLost(reason) }

// InternalWeftEnded ends a connection handed to the Engine (Start with no
// done callback, so no closure is allocated per connection): it accounts
// for the end and releases what handle would have.
func (m *managed) InternalWeftEnded(err error) {
	c := (*Conn)(m)
	c.end(err)
	s := c.srv()
	s.releaseListener(c.ls)
	s.wg.Done()
}

// ReadConnectionLost forwards the peer's end of stream to a Protocol that is
// a weft.HalfCloseable; another one's connection is closed, as the runtime
// closes it for a Protocol without the method.
func (m *managed) ReadConnectionLost() {
	if hc, ok := m.proto.(weft.HalfCloseable); ok {
		hc.ReadConnectionLost()
		return
	}
	m.wc.Transport().LoseConnection()
}

// Shutdown forwards to the Protocol's hook, if it has one.
func (m *managed) Shutdown() {
	if sn, ok := m.proto.(weft.ShutdownNotifier); ok {
		sn.Shutdown()
	}
}

// register moves a connection from pending to the running set; it reports
// whether the server is closing (the caller then tells the connection) and
// whether running connections are being closed at once (the caller then
// closes it).
func (s *Server) register(c *Conn) (closing, abort bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, c.ID())
	c.started = int64(time.Since(s.epoch))
	s.conns.put(c)
	if s.aborting {
		s.lateCuts++ // closed by the caller: Shutdown reports its deadline
	}
	return s.closing, s.aborting
}

func (s *Server) unregister(c *Conn) {
	s.mu.Lock()
	s.conns.remove(c.ID())
	delete(s.pending, c.ID())
	s.mu.Unlock()
}

// Len returns the number of connections running a Protocol (including
// overflow connections; not queued ones) whose ConnectionMade has returned.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns.len()
}

// Get returns the running connection with the given ID.
func (s *Server) Get(id uint64) (*Conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns.get(id)
	return c, c != nil
}

// Range calls fn for each running connection, in ID order, until fn
// returns false. It iterates over a snapshot taken without holding any lock during the calls,
// so fn may use the Server and the connections freely. fn must not be nil
// (Range panics).
func (s *Server) Range(fn func(c *Conn) bool) {
	if fn == nil {
		panic("server: Range: nil fn")
	}
	for _, c := range s.snapshotConns() {
		if !fn(c) {
			return
		}
	}
}

func (s *Server) snapshotConns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns.all()
}

// Broadcast writes p to every running connection and returns how many
// accepted it. Transport.Write never waits for a peer, so a slow client never
// delays the others: it is dropped with weft.ErrSlowConsumer once its write
// buffer passes MaxWriteBuffer.
func (s *Server) Broadcast(p []byte) int {
	sent := 0
	for _, c := range s.snapshotConns() {
		if _, err := c.Transport().Write(p); err == nil {
			sent++
		}
	}
	return sent
}

// Addrs returns the addresses of the listeners being served now (useful
// after Listen with port 0).
func (s *Server) Addrs() []net.Addr {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs := make([]net.Addr, 0, len(s.listeners))
	for ls := range s.listeners {
		addrs = append(addrs, ls.l.Addr())
	}
	return addrs
}
