package server

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// runGreeter runs Run on a pipe listener with a greeter (its greeting, over a
// pipe, waits for the client to read it) and returns the client's end, the
// cancel of Run's context and Run's result.
func runGreeter(t *testing.T, drain time.Duration) (net.Conn, context.CancelFunc, <-chan error) {
	s := &Server{Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol { return &greeter{msg: "bye"} })}
	l := newPipeListener()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, drain, l) }()
	c := l.Dial()
	t.Cleanup(func() { c.Close() })
	synctest.Wait()
	return c, cancel, done
}

// TestRunDrains: once ctx ends, Run returns only after the connections have
// drained, not when Serve returns (a main returning then would cut them).
func TestRunDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, cancel, done := runGreeter(t, time.Minute)
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) with a connection still draining", err)
		default:
		}
		buf := make([]byte, 8)
		if n, err := io.ReadFull(c, buf[:3]); err != nil || string(buf[:n]) != "bye" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
		if n, err := c.Read(buf); err != io.EOF {
			t.Fatalf("after the greeting: %q, %v; want EOF", buf[:n], err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

// TestRunDrainDeadline: a connection that does not drain within drain is
// closed, and Run returns then (nil: the shutdown was asked for); with drain
// 0 it is closed at once.
func TestRunDrainDeadline(t *testing.T) {
	for _, drain := range []time.Duration{0, 5 * time.Second} {
		t.Run(drain.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, cancel, done := runGreeter(t, drain) // the client never reads
				start := time.Now()
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("Run = %v", err)
				}
				if took := time.Since(start); took != drain {
					t.Errorf("Run returned after %v, want %v", took, drain)
				}
			})
		})
	}
}

// failListener fails every Accept.
type failListener struct{ pipeListener }

var errAcceptBoom = errors.New("accept: boom")

func (l *failListener) Accept() (net.Conn, error) { return nil, errAcceptBoom }

// TestRunListenerFails: a listener that fails shuts the server down (the
// other listeners close) and Run returns its error, without ctx ending.
func TestRunListenerFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: echoFactory()}
		other := newPipeListener()
		bad := &failListener{*newPipeListener()}
		if err := s.Run(context.Background(), time.Minute, other, bad); !errors.Is(err, errAcceptBoom) {
			t.Fatalf("Run = %v, want the listener's error", err)
		}
		select {
		case <-other.Done():
		default:
			t.Error("the other listener is still open")
		}
	})
}

// TestRunInvalid: no listener, or a negative drain, is a configuration error
// (and the listeners given are closed).
func TestRunInvalid(t *testing.T) {
	s := &Server{Factory: echoFactory()}
	if err := s.Run(context.Background(), time.Second); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("no listener: %v", err)
	}
	l := newPipeListener()
	if err := s.Run(context.Background(), -time.Second, l); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative drain: %v", err)
	}
	select {
	case <-l.Done():
	default:
		t.Error("the listener is still open")
	}
}
