package weft_test

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// stuckWriteConn is a net.Conn (no descriptor: the goroutine engine hands
// every flush to a flusher goroutine) whose Write blocks until Close, then
// takes its time — up to lateWrite, or until writeMay is closed — and
// reports half of its bytes sent with an error, as a socket that took part
// of a Write before it was closed. Read blocks until Close.
type stuckWriteConn struct {
	once     sync.Once
	closed   chan struct{}
	writing  chan struct{} // closed when the first Write starts
	wonce    sync.Once
	writeMay chan struct{}
}

const lateWrite = time.Second

func newStuckWriteConn() *stuckWriteConn {
	return &stuckWriteConn{closed: make(chan struct{}), writing: make(chan struct{}), writeMay: make(chan struct{})}
}

func (c *stuckWriteConn) Read([]byte) (int, error) {
	<-c.closed
	return 0, net.ErrClosed
}

func (c *stuckWriteConn) Write(p []byte) (int, error) {
	c.wonce.Do(func() { close(c.writing) })
	<-c.closed
	select {
	case <-c.writeMay:
	case <-time.After(lateWrite):
	}
	return len(p) / 2, net.ErrClosed
}

func (c *stuckWriteConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *stuckWriteConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
}
func (c *stuckWriteConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
}
func (c *stuckWriteConn) SetDeadline(time.Time) error      { return nil }
func (c *stuckWriteConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stuckWriteConn) SetWriteDeadline(time.Time) error { return nil }

// goroutineIn reports whether some goroutine of the caller's synctest
// bubble (of the whole process outside one) has fn in its stack. Only the
// bubble's own count: a connection of an earlier test may still be ending
// on a goroutine of its own (seen once under load, a flusher of another
// test's connection).
func goroutineIn(fn string) bool {
	buf := make([]byte, 1<<20)
	dump := string(buf[:runtime.Stack(buf, true)])
	blocks := strings.Split(dump, "\n\n")
	// The first block is the caller's: its header names its bubble, as
	// "goroutine 9 [running, synctest bubble 1]:".
	header, _, _ := strings.Cut(blocks[0], "\n")
	bubble := ""
	if i := strings.Index(header, "synctest bubble "); i >= 0 {
		bubble = strings.TrimSuffix(header[i:], "]:") + "]"
	}
	for _, b := range blocks {
		h, _, _ := strings.Cut(b, "\n")
		if (bubble == "" || strings.Contains(h+"]", bubble)) && strings.Contains(b, fn) {
			return true
		}
	}
	return false
}

// writeOnMade writes msg in ConnectionMade.
type writeOnMade struct {
	msg  []byte
	made chan struct{}
}

func (p *writeOnMade) ConnectionMade(t weft.Transport) { t.Write(p.msg); close(p.made) }
func (p *writeOnMade) DataReceived([]byte)             {}
func (p *writeOnMade) ConnectionLost(error)            {}

// TestServeWaitsForFlusher: on the goroutine engine, Serve returns only
// after the flusher goroutine's last Write returned: the bytes it reports
// sent are in Counters.BytesOut when Serve returns and never added later
// (weft connect reads a session's counters after Serve to know which lines
// reached the socket), and no flusher goroutine is left behind.
func TestServeWaitsForFlusher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nc := newStuckWriteConn()
		var cnt weft.Counters
		p := &writeOnMade{msg: bytes.Repeat([]byte("x"), 10), made: make(chan struct{})}
		conn := weft.NewConn(nc, p, &weft.Options{Counters: &cnt})
		done := make(chan error, 1)
		go func() { done <- conn.Serve() }()
		<-nc.writing // the flusher is in its Write
		conn.Close(weft.ErrAborted)
		err := <-done
		after := cnt.BytesOut.Load()
		flusher := goroutineIn("weft.(*Conn).flushLoop")
		close(nc.writeMay) // a Write still running may now return
		synctest.Wait()
		if !errors.Is(err, weft.ErrAborted) {
			t.Errorf("Serve returned %v, want ErrAborted", err)
		}
		if flusher {
			t.Error("a flusher goroutine was still running when Serve returned")
		}
		if later := cnt.BytesOut.Load(); later != after {
			t.Errorf("BytesOut was %d when Serve returned, %d later: the flusher counted bytes after Serve returned", after, later)
		}
		if after != 5 {
			t.Errorf("BytesOut = %d, want the 5 bytes the failed Write reported sent", after)
		}
	})
}

// TestInvalidOptionsConnEnded: a Conn made with invalid Options never runs:
// it is ended like a Conn after ConnectionLost. Work posted to it, before or
// after its Serve failed, is dropped at once (never run, not kept); a Write
// fails with ErrClosed (and flushes nothing: with a nil net.Conn it used to
// panic on a flusher goroutine); its Context is done.
func TestInvalidOptionsConnEnded(t *testing.T) {
	ran := 0
	work := func() { ran++ }
	s, c := net.Pipe()
	defer c.Close()
	p := &writeOnMade{made: make(chan struct{})}
	conn := weft.NewConn(s, p, &weft.Options{HighWater: -1})
	conn.Post(work) // before Serve
	if err := conn.Serve(); err == nil {
		t.Fatal("Serve accepted invalid Options")
	}
	if n := weft.PendingWork(conn); n != 0 {
		t.Errorf("the Conn holds %d functions posted before its Serve failed", n)
	}
	conn.Post(work) // after
	if n := weft.PendingWork(conn); n != 0 {
		t.Errorf("the Conn holds %d functions posted after its Serve failed", n)
	}
	if ran != 0 {
		t.Errorf("%d posted functions ran", ran)
	}
	select {
	case <-conn.Transport().Context().Done():
	default:
		t.Error("the Context of a Conn whose Serve failed is not done")
	}

	nilConn := weft.NewConn(nil, p, nil)
	if _, err := nilConn.Transport().Write([]byte("x")); !errors.Is(err, weft.ErrClosed) {
		t.Errorf("Write on a Conn made with a nil net.Conn: %v, want ErrClosed", err)
	}
	nilConn.Post(work)
	if n := weft.PendingWork(nilConn); n != 0 {
		t.Errorf("a Conn made with a nil net.Conn holds %d posted functions", n)
	}
	if err := nilConn.Serve(); err == nil {
		t.Error("Serve of a Conn made with a nil net.Conn returned nil")
	}
}
