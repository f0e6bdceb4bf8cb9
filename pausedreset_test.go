package weft_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// resetClose closes c with a reset (SO_LINGER 0), as a peer that aborts.
func resetClose(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestPausedConnEndsOnReset: a connection whose reading is paused for good
// (no IdleTimeout) still ends when its peer resets it, on both socket
// transports: before, nothing looked at the socket while reading was paused,
// so the dead connection stayed open until a ResumeReading that might never
// come (and a keep-alive's finding, an error on the socket too, went
// unnoticed: see server's TestKeepAliveEndsVanishedPeer). The bytes the
// peer sent before its reset are dropped, as TCP discards a reset
// connection's data.
//
// Over TLS the same holds once the handshake is done (before it, a Write
// may run the handshake, which reads the socket, and only IdleTimeout ends
// a paused connection).
//
// A plain end of stream is not an error: the paused connection keeps the
// bytes and the end of stream for its ResumeReading, which delivers both,
// and a ResumeReading after the peer's bytes (and no end) delivers them
// and reading goes on.
func TestPausedConnEndsOnReset(t *testing.T) {
	for _, tr := range transports {
		if tr.name == "pipe" {
			continue // no socket to reset
		}
		t.Run(tr.name+"/reset", func(t *testing.T) {
			s, c := tr.pair(t)
			r := newRecorder(t)
			r.onMade = func(t weft.Transport) { t.PauseReading() }
			done := serve(s, r, nil)
			waitMade(t, r)
			if _, err := c.Write([]byte("unread")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // the bytes wait in the socket
			resetClose(t, c)
			if err := r.waitLost(t); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("ConnectionLost(%v), want ECONNRESET", err)
			}
			if got := r.received(); len(got) != 0 {
				t.Errorf("received %q while paused", got)
			}
			if err := <-done; !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("Serve returned %v, want ECONNRESET", err)
			}
		})
		t.Run(tr.name+"/end-of-stream", func(t *testing.T) {
			s, c := tr.pair(t)
			r := newRecorder(t)
			r.onMade = func(t weft.Transport) { t.PauseReading() }
			done := serve(s, r, nil)
			tp := waitMade(t, r)
			if _, err := c.Write([]byte("kept")); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).CloseWrite()
			select {
			case <-r.lostCh:
				t.Fatalf("a paused connection ended at the peer's end of stream: %v", r.reason)
			case <-time.After(200 * time.Millisecond):
			}
			tp.ResumeReading()
			if got := r.waitReceived("kept"); got != "kept" {
				t.Errorf("after ResumeReading received %q, want %q", got, "kept")
			}
			if err := r.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil after the peer's end of stream", err)
			}
			<-done
		})
		t.Run(tr.name+"/resume", func(t *testing.T) {
			s, c := tr.pair(t)
			r := newRecorder(t)
			r.onMade = func(t weft.Transport) { t.PauseReading() }
			r.onData = func(t weft.Transport, d []byte) { t.Write(d) }
			done := serve(s, r, nil)
			tp := waitMade(t, r)
			if _, err := c.Write([]byte("one ")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // the paused reader sees the bytes arrive
			tp.ResumeReading()
			if _, err := c.Write([]byte("two")); err != nil {
				t.Fatal(err)
			}
			if got := r.waitReceived("one two"); got != "one two" {
				t.Errorf("received %q, want %q", got, "one two")
			}
			// Paused and resumed again while the reader waits.
			tp.PauseReading()
			time.Sleep(20 * time.Millisecond)
			tp.ResumeReading()
			if _, err := c.Write([]byte("!")); err != nil {
				t.Fatal(err)
			}
			if got := r.waitReceived("one two!"); got != "one two!" {
				t.Errorf("received %q, want %q", got, "one two!")
			}
			echo := make([]byte, len("one two!"))
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(c, echo); err != nil || string(echo) != "one two!" {
				t.Errorf("echo %q, %v", echo, err)
			}
			c.Close()
			if err := r.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			<-done
		})
	}
}

func TestPausedTLSConnEndsOnReset(t *testing.T) {
	srvCfg, cliCfg := testenv.TLSConfigs(t)
	s, c := tcpPair(t)
	r := newRecorder(t)
	r.onData = func(t weft.Transport, d []byte) { t.PauseReading() } // after the handshake
	done := serve(tls.Server(s, srvCfg), r, nil)
	tc := tls.Client(c, cliCfg)
	if _, err := tc.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	if got := r.waitReceived("first"); got != "first" {
		t.Fatalf("received %q, want %q", got, "first")
	}
	if _, err := tc.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the record waits in the socket
	resetClose(t, c)
	if err := r.waitLost(t); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("ConnectionLost(%v), want ECONNRESET", err)
	}
	if got := string(r.received()); got != "first" {
		t.Errorf("received %q, want only %q", got, "first")
	}
	<-done
}

// TestPausedUnixConnEndsOnPeerCloseWithUnread: a unix socket's peer that
// closes without reading what it was sent resets the connection (Linux
// gives the survivor ECONNRESET), so a paused connection ends then too, on
// both engines; a peer that read everything and closed leaves a plain end
// of stream, which waits for ResumeReading with the bytes before it.
func TestPausedUnixConnEndsOnPeerCloseWithUnread(t *testing.T) {
	for _, tr := range []struct {
		name string
		pair func(*testing.T) (net.Conn, net.Conn)
	}{{"unix", propUnixPair}, {"epoll-unix", propEngineUnixPair}} {
		for _, unread := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/unread=%v", tr.name, unread), func(t *testing.T) {
				if tr.name == "epoll-unix" && testEngine == nil {
					t.Skip("no readiness engine on this platform")
				}
				if unread && runtime.GOOS != "linux" {
					t.Skip("the reset of a unix socket closed with unread input is Linux's")
				}
				s, c := tr.pair(t)
				r := newRecorder(t)
				r.onMade = func(t weft.Transport) {
					t.Write([]byte("hello"))
					t.PauseReading()
				}
				done := serve(s, r, withEngine(s, nil))
				tp := waitMade(t, r)
				if !unread {
					b := make([]byte, 5)
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if _, err := io.ReadFull(c, b); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := c.Write([]byte("bytes")); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond) // the bytes reach the paused connection's socket
				c.Close()
				if unread {
					if err := r.waitLost(t); !errors.Is(err, syscall.ECONNRESET) {
						t.Errorf("ConnectionLost(%v), want ECONNRESET", err)
					}
				} else {
					select {
					case <-r.lostCh:
						t.Fatalf("a paused connection ended at the peer's plain close: %v", r.reason)
					case <-time.After(200 * time.Millisecond):
					}
					tp.ResumeReading()
					if got := r.waitReceived("bytes"); got != "bytes" {
						t.Errorf("after ResumeReading received %q, want %q", got, "bytes")
					}
					if err := r.waitLost(t); err != nil {
						t.Errorf("ConnectionLost(%v), want nil", err)
					}
				}
				<-done
			})
		}
	}
}
