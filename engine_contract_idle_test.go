package weft_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// The tests in this file are the real-time counterparts, over loopback TCP
// on both engines ("tcp": the goroutine engine, "epoll": the readiness
// engine), of TestIdleTimeout and TestIdleTimeoutCountsProgress, which run
// in a synctest bubble over net.Pipe. The readiness engine cannot run in a
// bubble: its poller waits in epoll through the netpoller, which is not a
// durable block, so fake time never advances (an engine made in the bubble
// hangs the test); and the shared test engine's workers, started from a
// goroutine of the bubble, would join it and outlive it (synctest.Test
// panics). So these use real time, asserting only what must happen
// "eventually, within 10 s", and what must not happen with a wide margin:
// an IdleTimeout of 1 s against activity every 100 ms.

// idleRealTimeout is the IdleTimeout of the real-time tests; activity comes
// every idleRealTick, ten times as often.
const (
	idleRealTimeout = time.Second
	idleRealTick    = 100 * time.Millisecond
)

// tcpUnder returns the TCP connection under a socket transport's server end.
func tcpUnder(t *testing.T, s net.Conn) *net.TCPConn {
	t.Helper()
	switch s := s.(type) {
	case engineConn:
		return s.TCPConn
	case *net.TCPConn:
		return s
	}
	t.Fatalf("%T is not a TCP connection", s)
	return nil
}

// TestIdleTimeoutEngines: with no byte moving either way for IdleTimeout
// the connection closes with ErrIdleTimeout; traffic keeps it open. The
// real-time version of TestIdleTimeout (see the top of this file for why
// it is not in a synctest bubble).
func TestIdleTimeoutEngines(t *testing.T) {
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue // TestIdleTimeout, in fake time
		}
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := newRecorder(t)
			done := serve(s, r, &weft.Options{IdleTimeout: idleRealTimeout})
			waitMade(t, r)
			// Traffic for three times IdleTimeout, every tenth of it.
			const pings = 3 * int(idleRealTimeout/idleRealTick)
			start, last := time.Now(), time.Now()
			var lastSent time.Time
			var maxGap time.Duration
			for i := range pings {
				time.Sleep(idleRealTick)
				select {
				case <-r.lostCh:
					if gap := max(maxGap, time.Since(last)); gap >= idleRealTimeout/2 {
						// Not the runtime's fault: this goroutine did not
						// run for half of IdleTimeout (a loaded machine).
						t.Skipf("closed (%v), but a gap between pings was %v: the machine stalled, the test proves nothing", r.reason, gap)
					}
					t.Fatalf("closed (%v) after %d pings in %v although traffic every %v kept it alive (largest gap between pings %v)",
						r.reason, i, time.Since(start), idleRealTick, max(maxGap, time.Since(last)))
				default:
				}
				maxGap = max(maxGap, time.Since(last))
				// The server may read the ping before Write returns
				// here: its idle time starts no earlier than this.
				lastSent = time.Now()
				if _, err := c.Write([]byte("ping")); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				last = time.Now()
			}
			want := strings.Repeat("ping", pings)
			if got := r.waitReceived(want); got != want {
				t.Fatalf("received %d bytes, want %d", len(got), len(want))
			}
			// Now idle: it must close, and not before IdleTimeout has
			// passed since the last byte (which the runtime read after
			// the peer's Write began; measured from Write's return, it
			// failed once by 1 ms).
			err := r.waitLost(t)
			if idle := time.Since(lastSent); idle < idleRealTimeout {
				t.Errorf("closed %v after the last traffic, before IdleTimeout %v", idle, idleRealTimeout)
			}
			if !errors.Is(err, weft.ErrIdleTimeout) {
				t.Fatalf("ConnectionLost(%v), want ErrIdleTimeout", err)
			}
			if err := <-done; !errors.Is(err, weft.ErrIdleTimeout) {
				t.Fatalf("Serve: %v, want ErrIdleTimeout", err)
			}
			// The peer sees the end.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Fatalf("peer read %d bytes (%v) after the idle close", n, err)
			}
		})
	}
}

// TestIdleTimeoutCountsProgressEngines: IdleTimeout counts bytes that
// leave, not whole writes. A peer that reads 1 MiB at 32 KiB every 100 ms
// (3.2 s) with an IdleTimeout of 1 s gets all of it; a peer that reads
// nothing is cut off after IdleTimeout. The socket buffers are made small
// (32 KiB) so that the kernel cannot take most of the output at once. The
// real-time version of TestIdleTimeoutCountsProgress (see the top of this
// file for why it is not in a synctest bubble); TLS connections are served
// by a goroutine on either engine (Options.Engine), and are tested there.
func TestIdleTimeoutCountsProgressEngines(t *testing.T) {
	const (
		size  = 1 << 20
		chunk = 32 << 10
	)
	small := func(t *testing.T, s, c net.Conn) {
		t.Helper()
		if err := tcpUnder(t, s).SetWriteBuffer(32 << 10); err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue // TestIdleTimeoutCountsProgress, in fake time
		}
		t.Run(tc.name+"/slow reader", func(t *testing.T) {
			s, c := tc.pair(t)
			small(t, s, c)
			var counters weft.Counters
			p := &funcProto{made: func(tr weft.Transport) {
				tr.Write(make([]byte, size))
				tr.LoseConnection()
			}}
			done := serve(s, p, &weft.Options{IdleTimeout: idleRealTimeout, Counters: &counters, MaxWriteBuffer: 2 * size})
			start := time.Now()
			got, buf := 0, make([]byte, chunk)
			var stillSending bool
			var maxGap time.Duration
			last := time.Now()
			for {
				time.Sleep(idleRealTick)
				maxGap = max(maxGap, time.Since(last))
				last = time.Now()
				// The test proves something only if output is still
				// leaving well after IdleTimeout: by 1.5 s the peer
				// has read at most 480 KiB, the buffers hold little.
				if time.Since(start) > 3*idleRealTimeout/2 && counters.BytesOut.Load() < size {
					stillSending = true
				}
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := io.ReadFull(c, buf)
				got += n
				if err != nil {
					if err != io.EOF && err != io.ErrUnexpectedEOF {
						t.Errorf("peer read: %v", err)
					}
					break
				}
			}
			if got != size && maxGap >= idleRealTimeout/2 {
				// Not the runtime's fault: the reader did not run for
				// half of IdleTimeout (a loaded machine).
				t.Skipf("read %d bytes of %d, but a gap between reads was %v: the machine stalled, the test proves nothing", got, size, maxGap)
			}
			if got != size {
				t.Errorf("read %d bytes, want %d (largest gap between reads %v)", got, size, maxGap)
			}
			if err := <-done; err != nil {
				t.Errorf("Serve: %v, want a clean close", err)
			}
			if !stillSending {
				t.Errorf("all output had left %v after the start: the socket buffers took it, the test proves nothing",
					3*idleRealTimeout/2)
			}
		})
		t.Run(tc.name+"/stalled reader", func(t *testing.T) {
			s, c := tc.pair(t)
			small(t, s, c)
			p := &funcProto{made: func(tr weft.Transport) { tr.Write(make([]byte, size)) }}
			start := time.Now()
			done := serve(s, p, &weft.Options{IdleTimeout: idleRealTimeout, MaxWriteBuffer: 2 * size})
			select {
			case err := <-done:
				if !errors.Is(err, weft.ErrIdleTimeout) {
					t.Fatalf("Serve: %v, want ErrIdleTimeout", err)
				}
			case <-time.After(idleRealTimeout + 10*time.Second):
				t.Fatal("a peer that reads nothing still holds the connection 10 s after IdleTimeout")
			}
			if took := time.Since(start); took < idleRealTimeout {
				t.Errorf("closed after %v, before IdleTimeout %v", took, idleRealTimeout)
			}
		})
	}
}
