package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// fdServer serves s with an engine on a fresh loopback listener and reports
// whether the descriptor accept path took it.
func fdServer(t *testing.T, s *Server) (addr string, l net.Listener, done <-chan error) {
	t.Helper()
	return fdServerOn(t, s, "tcp4", "127.0.0.1:0")
}

// fdServerOn is fdServer on a listener of the given network and address.
func fdServerOn(t *testing.T, s *Server, network, address string) (addr string, l net.Listener, done <-chan error) {
	t.Helper()
	s.Engine = newEngine(t)
	l, err := net.Listen(network, address)
	if err != nil {
		if network == "tcp6" {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- s.Serve(l) }()
	return l.Addr().String(), l, ch
}

// byFD reports whether some listener of s accepts descriptors.
func byFD(s *Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ls := range s.listeners {
		if ls.fdFile != nil {
			return true
		}
	}
	return false
}

// TestDescriptorAccept: with an Engine and no MaxConns, a plain TCP listener
// accepts descriptors (no net.Conn); connections echo, report the right
// addresses and statistics, and Shutdown ends them.
func TestDescriptorAccept(t *testing.T) {
	infos := make(chan ConnInfo, 64)
	s := &Server{Factory: echoFactory(), ConnState: func(ci ConnInfo, st ConnState) {
		if st == StateActive {
			infos <- ci
		}
	}}
	addr, _, done := fdServer(t, s)
	const n = 20
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, addr)
	}
	for i, c := range conns {
		msg := []byte("hello\n")
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
			t.Fatalf("conn %d echoed %q, %v", i, got, err)
		}
	}
	// Checked once Serve answers: a dial completes in the kernel before
	// Serve, on its goroutine, has registered the listener.
	if !byFD(s) {
		t.Fatal("the descriptor accept path was not used")
	}
	locals := map[string]bool{}
	for _, c := range conns {
		locals[c.LocalAddr().String()] = true
	}
	for range n {
		ci := <-infos
		if ci.LocalAddr.String() != addr {
			t.Errorf("ConnInfo.LocalAddr %v, want %v", ci.LocalAddr, addr)
		}
		if !locals[ci.RemoteAddr.String()] {
			t.Errorf("ConnInfo.RemoteAddr %v is no client's address", ci.RemoteAddr)
		}
	}
	if st := s.Snapshot(); st.Accepted != n || st.Active != n {
		t.Errorf("stats: accepted %d, active %d; want %d, %d", st.Accepted, st.Active, n, n)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("conn %d after Shutdown: %v, want EOF", i, err)
		}
	}
}

// TestDescriptorAcceptAddrs: the addresses the descriptor path reads from
// accept4's and getsockname's raw sockaddrs are right, as *net.TCPAddr (port
// in host order), for IPv4 and IPv6, on a listener bound to one address (the
// listener's address is shared) or to the unspecified one (each socket is
// asked), in the Factory, the Transport and ConnInfo.
func TestDescriptorAcceptAddrs(t *testing.T) {
	for _, tc := range []struct{ name, network, listen, dialHost string }{
		{"tcp4", "tcp4", "127.0.0.1:0", ""},
		{"tcp6", "tcp6", "[::1]:0", ""},
		{"tcp4 unspecified", "tcp4", "0.0.0.0:0", "127.0.0.1"},
		{"tcp6 unspecified", "tcp6", "[::]:0", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			built := make(chan net.Addr, 1)
			seen := make(chan [2]net.Addr, 1)
			infos := make(chan ConnInfo, 1)
			s := &Server{
				Factory: weft.FactoryFunc(func(a net.Addr) weft.Protocol {
					built <- a
					return &addrProto{seen: seen}
				}),
				ConnState: func(ci ConnInfo, st ConnState) {
					if st == StateActive {
						infos <- ci
					}
				},
			}
			addr, _, done := fdServerOn(t, s, tc.network, tc.listen)
			if tc.dialHost != "" {
				_, port, _ := net.SplitHostPort(addr)
				addr = net.JoinHostPort(tc.dialHost, port)
			}
			c, err := net.DialTimeout(tc.network, addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tr, ci := <-seen, <-infos
			for _, a := range []struct {
				what      string
				got, want net.Addr
			}{
				{"BuildProtocol", <-built, c.LocalAddr()},
				{"Transport.RemoteAddr", tr[1], c.LocalAddr()},
				{"ConnInfo.RemoteAddr", ci.RemoteAddr, c.LocalAddr()},
				{"Transport.LocalAddr", tr[0], c.RemoteAddr()},
				{"ConnInfo.LocalAddr", ci.LocalAddr, c.RemoteAddr()},
			} {
				ta, ok := a.got.(*net.TCPAddr)
				if !ok {
					t.Fatalf("%s: %T, want *net.TCPAddr", a.what, a.got)
				}
				want := a.want.(*net.TCPAddr)
				if !ta.IP.Equal(want.IP) || ta.Port != want.Port {
					t.Errorf("%s: %v, want %v", a.what, ta, want)
				}
			}
			if !byFD(s) { // the server is running by now
				t.Fatal("the descriptor accept path was not used")
			}
			if err := s.Shutdown(t.Context()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if err := <-done; !errors.Is(err, ErrServerClosed) {
				t.Fatalf("Serve returned %v", err)
			}
		})
	}
}

// addrProto reports the Transport's local and remote addresses from
// ConnectionMade.
type addrProto struct{ seen chan<- [2]net.Addr }

func (p *addrProto) ConnectionMade(t weft.Transport) {
	p.seen <- [2]net.Addr{t.LocalAddr(), t.RemoteAddr()}
}
func (p *addrProto) DataReceived([]byte)  {}
func (p *addrProto) ConnectionLost(error) {}

// goroutineID returns the calling goroutine's ID, from its stack header.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := bytes.Fields(buf) // "goroutine", ID, "[running]:", ...
	if len(f) < 2 {
		return ""
	}
	return string(f[1])
}

// TestDescriptorAcceptReusesSetupGoroutines: connections accepted one after
// another are set up (BuildProtocol) by the same few goroutines, not by a
// new goroutine each: an idle setup goroutine takes the next connection.
func TestDescriptorAcceptReusesSetupGoroutines(t *testing.T) {
	var mu sync.Mutex
	ids := map[string]int{}
	s := &Server{Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol {
		mu.Lock()
		ids[goroutineID()]++
		mu.Unlock()
		return &echo{}
	})}
	addr, _, done := fdServer(t, s)
	const n = 40
	for i := range n {
		c := dial(t, addr)
		c.Write([]byte("x\n"))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
		c.Close()
	}
	if !byFD(s) {
		t.Fatal("the descriptor accept path was not used")
	}
	mu.Lock()
	if len(ids) > 4 {
		t.Errorf("%d sequential connections were set up on %d goroutines; want at most 4 (reused)", n, len(ids))
	}
	mu.Unlock()
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
}

// TestDescriptorAcceptBurstFewSetupGoroutines: a burst of connections
// waiting in the backlog, which the accept loop takes faster than they are
// set up, is set up by a few goroutines, not one each up to maxSetups: the
// accept loop lets the busy ones run before it starts another. Their
// stacks stayed in the server's memory after they exited (S5: 72
// goroutines after 19,000 connects, 20-30 B of RSS per connection). On one
// P, where the accept loop otherwise runs ahead of every setup goroutine
// it starts (the busy CPU of a server filling up).
func TestDescriptorAcceptBurstFewSetupGoroutines(t *testing.T) {
	e := newEngine(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	conns := make([]net.Conn, 0, n)
	for range n { // the kernel completes them: the backlog holds them
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var mu sync.Mutex
	ids := map[string]int{}
	var built atomic.Int64
	s := &Server{Engine: e, Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol {
		mu.Lock()
		ids[goroutineID()]++
		mu.Unlock()
		built.Add(1)
		return &echo{}
	})}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	waitFor(t, "every connection set up", func() bool { return built.Load() == n })
	if !byFD(s) {
		t.Fatal("the descriptor accept path was not used")
	}
	mu.Lock()
	if len(ids) > 8 {
		t.Errorf("a burst of %d connections was set up on %d goroutines; want at most 8", n, len(ids))
	}
	mu.Unlock()
	s.Close()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
}

// TestDescriptorAcceptRejects: a connection refused on the descriptor path
// (MaxConnsPerPeer) still gets the reject message and is counted.
func TestDescriptorAcceptRejects(t *testing.T) {
	s := &Server{Factory: echoFactory(), MaxConnsPerPeer: 1, RejectMessage: []byte("busy\r\n")}
	addr, _, done := fdServer(t, s)
	first := dial(t, addr)
	first.Write([]byte("x"))
	first.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(first, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	second := dial(t, addr)
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(second).ReadString('\n')
	if err != nil || line != "busy\r\n" {
		t.Fatalf("refused client read %q, %v", line, err)
	}
	if !byFD(s) {
		t.Fatal("the descriptor accept path was not used")
	}
	if got := s.Snapshot().Rejected["per peer"]; got != 1 {
		t.Errorf("rejected per peer = %d, want 1", got)
	}
	second.Close() // ends the server's linger after the message
	s.Close()
	<-done
}

// TestDescriptorAcceptListenerClosed: closing the listener itself (not the
// server) makes Serve return, as on the net.Conn path.
func TestDescriptorAcceptListenerClosed(t *testing.T) {
	s := &Server{Factory: echoFactory()}
	addr, l, done := fdServer(t, s)
	c := dial(t, addr)
	c.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Serve returned nil after its listener was closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its listener was closed")
	}
	s.Close()
}

// TestDescriptorAcceptSlowFactory: on the descriptor path, connections are
// set up on goroutines of their own up to maxSetups at once, so a slow
// Factory holds up no other accept until then; past it the accept loop sets
// up the next connection itself (which bounds the goroutines waiting), and
// once the Factory returns every connection is served, none lost.
func TestDescriptorAcceptSlowFactory(t *testing.T) {
	release := make(chan struct{})
	var inFactory, most atomic.Int32
	s := &Server{Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol {
		n := inFactory.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		inFactory.Add(-1)
		return &echo{}
	})}
	addr, _, done := fdServer(t, s)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	const n = maxSetups + 10
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, addr) // the kernel completes the handshake
	}
	deadline := time.Now().Add(10 * time.Second)
	for inFactory.Load() < maxSetups+1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for any more to start
	if got := most.Load(); got != maxSetups+1 {
		t.Fatalf("%d BuildProtocol calls blocked at once, want %d (%d on goroutines, one on the accept loop)", got, maxSetups+1, maxSetups)
	}
	close(release)
	released = true
	for i, c := range conns {
		c.Write([]byte("hi\n"))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "hi\n" {
			t.Fatalf("conn %d answered %q, %v", i, got, err)
		}
	}
	s.Shutdown(context.Background())
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
}

// bigGreeter blocks in ConnectionMade until release is closed, then writes
// size bytes (more than the socket buffers hold) to a client that never
// reads.
type bigGreeter struct {
	echo
	entered chan<- struct{}
	release <-chan struct{}
	size    int
}

func (g *bigGreeter) ConnectionMade(t weft.Transport) {
	g.t = t
	g.entered <- struct{}{}
	<-g.release
	t.Write(make([]byte, g.size))
}

// TestCloseDuringConnectionMade: Close closes at once even a connection
// whose ConnectionMade was running when Close began (it joins the manager
// only after it): Close must not wait for its output to drain to a client
// that never reads.
func TestCloseDuringConnectionMade(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	s := &Server{Factory: factoryOf(func() *bigGreeter {
		return &bigGreeter{entered: entered, release: release, size: 16 << 20}
	})}
	addr, _, done := fdServer(t, s)
	c := dial(t, addr) // and never read
	<-entered
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	if err := <-done; !errors.Is(err, ErrServerClosed) { // Close has begun
		t.Fatalf("Serve returned %v", err)
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		c.Close() // lets the connection, and Close, end
		<-closed
		t.Fatal("Close waited for a connection's output to drain")
	}
}

// slowGreeter blocks in ConnectionMade until release is closed, then says
// hello; its Shutdown hook says bye.
type slowGreeter struct {
	echo
	entered chan<- struct{}
	release <-chan struct{}
}

func (g *slowGreeter) ConnectionMade(t weft.Transport) {
	g.t = t
	g.entered <- struct{}{}
	<-g.release
	t.Write([]byte("hello\n"))
}

func (g *slowGreeter) Shutdown() { g.t.Write([]byte("bye\n")) }

// TestShutdownDuringConnectionMade: Shutdown cannot see a connection whose
// ConnectionMade is running (it joins the manager only after it) and, on the
// descriptor path, has no net.Conn of it to close: the connection is told
// as soon as ConnectionMade returns. Its Shutdown hook runs, its output is
// flushed, and Shutdown returns nil without waiting for its deadline.
func TestShutdownDuringConnectionMade(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	s := &Server{Factory: factoryOf(func() *slowGreeter {
		return &slowGreeter{entered: entered, release: release}
	})}
	addr, _, done := fdServer(t, s)
	c := dial(t, addr)
	<-entered
	if !byFD(s) {
		t.Fatal("the descriptor accept path was not used")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	if err := <-done; !errors.Is(err, ErrServerClosed) { // Shutdown has begun
		t.Fatalf("Serve returned %v", err)
	}
	close(release)
	if got := string(readToEOF(t, c)); got != "hello\nbye\n" {
		t.Errorf("client read %q, want the greeting, then bye, then EOF", got)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown = %v, want nil (every connection drained)", err)
		}
	case <-time.After(10 * time.Second):
		cancel()
		t.Errorf("Shutdown still waiting 10 s after the connection ended (then %v)", <-shut)
	}
}

// acceptOne accepts one connection from the listening socket lfd of l,
// waiting up to 5 s for it.
func acceptOne(t *testing.T, l net.Listener) int {
	t.Helper()
	rc, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		fd, aerr := -1, error(nil)
		if err := rc.Control(func(lfd uintptr) { fd, _, aerr = accept4(int(lfd)) }); err != nil {
			t.Fatal(err)
		}
		if aerr == nil {
			t.Cleanup(func() { syscall.Close(fd) })
			return fd
		}
		if aerr != syscall.EAGAIN {
			t.Fatal(aerr)
		}
	}
	t.Fatal("nothing to accept in 5 s")
	return -1
}

// sockOptsOf describes the options of socket fd that sockOpts sets.
func sockOptsOf(t *testing.T, fd int) string {
	t.Helper()
	get := func(level, opt int) int {
		v, err := syscall.GetsockoptInt(fd, level, opt)
		if err != nil {
			t.Fatalf("getsockopt(%d, %d): %v", level, opt, err)
		}
		return v
	}
	if get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) == 0 {
		return fmt.Sprintf("nodelay=%d keepalive=off", get(syscall.IPPROTO_TCP, syscall.TCP_NODELAY))
	}
	return fmt.Sprintf("nodelay=%d keepalive=%d/%d/%d", get(syscall.IPPROTO_TCP, syscall.TCP_NODELAY),
		get(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), get(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL),
		get(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT))
}

// TestSockOpts: every socket the descriptor path accepts has Nagle's
// algorithm off (TCP_NODELAY, as package net sets it on every TCP connection;
// with it on, the chat fan-out waited for delayed ACKs: 43 ms median latency
// with both CPUs idle) and the keep-alive asked for, whether it got them from
// the listener or had them set; and once a socket is seen to inherit them
// from the primed listener, none is given them again (no system call per
// connection). Sockets the kernel made before the listener was primed (a
// backlog when Serve began) lack them and are given them, and a listener's
// own keep-alive is turned off when the server wants it off.
func TestSockOpts(t *testing.T) {
	on := keepAliveConfig(0)
	for _, tc := range []struct {
		name         string
		ka           net.KeepAliveConfig
		prime        bool
		listenerKA   bool // the listener had keep-alive on before
		before       int  // connections made before the listener is primed
		after        int
		want         string
		wantMisses   int
		wantInherits bool
	}{
		{"primed", on, true, false, 0, 4, "nodelay=1 keepalive=15/15/9", 0, true},
		{"primed/40s", keepAliveConfig(40 * time.Second), true, false, 0, 2, "nodelay=1 keepalive=40/15/9", 0, true},
		{"primed/off", keepAliveConfig(-1), true, true, 0, 3, "nodelay=1 keepalive=off", 0, true},
		{"backlog", on, true, false, 3, 2, "nodelay=1 keepalive=15/15/9", 3, true},
		{"backlog/only", on, true, false, 3, 0, "nodelay=1 keepalive=15/15/9", 3, false},
		{"unprimed", on, false, false, 0, 3, "nodelay=1 keepalive=15/15/9", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			rc, err := l.(*net.TCPListener).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			if tc.listenerKA {
				rc.Control(func(lfd uintptr) { setSockOpts(int(lfd), sockOptList(on)) })
			}
			dial := func(n int) {
				for range n {
					c, err := net.Dial("tcp4", l.Addr().String())
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { c.Close() })
				}
			}
			dial(tc.before) // the kernel makes their sockets now
			o := sockOpts{list: sockOptList(tc.ka)}
			if tc.prime {
				rc.Control(func(lfd uintptr) { o.primed = setSockOpts(int(lfd), o.list) })
				if !o.primed {
					t.Fatal("setting the options failed on a TCP listener")
				}
			}
			dial(tc.after)
			for i := range tc.before + tc.after {
				fd := acceptOne(t, l)
				o.apply(fd)
				if got := sockOptsOf(t, fd); got != tc.want {
					t.Errorf("socket %d: %s, want %s", i, got, tc.want)
				}
				if i < tc.before && o.inherited {
					t.Errorf("socket %d, made before the listener was primed, counted as inheriting", i)
				}
			}
			if o.misses != tc.wantMisses || o.inherited != tc.wantInherits {
				t.Errorf("misses %d, inherited %v; want %d, %v", o.misses, o.inherited, tc.wantMisses, tc.wantInherits)
			}
		})
	}
}

// TestDescriptorAcceptRefusedConnFails: a connection refused on the
// descriptor path whose descriptor cannot be turned into a net.Conn (to write
// the reject message) still reaches the ConnState hook and the close counts:
// it was counted as accepted and then vanished from the statistics.
func TestDescriptorAcceptRefusedConnFails(t *testing.T) {
	injected := errors.New("injected: no net.Conn for the descriptor")
	fdConnOf = func(fd int) (net.Conn, error) {
		syscall.Close(fd)
		return nil, injected
	}
	t.Cleanup(func() { fdConnOf = fdConn })
	var mu sync.Mutex
	states := map[uint64][]ConnState{}
	s := &Server{Factory: echoFactory(), MaxConnsPerPeer: 1, ConnState: func(info ConnInfo, st ConnState) {
		mu.Lock()
		states[info.ID] = append(states[info.ID], st)
		mu.Unlock()
	}}
	addr, _, done := fdServer(t, s)
	defer func() { s.Close(); <-done }()
	first := dial(t, addr)
	roundTrip(t, first, "x")
	second := dial(t, addr) // refused: one connection per peer
	if got := readAll(t, second); len(got) != 0 {
		t.Fatalf("refused client read %q", got)
	}
	if !byFD(s) {
		t.Fatal("the descriptor accept path was not used")
	}
	waitFor(t, "the refused connection counted as closed", func() bool { return s.Snapshot().Closed["error"] == 1 })
	mu.Lock()
	defer mu.Unlock()
	if got := states[2]; len(got) != 2 || got[0] != StateNew || got[1] != StateClosed {
		t.Errorf("the refused connection's states: %v, want [new closed]", got)
	}
	if snap := s.Snapshot(); snap.Accepted != 2 {
		t.Errorf("accepted %d, want 2", snap.Accepted)
	}
}
