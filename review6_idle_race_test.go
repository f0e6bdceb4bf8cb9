package weft

import (
	"net"
	"testing"
	"time"
)

// TestReview6IdleDecidesUnderLock: the idle timer decides on the
// connection's last activity as it stands once it holds c.mu. It read it
// before taking c.mu, so a read that came meanwhile — recorded (touch),
// then delivered to the Protocol under c.mu — did not count: the timer,
// once it had the lock, closed with ErrIdleTimeout a connection that had
// just read and delivered bytes (found by TestPropertyContract, tls-tcp,
// seed 882193672: ErrIdleTimeout 13 ms after the peer wrote the last
// bytes DataReceived got, IdleTimeout 40 ms, the timer's goroutine held up
// on c.mu by two writing goroutines). The window is made wide by holding
// c.mu while the timer's function starts.
func TestReview6IdleDecidesUnderLock(t *testing.T) {
	s, peer := net.Pipe()
	defer peer.Close()
	p := &endProto{made: make(chan struct{}), lost: make(chan error, 1)}
	c := NewConn(s, p, &Options{IdleTimeout: time.Hour})
	done := make(chan error, 1)
	go func() { done <- c.Serve() }()
	<-p.made
	x := c.x.Load()
	c.mu.Lock()
	x.lastActive.Store(monoNow() - int64(2*time.Hour)) // idle for long, so far
	fired := make(chan struct{})
	go func() {
		defer close(fired)
		c.checkIdle()
	}()
	// Let the timer's function run up to c.mu. (A scheduling aid, not a
	// timing assertion: with the fix the outcome does not depend on it.)
	time.Sleep(20 * time.Millisecond)
	c.touch() // a read now, recorded before its delivery takes c.mu
	c.mu.Unlock()
	<-fired
	c.mu.Lock()
	st, why := c.state, c.closeReason()
	c.mu.Unlock()
	if st != stOpen {
		t.Errorf("the idle timer closed the connection (%v) although a read was recorded before it held c.mu", why)
	}
	peer.Close()
	if err := <-done; err != nil && st == stOpen {
		t.Errorf("Serve = %v after the peer's close", err)
	}
	<-p.lost
}
