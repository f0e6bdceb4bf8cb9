package server

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// biFactory is a Factory whose method works with a nil receiver.
type biFactory struct{ f weft.Factory }

func (b *biFactory) BuildProtocol(a net.Addr) weft.Protocol {
	if b == nil {
		return &echo{}
	}
	return b.f.BuildProtocol(a)
}

// TestBadInputServer: configuration, order of calls and observers on a
// Server with hostile or degenerate values. Before the fix: Validate on a nil
// *Server, ListenEndpoint(nil), OpenEndpoint(nil) and Range(nil) with a live
// connection panicked with "runtime error: invalid memory address or nil
// pointer dereference"; a nil weft.FactoryFunc as Factory and a zero
// netip.Prefix in ServeProxy's trusted list were accepted ("ok"), the first
// panicking in every connection, the second trusting nobody. A nil pointer
// Factory is valid: its method may work with a nil receiver.
func TestBadInputServer(t *testing.T) {
	bg := context.Background()
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	cfg := func(mod func(s *Server)) func() error {
		return func() error {
			s := &Server{Factory: echoFactory()}
			mod(s)
			l := listen()
			defer l.Close()
			done := make(chan error, 1)
			go func() { done <- s.Serve(l) }()
			select {
			case err := <-done:
				return err
			case <-time.After(100 * time.Millisecond):
			}
			s.Close()
			<-done
			return nil
		}
	}
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	cases := []biCase{
		{"zero Serve", func() error { var s Server; l := listen(); defer l.Close(); return s.Serve(l) }, "err: server: invalid configuration: Server.Factory is nil"},
		{"nil FactoryFunc", cfg(func(s *Server) { s.Factory = weft.FactoryFunc(nil) }), "err: server: invalid configuration: Server.Factory is a nil weft.FactoryFunc"},
		{"nil pointer Factory", cfg(func(s *Server) { s.Factory = (*biFactory)(nil) }), "ok"},
		{"nil FactoryFunc OverflowFactory", cfg(func(s *Server) { s.MaxConns = 1; s.OverflowFactory = weft.FactoryFunc(nil) }), "err: server: invalid configuration: Server.OverflowFactory is a nil weft.FactoryFunc"},
		{"Serve nil listener", func() error { s := &Server{Factory: echoFactory()}; return s.Serve(nil) }, "err: server: invalid configuration: nil listener"},
		{"ServeProxy nil listener", func() error { s := &Server{Factory: echoFactory()}; return s.ServeProxy(nil, nil) }, "err: server: invalid configuration: nil listener"},
		{"ServeProxy zero prefix", func() error {
			s := &Server{Factory: echoFactory()}
			l := listen()
			done := make(chan error, 1)
			go func() { done <- s.ServeProxy(l, []netip.Prefix{{}}) }()
			select {
			case err := <-done:
				return err
			case <-time.After(100 * time.Millisecond):
			}
			s.Close()
			<-done
			return nil
		}, "err: server: invalid configuration: trusted[0] is not a valid prefix (the zero netip.Prefi"},
		{"neg MaxConns", cfg(func(s *Server) { s.MaxConns = -1 }), "err: server: invalid configuration: Server.MaxConns -1 is negative"},
		{"neg MaxQueue", cfg(func(s *Server) { s.MaxConns = 1; s.MaxQueue = -1 }), "err: server: invalid configuration: Server.MaxQueue -1 is negative"},
		{"neg QueueTimeout", cfg(func(s *Server) { s.MaxConns = 1; s.QueueTimeout = -1 }), "err: server: invalid configuration: Server.QueueTimeout -1ns is negative"},
		{"neg MaxConnsPerPeer", cfg(func(s *Server) { s.MaxConnsPerPeer = -1 }), "err: server: invalid configuration: Server.MaxConnsPerPeer -1 is negative"},
		{"neg IdleTimeout", cfg(func(s *Server) { s.IdleTimeout = -1 }), "err: server: invalid configuration: Server.IdleTimeout -1ns is negative"},
		{"neg CloseTimeout", cfg(func(s *Server) { s.CloseTimeout = -1 }), "ok"},
		{"neg HandshakeTimeout", cfg(func(s *Server) { s.HandshakeTimeout = -1 }), "err: server: invalid configuration: Server.HandshakeTimeout -1ns is negative"},
		{"neg MaxHandshakes", cfg(func(s *Server) { s.MaxHandshakes = -1 }), "err: server: invalid configuration: Server.MaxHandshakes -1 is negative"},
		{"neg MaxLingering", cfg(func(s *Server) { s.MaxLingering = -1 }), "err: server: invalid configuration: Server.MaxLingering -1 is negative"},
		{"neg HighWater", cfg(func(s *Server) { s.HighWater = -1 }), "err: server: invalid configuration: Server.HighWater -1 is negative"},
		{"neg LowWater", cfg(func(s *Server) { s.LowWater = -1 }), "err: server: invalid configuration: Server.LowWater -1 is negative"},
		{"low over high", cfg(func(s *Server) { s.HighWater = 10; s.LowWater = 20 }), "err: server: invalid configuration: Server.LowWater 20 exceeds HighWater 10"},
		{"neg MaxWriteBuffer", cfg(func(s *Server) { s.MaxWriteBuffer = -1 }), "err: server: invalid configuration: Server.MaxWriteBuffer -1 is negative"},
		{"neg ReadBufferSize", cfg(func(s *Server) { s.ReadBufferSize = -1 }), "err: server: invalid configuration: Server.ReadBufferSize -1 is out of range [0, 67108864]"},
		{"huge ReadBufferSize", cfg(func(s *Server) { s.ReadBufferSize = math.MaxInt }), "err: server: invalid configuration: Server.ReadBufferSize 9223372036854775807 is out of ra"},
		{"bad Overflow", cfg(func(s *Server) { s.MaxConns = 1; s.Overflow = 99 }), "err: server: invalid configuration: Server.Overflow 99 is not Reject, QueueFIFO or QueueLI"},
		{"neg Overflow", cfg(func(s *Server) { s.MaxConns = 1; s.Overflow = -1 }), "err: server: invalid configuration: Server.Overflow -1 is not Reject, QueueFIFO or QueueLI"},
		{"huge MaxConns", cfg(func(s *Server) { s.MaxConns = math.MaxInt; s.MaxQueue = math.MaxInt }), "ok"},
		{"Close twice", func() error { s := &Server{Factory: echoFactory()}; s.Close(); return s.Close() }, "ok"},
		{"Close before Serve then Serve", func() error {
			s := &Server{Factory: echoFactory()}
			s.Close()
			l := listen()
			defer l.Close()
			return s.Serve(l)
		}, "err: server: closed"},
		{"Shutdown before Serve then Serve", func() error {
			s := &Server{Factory: echoFactory()}
			if err := s.Shutdown(bg); err != nil {
				return err
			}
			l := listen()
			defer l.Close()
			return s.Serve(l)
		}, "err: server: closed"},
		{"Shutdown cancelled ctx", func() error { s := &Server{Factory: echoFactory()}; return s.Shutdown(cancelled) }, "ok"},
		{"Shutdown twice", func() error { s := &Server{Factory: echoFactory()}; s.Shutdown(bg); return s.Shutdown(bg) }, "ok"},
		{"zero Server observers", func() error {
			var s Server
			s.Len()
			s.Get(0)
			s.Get(math.MaxUint64)
			s.Range(func(*Conn) bool { return true })
			s.Broadcast(nil)
			s.Snapshot()
			s.Addrs()
			return s.Close()
		}, "ok"},
		{"zero Server Validate", func() error { var s Server; return s.Validate() }, "err: server: invalid configuration: Server.Factory is nil"},
		{"nil Server Validate", func() error { var s *Server; return s.Validate() }, "err: server: invalid configuration: nil *Server"},
		{"Listen empty", func() error { s := &Server{Factory: echoFactory()}; return s.Listen("") }, "err: endpoint: : type: syntax error: empty description"},
		{"ListenEndpoint nil", func() error { s := &Server{Factory: echoFactory()}; return s.ListenEndpoint(nil) }, "err: server: invalid configuration: nil *endpoint.Server"},
		{"OpenEndpoint nil", func() error { s := &Server{Factory: echoFactory()}; _, _, err := s.OpenEndpoint(nil); return err }, "err: server: invalid configuration: nil *endpoint.Server"},
		{"Listen zero Server", func() error { var s Server; return s.Listen("tcp:0:interface=127.0.0.1") }, "err: server: invalid configuration: Server.Factory is nil"},
		{"PublishExpvar empty", func() error { s := &Server{Factory: echoFactory()}; return s.PublishExpvar("") }, "err: server: invalid configuration: expvar name is empty"},
		{"Run no listeners", func() error { s := &Server{Factory: echoFactory()}; return s.Run(cancelled, 0) }, "err: server: invalid configuration: Run needs a listener and a drain time ≥ 0 (got 0 liste"},
		{"Run nil listener", func() error { s := &Server{Factory: echoFactory()}; return s.Run(cancelled, 0, nil) }, "err: server: invalid configuration: nil listener"},
		{"Run neg drain", func() error {
			s := &Server{Factory: echoFactory()}
			ctx, c := context.WithTimeout(bg, 50*time.Millisecond)
			defer c()
			return s.Run(ctx, -time.Second, listen())
		}, "err: server: invalid configuration: Run needs a listener and a drain time ≥ 0 (got 1 liste"},
		{"Run zero Server", func() error { var s Server; return s.Run(cancelled, 0, listen()) }, "err: server: invalid configuration: Server.Factory is nil"},
		{"ReasonOf nil", func() error { return fmt.Errorf("%v", ReasonOf(nil)) }, "err: clean"},
		{"CloseReason bad", func() error { return fmt.Errorf("%v %v", CloseReason(-1), CloseReason(999)) }, "err: CloseReason(-1) CloseReason(999)"},
		{"ConnState bad", func() error { return fmt.Errorf("%v %v", ConnState(-1), ConnState(999)) }, "err: ConnState(-1) ConnState(999)"},
		{"Overflow bad", func() error { return fmt.Errorf("%v %v", Overflow(-1), Overflow(999)) }, "err: Overflow(-1) Overflow(999)"},
		{"Range nil fn live", func() error {
			s := &Server{Factory: echoFactory()}
			addr := serve(t, s)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			for s.Len() == 0 {
				time.Sleep(time.Millisecond)
			}
			s.Range(nil)
			return nil
		}, "panic: server: Range: nil fn"},
		{"Conn Post nil live", func() error {
			s := &Server{Factory: echoFactory()}
			addr := serve(t, s)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			for s.Len() == 0 {
				time.Sleep(time.Millisecond)
			}
			s.Range(func(cn *Conn) bool { cn.Post(nil); cn.Close(nil); return true })
			return nil
		}, "ok"},
	}
	// The live cases again with the readiness engine (on the descriptor
	// accept path), where Post and Close reach an engine connection.
	if e, err := weft.NewEngine(); err == nil {
		t.Cleanup(func() { e.Close() }) // after the servers' (registered later)
		live := func(s *Server) (net.Conn, error) {
			addr := serve(t, s)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return nil, err
			}
			for s.Len() == 0 {
				time.Sleep(time.Millisecond)
			}
			return c, nil
		}
		cases = append(cases,
			biCase{"Range nil fn live engine", func() error {
				s := &Server{Factory: echoFactory(), Engine: e}
				c, err := live(s)
				if err != nil {
					return err
				}
				defer c.Close()
				s.Range(nil)
				return nil
			}, "panic: server: Range: nil fn"},
			biCase{"Conn Post nil live engine", func() error {
				s := &Server{Factory: echoFactory(), Engine: e}
				c, err := live(s)
				if err != nil {
					return err
				}
				defer c.Close()
				s.Range(func(cn *Conn) bool { cn.Post(nil); cn.Close(nil); return true })
				return nil
			}, "ok"})
	}
	testenv.RunBadInput(t, cases)
}
