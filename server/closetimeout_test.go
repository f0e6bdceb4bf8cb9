package server

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// refuser answers any bytes with an error reply and closes gracefully, as a
// codec does with a line it refuses (the handler's reply, then
// LoseConnectionWithReason).
type refuser struct {
	t    weft.Transport
	lost chan error
}

var errRefusedLine = errors.New("line refused")

func (r *refuser) ConnectionMade(t weft.Transport) { r.t = t }
func (r *refuser) DataReceived([]byte) {
	r.t.Write(bytes.Repeat([]byte("ERR line refused\r\n"), 100))
	weft.LoseConnectionWithReason(r.t, errRefusedLine)
}
func (r *refuser) ConnectionLost(err error) {
	if r.lost != nil {
		r.lost <- err
	}
}

// TestCloseTimeoutServer: a client that provokes a close (a refused line)
// and then reads nothing does not keep its connection, its output and its
// MaxConns slot: the server aborts it DefaultCloseTimeout later by default
// (reason "close timeout"), CloseTimeout later when set; a negative
// CloseTimeout means no bound (the connection is still there an hour
// later). net.Pipe in a synctest bubble: fake time.
// (Over net.Pipe in a synctest bubble, where a readiness engine cannot
// run: it takes sockets only, and its epoll waits are no durable block.
// TestCloseTimeoutLoopback runs this on both engines over loopback.)
func TestCloseTimeoutServer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   time.Duration
		after time.Duration // 0: never
	}{
		{"default", 0, DefaultCloseTimeout},
		{"set", 5 * time.Second, 5 * time.Second},
		{"none", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lost := make(chan error, 1)
				s := &Server{
					Factory:      factoryOf(func() *refuser { return &refuser{lost: lost} }),
					MaxConns:     1,
					CloseTimeout: tc.set,
				}
				pl := newPipeListener()
				done := make(chan error, 1)
				go func() { done <- s.Serve(pl) }()
				c := pl.Dial()
				defer c.Close()
				if _, err := c.Write([]byte("a line the codec refuses\n")); err != nil {
					t.Fatal(err)
				}
				synctest.Wait() // the reply now waits for the client
				wait := tc.after
				if wait == 0 {
					wait = time.Hour
				}
				time.Sleep(wait - time.Millisecond)
				synctest.Wait()
				if n := s.Snapshot().Closed["close timeout"]; n != 0 || s.Snapshot().Active != 1 {
					t.Fatalf("%v after the close: closed[close timeout] = %d, active %d; want 0, 1", wait-time.Millisecond, n, s.Snapshot().Active)
				}
				time.Sleep(time.Millisecond)
				synctest.Wait()
				snap := s.Snapshot()
				if tc.after == 0 {
					if snap.Closed["close timeout"] != 0 || snap.Active != 1 {
						t.Errorf("CloseTimeout < 0: closed[close timeout] = %d, active %d after an hour; want 0, 1", snap.Closed["close timeout"], snap.Active)
					}
					c.Close()
				} else {
					if snap.Closed["close timeout"] != 1 || snap.Active != 0 {
						t.Errorf("closed[close timeout] = %d, active %d after %v; want 1, 0 (slot given back)", snap.Closed["close timeout"], snap.Active, tc.after)
					}
					err := <-lost
					if !errors.Is(err, weft.ErrCloseTimeout) || !errors.Is(err, errRefusedLine) {
						t.Errorf("ConnectionLost(%v), want ErrCloseTimeout wrapping the close's reason", err)
					}
					// The pending reply was discarded: the client reads
					// nothing, just the end.
					if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
						t.Errorf("client read %d bytes, %v; want none", len(b), err)
					}
				}
				s.Close()
				if err := <-done; !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve = %v", err)
				}
			})
		})
	}
}

// TestCloseTimeoutOptions: the connections' Options carry CloseTimeout:
// DefaultCloseTimeout when zero, none (0) when negative, else the value.
func TestCloseTimeoutOptions(t *testing.T) {
	for _, tc := range []struct{ set, want time.Duration }{
		{0, DefaultCloseTimeout}, {-1, 0}, {3 * time.Second, 3 * time.Second},
	} {
		s := &Server{Factory: echoFactory(), CloseTimeout: tc.set}
		if err := s.Validate(); err != nil {
			t.Errorf("CloseTimeout %v: Validate = %v", tc.set, err)
		}
		if got := s.connOptions().CloseTimeout; got != tc.want {
			t.Errorf("CloseTimeout %v: Options.CloseTimeout = %v, want %v", tc.set, got, tc.want)
		}
	}
	if got := ReasonOf(weft.ErrCloseTimeout); got.String() != "close timeout" {
		t.Errorf("ReasonOf(ErrCloseTimeout) = %v", got)
	}
}
