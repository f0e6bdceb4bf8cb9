package weft_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// TestWriteAfterLoseConnection: once LoseConnection was called, Write and
// WriteBuffers return ErrClosed (Transport's contract), whether output was
// still pending or not, inside a callback or from another goroutine; what
// was written before is flushed.
func TestWriteAfterLoseConnection(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			for _, where := range []string{"callback", "outside"} {
				s, c := tc.pair(t)
				errs := make(chan error, 2)
				r := newRecorder(t)
				r.onMade = func(tr weft.Transport) {
					if where != "callback" {
						return
					}
					tr.Write([]byte("before"))
					tr.LoseConnection()
					_, err := tr.Write([]byte("after"))
					errs <- err
					errs <- tr.WriteBuffers([]byte("af"), []byte("ter"))
				}
				// The peer does not read yet, so output stays pending.
				done := serve(s, r, nil)
				tr := waitMade(t, r)
				want := []byte("before")
				if where == "outside" {
					want = bytes.Repeat([]byte("b"), 8<<20)
					if _, err := tr.Write(want); err != nil {
						t.Fatalf("%s: write before LoseConnection: %v", where, err)
					}
					tr.LoseConnection()
					_, err := tr.Write([]byte("after"))
					errs <- err
					errs <- tr.WriteBuffers([]byte("af"), []byte("ter"))
				}
				for range 2 {
					if err := <-errs; !errors.Is(err, weft.ErrClosed) {
						t.Errorf("%s: write after LoseConnection: %v, want ErrClosed", where, err)
					}
				}
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				got, err := io.ReadAll(c)
				if err != nil {
					t.Errorf("%s: peer read: %v", where, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: peer got %d bytes (%.20q...), want the %d written before LoseConnection and nothing after",
						where, len(got), got, len(want))
				}
				if err := r.waitLost(t); err != nil {
					t.Errorf("%s: ConnectionLost(%v), want nil", where, err)
				}
				<-done
			}
		})
	}
}

// TestPrereadWhilePaused: Options.Preread bytes are delivered first even when
// ConnectionMade pauses reading; after ResumeReading they come before what
// the socket holds, and none is lost.
func TestPrereadWhilePaused(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := newRecorder(t)
			r.onMade = func(tr weft.Transport) { tr.PauseReading() }
			done := serve(s, r, &weft.Options{Preread: []byte("early ")})
			tr := waitMade(t, r)
			if tc.name == "pipe" {
				go c.Write([]byte("late")) // a pipe's Write waits for the reader
			} else if _, err := c.Write([]byte("late")); err != nil {
				t.Fatal(err) // the socket holds it before reading resumes
			}
			tr.ResumeReading()
			if got := r.waitReceived("early late"); got != "early late" {
				t.Fatalf("got %q, want %q", got, "early late")
			}
			c.Close()
			r.waitLost(t)
			<-done
		})
	}
}

// TestPauseReadingFromOtherGoroutine: PauseReading called from another
// goroutine while the runtime waits for data (in Read, on a connection that
// is not a socket) stops delivery: bytes that arrive afterwards wait for
// ResumeReading. Fake time over net.Pipe. On loopback TCP, both engines (the
// readiness engine cannot run in a bubble):
// TestPauseReadingFromOtherGoroutineEngines, in real time.
func TestPauseReadingFromOtherGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c := net.Pipe()
		defer c.Close()
		r := newRecorder(t)
		done := serve(s, r, nil)
		synctest.Wait()
		tr := r.transport()
		if tr == nil {
			t.Fatal("ConnectionMade not called")
		}
		tr.PauseReading()
		go c.Write([]byte("while paused"))
		synctest.Wait()
		if got := r.received(); len(got) != 0 {
			t.Fatalf("delivered %q while paused", got)
		}
		tr.ResumeReading()
		synctest.Wait()
		if got := string(r.received()); got != "while paused" {
			t.Fatalf("after resume got %q", got)
		}
		c.Close()
		<-done
	})
}

// TestRegisterProducerAfterClose: a producer registered from another
// goroutine on a connection closed while a callback still runs is stopped
// serialized with the callbacks, not concurrently with the running one.
func TestRegisterProducerAfterClose(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			f := &flooder{recorder: *newRecorder(t)}
			inData := make(chan struct{})
			release := make(chan struct{})
			f.onData = func(weft.Transport, []byte) {
				close(inData)
				<-release
			}
			p := &selfProducer{f}
			done := serve(s, p, nil)
			go c.Write([]byte("x"))
			<-inData
			tr := f.transport()
			tr.Abort()
			tr.RegisterProducer(f)
			close(release)
			f.waitLost(t)
			<-done
			if f.overlaps.Load() != 0 {
				t.Fatal("StopProducing ran concurrently with DataReceived")
			}
			if n := f.stops.Load(); n != 1 {
				t.Fatalf("StopProducing called %d times, want 1", n)
			}
		})
	}
}

// selfProducer is a flooder that does not register or produce by itself.
type selfProducer struct{ *flooder }

func (p *selfProducer) ConnectionMade(t weft.Transport) { p.recorder.ConnectionMade(t) }
func (p *selfProducer) DataReceived(d []byte)           { p.recorder.DataReceived(d) }
func (p *selfProducer) ConnectionLost(err error)        { p.recorder.ConnectionLost(err) }

// TestPausedPeerHalfCloseAndReset: a connection paused when the peer sends
// and then half-closes or resets gets, after ResumeReading, every byte and
// then ConnectionLost (nil for a half-close).
func TestPausedPeerHalfCloseAndReset(t *testing.T) {
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue
		}
		for _, how := range []string{"halfclose", "reset"} {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				s, c := tc.pair(t)
				r := newRecorder(t)
				paused := make(chan struct{})
				r.onData = func(tr weft.Transport, d []byte) {
					if bytes.HasPrefix(d, []byte("P")) {
						tr.PauseReading()
						close(paused)
					}
				}
				done := serve(s, r, nil)
				c.Write([]byte("P"))
				<-paused
				c.Write([]byte("rest"))
				if how == "halfclose" {
					c.(*net.TCPConn).CloseWrite()
				} else {
					c.(*net.TCPConn).SetLinger(0)
					c.Close()
				}
				r.transport().ResumeReading()
				err := r.waitLost(t)
				if how == "halfclose" {
					if err != nil {
						t.Fatalf("ConnectionLost(%v), want nil", err)
					}
					if got := string(r.received()); got != "Prest" {
						t.Fatalf("got %q", got)
					}
				} else if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("reset: ConnectionLost(%v), want ECONNRESET", err)
				}
				<-done
			})
		}
	}
}

// TestStartTLSFromPost: StartTLS called from a posted function (not a read
// callback) sends the output queued before it in clear text and switches,
// without waiting for the peer to send anything first; the peer's
// close_notify then ends the connection cleanly. On every transport.
func TestStartTLSFromPost(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			run := postedStartTLS(t, tc.pair, false, true, nil)
			run.readSecret(t)
			if d := run.r.received(); len(d) != 0 {
				t.Fatalf("TLS bytes delivered as clear text: %q", d)
			}
			run.client.Close()
			if err := waitServe(t, run.done); err != nil {
				t.Errorf("Serve = %v after the peer's close_notify, want nil", err)
			}
		})
	}
}
