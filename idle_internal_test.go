package weft

import (
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// TestIdleTimerNotRearmedAfterLost: the idle timer's function may already
// be running when the connection ends and finalize stops the timer (a fire
// in flight). Running then, with recent activity, it must not re-arm the
// timer: no timer outlives the connection. The in-flight fire is made
// deterministic by calling the timer's function after the end; on the
// goroutine engine inside a synctest bubble, on the readiness engine over a
// socket pair.
func TestIdleTimerNotRearmedAfterLost(t *testing.T) {
	check := func(t *testing.T, c *Conn) {
		t.Helper()
		x := c.x.Load()
		c.touch() // activity just now: a live connection would re-arm
		c.checkIdle()
		if x.idle.Stop() {
			t.Error("the idle timer was re-armed after ConnectionLost")
		}
	}
	t.Run("goroutine", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, peer := net.Pipe()
			p := &endProto{made: make(chan struct{}), lost: make(chan error, 1)}
			c := NewConn(s, p, &Options{IdleTimeout: time.Minute})
			done := make(chan error, 1)
			go func() { done <- c.Serve() }()
			<-p.made
			time.Sleep(30 * time.Second) // still open: the timer is armed
			peer.Close()
			if err := <-done; err != nil {
				t.Fatalf("Serve: %v", err)
			}
			<-p.lost
			check(t, c)
		})
	})
	t.Run("engine", func(t *testing.T) {
		e, err := NewEngine()
		if err != nil {
			t.Skip(err)
		}
		defer e.Close()
		s, peer := socketPair(t)
		p := &endProto{made: make(chan struct{}), lost: make(chan error, 1)}
		c := NewConn(s, p, &Options{IdleTimeout: time.Hour, Engine: e})
		done := make(chan error, 1)
		c.Start(func(err error) { done <- err })
		<-p.made
		peer.Close()
		<-done
		<-p.lost
		check(t, c)
	})
}

// socketPair returns two ends of a loopback TCP connection, closed at the
// end of the test.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		s, _ := l.Accept()
		ch <- s
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-ch
	if s == nil {
		c.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { s.Close(); c.Close() })
	return s, c
}

// endProto signals ConnectionMade and ConnectionLost.
type endProto struct {
	made chan struct{}
	lost chan error
}

func (p *endProto) ConnectionMade(Transport) { close(p.made) }
func (p *endProto) DataReceived([]byte)      {}
func (p *endProto) ConnectionLost(err error) { p.lost <- err }
