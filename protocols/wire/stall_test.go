package wire_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/wire"
	"github.com/weftkit/weft/server"
)

// TestChargenNonReaderDropped: a chargen client that never reads is
// aborted (weft.ErrAborted) once the sending has stayed paused for the
// default stall timeout, one minute, and not before; before, it held its
// connection, its goroutine and about 70 KB of buffer forever (without an
// IdleTimeout), where the one-shot services and poetry give such a client
// a minute.
func TestChargenNonReaderDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := net.Pipe()
		defer c.Close()
		done := make(chan error, 1)
		go func() { done <- weft.Serve(s, wire.Chargen{}.BuildProtocol(nil), nil) }()
		time.Sleep(59 * time.Second) // fake time
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("ended before the stall timeout: %v", err)
		default:
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		select {
		case err := <-done:
			if !errors.Is(err, weft.ErrAborted) {
				t.Fatalf("Serve = %v, want ErrAborted", err)
			}
		default:
			t.Fatal("a client that never read still holds its connection after a minute")
		}
	})
}

// TestChargenSlowReaderKept: a client that reads slowly but steadily, as
// much as the buffer holds within each stall timeout (here 2 KB a second:
// over net.Pipe, whose Write returns once all of it is read, the runtime's
// flusher holds the whole buffer, about 70 KB, until the client has read
// it), keeps its connection and gets the exact pattern; so does one whose
// pauses are longer than the timeout when StallTimeout is negative (none).
func TestChargenSlowReaderKept(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    wire.Chargen
		rate int // bytes a second
	}{
		{"default, 2 KB/s", wire.Chargen{}, 2 << 10},
		{"none, 100 B/s", wire.Chargen{StallTimeout: -1}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, s := net.Pipe()
				done := make(chan error, 1)
				go func() { done <- weft.Serve(s, tc.f.BuildProtocol(nil), nil) }()
				var got []byte
				buf := make([]byte, tc.rate)
				for range 300 { // five minutes
					time.Sleep(time.Second)
					n, err := io.ReadFull(c, buf)
					got = append(got, buf[:n]...)
					if err != nil {
						t.Fatalf("after %d bytes: %v (Serve: %v)", len(got), err, <-done)
					}
				}
				if !bytes.Equal(got, wire.ChargenPattern(len(got))) {
					t.Error("the stream is not the chargen pattern")
				}
				c.Close()
				if err := <-done; err != nil && !isClosedErr(err) {
					t.Errorf("Serve = %v, want a clean end", err)
				}
			})
		})
	}
}

// TestChargenShutdown: at a graceful server.Server Shutdown a chargen client
// that reads gets the pattern up to where the service stopped writing, then
// the end of stream, and Shutdown returns once it drained; the writing
// goroutine ends with the connection (goleak).
func TestChargenShutdown(t *testing.T) {
	srv := &server.Server{Factory: wire.Chargen{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	first := make([]byte, 1<<16)
	if _, err := io.ReadFull(c, first); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	rest, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d bytes: %v, want the end of stream", len(first)+len(rest), err)
	}
	got := append(first, rest...)
	if !bytes.Equal(got, wire.ChargenPattern(len(got))) {
		t.Error("the stream is not the chargen pattern")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
}
