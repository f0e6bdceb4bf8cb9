package weft_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// Adversarial review of the lingering close (52de093): a graceful close of
// a socket that holds unread input half-closes it and drains the peer for
// at most closeLinger (2 s) and closeLingerBytes (1 MiB) before closing.

// lingerBound is how long a test gives the runtime to end a connection that
// must not linger. The tests lengthen the linger to a minute (longLinger),
// so a lingering close fails them without a tight timed assertion.
const lingerBound = 10 * time.Second

// longLinger makes the close linger last a minute for the test.
func longLinger(t *testing.T) { t.Cleanup(weft.SetCloseLinger(time.Minute)) }

var errReviewCut = errors.New("review: cut")

// lingerPairs are the socket transports of these tests: the goroutine
// engine and the readiness engine, over TCP and unix sockets.
var lingerPairs = []struct {
	name string
	pair func(t testing.TB) (net.Conn, net.Conn)
}{
	{"tcp", tcpPair},
	{"epoll", enginePair},
	{"unix", unixPair},
	{"unix-epoll", func(t testing.TB) (net.Conn, net.Conn) {
		if testEngine == nil {
			t.Skip("no readiness engine on this platform")
		}
		s, c := unixPair(t)
		return engineUnix{s.(*net.UnixConn)}, c
	}},
}

// engineUnix marks a unix server connection to be served by testEngine.
type engineUnix struct{ *net.UnixConn }

// serveConn is serve, returning the Conn too (for Close(reason)).
func serveConn(conn net.Conn, p weft.Protocol, opts *weft.Options) (*weft.Conn, <-chan error) {
	o := weft.Options{}
	if opts != nil {
		o = *opts
	}
	switch conn.(type) {
	case engineConn, engineUnix:
		o.Engine = testEngine
	}
	c := weft.NewConn(conn, p, &o)
	ch := make(chan error, 1)
	go func() { ch <- c.Serve() }()
	return c, ch
}

// gatedRecorder returns a recorder whose first DataReceived tells got, waits
// for release, writes reply and calls then (LoseConnection, say): the test
// sends bytes in between that the Protocol never reads.
func gatedRecorder(t *testing.T, reply []byte, then func(weft.Transport)) (r *recorder, got, release chan struct{}) {
	r = newRecorder(t)
	got, release = make(chan struct{}), make(chan struct{})
	first := true
	r.onData = func(tr weft.Transport, d []byte) {
		if !first {
			return
		}
		first = false
		close(got)
		<-release
		tr.Write(reply)
		then(tr)
	}
	return r, got, release
}

// leaveUnread makes the peer c send "go", wait until the Protocol has it,
// send bytes the Protocol will not read, and let it go on.
func leaveUnread(t *testing.T, c net.Conn, got, release chan struct{}) {
	t.Helper()
	if _, err := c.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no DataReceived")
	}
	if _, err := c.Write([]byte("pipelined, never read")); err != nil {
		t.Fatal(err)
	}
	// On loopback the bytes are in the server's socket when Write returns.
	close(release)
}

// waitLostWithin returns ConnectionLost's reason, failing if it took more than d.
func waitLostWithin(t *testing.T, r *recorder, d time.Duration) (reason error) {
	t.Helper()
	select {
	case <-r.lostCh:
	case <-time.After(d):
		t.Fatalf("ConnectionLost not called within %v", d)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason
}

func readAllWithin(t *testing.T, c net.Conn) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return io.ReadAll(c)
}

// An abort (Close with a reason) that comes after the graceful close was
// decided but before the linger started must still cut it short, on both
// engines: it is what Server.Shutdown's deadline and Engine.Close do to a
// connection whose LoseConnection, from another goroutine, waits for its
// runner's turn. The posted Close runs in exactly that gap (after the
// callback's close, before the runner's next look at the descriptor).
func TestReviewLingerAbortInGap(t *testing.T) {
	longLinger(t)
	for _, tc := range lingerPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			var conn *weft.Conn
			ready := make(chan struct{})
			r, got, release := gatedRecorder(t, []byte("bye\n"), func(tr weft.Transport) {
				tr.LoseConnection()
				<-ready
				tr.(weft.Poster).Post(func() { conn.Close(errReviewCut) })
			})
			var done <-chan error
			conn, done = serveConn(s, r, nil)
			close(ready)
			leaveUnread(t, c, got, release)
			// The peer never closes: only the abort ends the connection.
			waitLostWithin(t, r, lingerBound)
			waitServe(t, done)
		})
	}
}

// Close(reason) during the linger (the peer read everything and the end of
// stream, but holds its side open) ends the connection at once on both
// engines, ConnectionLost exactly once.
func TestReviewLingerAbortDuringLinger(t *testing.T) {
	longLinger(t)
	for _, tc := range lingerPairs {
		for _, rst := range []bool{false, true} {
			name := tc.name + "/close"
			if rst {
				name = tc.name + "/abort"
			}
			t.Run(name, func(t *testing.T) {
				s, c := tc.pair(t)
				r, got, release := gatedRecorder(t, []byte("bye\n"), func(tr weft.Transport) { tr.LoseConnection() })
				conn, done := serveConn(s, r, nil)
				leaveUnread(t, c, got, release)
				b, err := readAllWithin(t, c)
				if err != nil || string(b) != "bye\n" {
					t.Fatalf("peer read %q, %v; want the reply and the end of stream", b, err)
				}
				select {
				case <-r.lostCh:
					t.Fatal("ConnectionLost before the peer closed: no linger")
				default:
				}
				if rst {
					conn.Transport().Abort()
				} else {
					conn.Close(errReviewCut)
				}
				reason := waitLostWithin(t, r, lingerBound)
				t.Logf("reason %v", reason)
				waitServe(t, done)
				// A write after the close fails.
				if _, err := conn.Transport().Write([]byte("x")); err == nil {
					t.Error("Write after the close succeeded")
				}
			})
		}
	}
}

// Engine.Close during a linger ends the connection before it returns.
func TestReviewLingerEngineClose(t *testing.T) {
	longLinger(t)
	e, err := weft.NewEngine()
	if err != nil {
		t.Skip(err)
	}
	defer e.Close()
	s, c := tcpPair(t)
	r, got, release := gatedRecorder(t, []byte("bye\n"), func(tr weft.Transport) { tr.LoseConnection() })
	done := make(chan error, 1)
	go func() { done <- weft.Serve(s, r, &weft.Options{Engine: e}) }()
	leaveUnread(t, c, got, release)
	if b, err := readAllWithin(t, c); err != nil || string(b) != "bye\n" {
		t.Fatalf("peer read %q, %v", b, err)
	}
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(lingerBound):
		t.Fatal("Engine.Close did not return")
	}
	select {
	case <-r.lostCh:
	default:
		t.Fatal("Engine.Close returned before the lingering connection's ConnectionLost")
	}
	waitServe(t, done)
}

// With no unread input the close is at once, the peer holding its side
// open: no linger, on every socket transport.
func TestReviewLingerNoUnreadNoWait(t *testing.T) {
	longLinger(t)
	for _, tc := range lingerPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := newRecorder(t)
			r.onData = func(tr weft.Transport, d []byte) {
				tr.Write([]byte("bye\n"))
				tr.LoseConnection()
			}
			_, done := serveConn(s, r, nil)
			c.Write([]byte("go"))
			if b, err := readAllWithin(t, c); err != nil || string(b) != "bye\n" {
				t.Fatalf("peer read %q, %v", b, err)
			}
			if reason := waitLostWithin(t, r, lingerBound); reason != nil {
				t.Errorf("ConnectionLost(%v), want nil", reason)
			}
			waitServe(t, done)
		})
	}
}

// A peer that half-closes after its unread bytes ends the linger at once,
// and gets everything, then the end of stream.
func TestReviewLingerPeerHalfCloses(t *testing.T) {
	longLinger(t)
	reply := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for _, tc := range lingerPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r, got, release := gatedRecorder(t, reply, func(tr weft.Transport) { tr.LoseConnection() })
			_, done := serveConn(s, r, &weft.Options{MaxWriteBuffer: 4 << 20})
			c.Write([]byte("go"))
			<-got
			c.Write([]byte("more"))
			c.(interface{ CloseWrite() error }).CloseWrite()
			close(release)
			b, err := readAllWithin(t, c)
			if err != nil || !bytes.Equal(b, reply) {
				t.Fatalf("peer read %d of %d bytes, then %v", len(b), len(reply), err)
			}
			if reason := waitLostWithin(t, r, lingerBound); reason != nil {
				t.Errorf("ConnectionLost(%v), want nil", reason)
			}
			waitServe(t, done)
		})
	}
}

// A peer that keeps sending and never closes: the linger ends after its
// bound (1 MiB here: the tests lengthen its time to a minute),
// ConnectionLost(nil) once, the peer got the reply and the end of stream
// first.
func TestReviewLingerPeerKeepsSending(t *testing.T) {
	longLinger(t)
	for _, tc := range lingerPairs {
		for _, fast := range []bool{false, true} {
			name := tc.name + "/slow"
			if fast {
				name = tc.name + "/fast"
			}
			t.Run(name, func(t *testing.T) {
				s, c := tc.pair(t)
				r, got, release := gatedRecorder(t, []byte("bye\n"), func(tr weft.Transport) { tr.LoseConnection() })
				_, done := serveConn(s, r, nil)
				leaveUnread(t, c, got, release)
				b := make([]byte, 4)
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.ReadFull(c, b); err != nil || string(b) != "bye\n" {
					t.Fatalf("peer read %q, %v", b, err)
				}
				stop := make(chan struct{})
				sent := make(chan int, 1)
				var count atomic.Int64
				go func() {
					chunk := make([]byte, 1024)
					if fast {
						chunk = make([]byte, 64<<10)
					}
					n := 0
					tick := time.NewTicker(time.Millisecond)
					defer tick.Stop()
					for {
						c.SetWriteDeadline(time.Now().Add(5 * time.Second))
						m, err := c.Write(chunk)
						n += m
						count.Add(int64(m))
						if err != nil {
							sent <- n
							return
						}
						if !fast {
							select {
							case <-tick.C:
							case <-stop:
								sent <- n
								return
							}
						}
					}
				}()
				bound := lingerBound // 1 MiB comes long before the linger's minute
				start := time.Now()
				reason := waitLostWithin(t, r, bound)
				took := time.Since(start)
				atLost := count.Load()
				close(stop)
				n := <-sent
				t.Logf("ConnectionLost(%v) after %v; the peer sent %d bytes (%d by then)", reason, took, n, atLost)
				// The slow peer's bytes are drained as they come: by the
				// close it sent 1 MiB, plus what the sockets hold and
				// the close's own delay.
				if !fast && atLost > 3<<19 {
					t.Errorf("the linger went on after %d bytes (bound 1 MiB)", atLost)
				}
				if reason != nil {
					t.Errorf("ConnectionLost(%v), want nil", reason)
				}
				waitServe(t, done)
			})
		}
	}
}

// Write and Post during the linger: Write fails with ErrClosed, posted
// work runs before ConnectionLost or never; LoseConnection again is a
// no-op.
func TestReviewLingerWritePostDuringLinger(t *testing.T) {
	longLinger(t)
	for _, tc := range lingerPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r, got, release := gatedRecorder(t, []byte("bye\n"), func(tr weft.Transport) { tr.LoseConnection() })
			conn, done := serveConn(s, r, nil)
			leaveUnread(t, c, got, release)
			if b, err := readAllWithin(t, c); err != nil || string(b) != "bye\n" {
				t.Fatalf("peer read %q, %v", b, err)
			}
			tr := conn.Transport()
			if _, err := tr.Write([]byte("late")); !errors.Is(err, weft.ErrClosed) {
				t.Errorf("Write during the linger: %v, want ErrClosed", err)
			}
			ran := make(chan bool, 1)
			tr.(weft.Poster).Post(func() {
				select {
				case <-r.lostCh:
					ran <- false
				default:
					ran <- true
				}
			})
			tr.LoseConnection()
			c.Close()
			waitLostWithin(t, r, lingerBound)
			select {
			case ok := <-ran:
				if !ok {
					t.Error("posted work ran after ConnectionLost")
				}
			default:
			}
			waitServe(t, done)
		})
	}
}

// TLS (a TLS listener's connection, and StartTLS on both engines): the peer
// gets the whole reply, then close_notify, even with bytes left unread; the
// linger ends with the peer's close.
func TestReviewLingerTLS(t *testing.T) {
	longLinger(t)
	cfg, pool := testCert(t)
	cc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	reply := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	t.Run("listener", func(t *testing.T) {
		s, c := tcpPair(t)
		r, got, release := gatedRecorder(t, reply, func(tr weft.Transport) { tr.LoseConnection() })
		_, done := serveConn(tls.Server(s, cfg), r, &weft.Options{MaxWriteBuffer: 4 << 20})
		tc := tls.Client(c, cc)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := tc.Write([]byte("go")); err != nil {
			t.Fatal(err)
		}
		<-got
		tc.Write([]byte("more, never read"))
		close(release)
		b, err := io.ReadAll(tc)
		if err != nil || !bytes.Equal(b, reply) {
			t.Fatalf("peer read %d of %d bytes, then %v", len(b), len(reply), err)
		}
		select {
		case <-r.lostCh:
			t.Log("no linger (the unread bytes were in the TLS layer)")
		default:
		}
		tc.Close()
		if reason := waitLostWithin(t, r, lingerBound); reason != nil {
			t.Errorf("ConnectionLost(%v), want nil", reason)
		}
		waitServe(t, done)
	})
	for _, tr := range tcpAndEngine {
		t.Run("starttls/"+tr.name, func(t *testing.T) {
			s, c := tr.pair(t)
			srv := newSTServer(cfg)
			got, release := make(chan struct{}), make(chan struct{})
			srv.tlsData = func(tr weft.Transport, d []byte) {
				close(got)
				<-release
				tr.Write(reply)
				tr.LoseConnection()
			}
			_, done := serveConn(s, srv, &weft.Options{MaxWriteBuffer: 4 << 20})
			_, tc, _ := stClient(t, c, cc)
			if _, err := tc.Write([]byte("go")); err != nil {
				t.Fatal(err)
			}
			<-got
			tc.Write([]byte("more, never read"))
			close(release)
			b, err := io.ReadAll(tc)
			if err != nil || !bytes.Equal(b, reply) {
				t.Fatalf("peer read %d of %d bytes, then %v", len(b), len(reply), err)
			}
			tc.Close()
			if reason := srv.waitLost(t); reason != nil {
				t.Errorf("ConnectionLost(%v), want nil", reason)
			}
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
		})
	}
}

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(ents)
}

// The lingering close releases its descriptor on both engines, whichever
// way it ends.
func TestReviewLingerReleasesFD(t *testing.T) {
	longLinger(t)
	for _, tc := range lingerPairs {
		t.Run(tc.name, func(t *testing.T) {
			before := openFDs(t)
			for range 5 {
				s, c := tc.pair(t)
				r, got, release := gatedRecorder(t, []byte("bye\n"), func(tr weft.Transport) { tr.LoseConnection() })
				_, done := serveConn(s, r, nil)
				leaveUnread(t, c, got, release)
				readAllWithin(t, c)
				c.Close()
				s.Close() // the test's own copy (the engine dups it)
				waitLostWithin(t, r, lingerBound)
				waitServe(t, done)
			}
			if after := openFDs(t); after > before {
				t.Errorf("%d descriptors open before, %d after", before, after)
			}
		})
	}
}

// blindConn sends what its TLS client writes but never reads: the client's
// handshake sends its ClientHello, then waits for ever.
type blindConn struct {
	net.Conn
	stop chan struct{}
}

func (b blindConn) Read([]byte) (int, error) { <-b.stop; return 0, io.EOF }

// outq returns the bytes that the TCP socket s (on 127.0.0.1) has not
// sent yet, from /proc/net/tcp's tx_queue.
func outq(t *testing.T, s net.Conn) int {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skip(err)
	}
	addr := s.LocalAddr().(*net.TCPAddr)
	local := fmt.Sprintf("0100007F:%04X", addr.Port)
	remote := fmt.Sprintf("0100007F:%04X", s.RemoteAddr().(*net.TCPAddr).Port)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[1] == local && f[2] == remote {
			tx, _, _ := strings.Cut(f[4], ":")
			n, _ := strconv.ParseInt(tx, 16, 64)
			return int(n)
		}
	}
	t.Fatalf("no socket %s in /proc/net/tcp", local)
	return 0
}

// A graceful close while the TLS handshake is blocked writing to a peer
// that reads nothing (a TLS listener's connection, whose handshake runs in
// its first Read, and a StartTLS switch) must end the connection, as it did
// when the close closed the socket under the handshake. The linger wakes a
// blocked Read only: the handshake's Write stayed blocked, and nothing (an
// Abort, Close, the timers) could end it. The StartTLS switch on both
// engines (on the readiness engine, a goroutine the connection was handed
// over to makes it).
func TestReviewLingerHandshakeBlockedInWrite(t *testing.T) {
	longLinger(t)
	cfg, _ := testCert(t)
	// A certificate chain far larger than the socket buffers: the server's
	// handshake flight blocks in Write.
	chain := make([][]byte, 4000)
	for i := range chain {
		chain[i] = cfg.Certificates[0].Certificate[0]
	}
	big := cfg.Clone()
	big.Certificates = []tls.Certificate{{Certificate: chain, PrivateKey: cfg.Certificates[0].PrivateKey}}
	for _, how := range []string{"listener", "starttls", "starttls-epoll"} {
		for _, end := range []string{"lose", "abort"} {
			t.Run(how+"/"+end, func(t *testing.T) {
				pair := tcpPair
				if how == "starttls-epoll" {
					pair = enginePair
				}
				s, c := pair(t)
				// Small buffers (no autotuning): the flight cannot
				// fit in them.
				tcpUnder(t, s).SetWriteBuffer(32 << 10)
				c.(*net.TCPConn).SetReadBuffer(32 << 10)
				stop := make(chan struct{})
				defer close(stop)
				r := newRecorder(t)
				var done <-chan error
				var conn *weft.Conn
				if how == "listener" {
					conn, done = serveConn(tls.Server(s, big), r, nil)
				} else {
					r.onData = func(tr weft.Transport, d []byte) {
						tr.Write([]byte("220 go\r\n"))
						weft.StartTLS(tr, big, d[len("STARTTLS\r\n"):])
					}
					conn, done = serveConn(s, r, nil)
					c.Write([]byte("STARTTLS\r\n"))
					b := make([]byte, 8)
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if _, err := io.ReadFull(c, b); err != nil {
						t.Fatal(err)
					}
				}
				waitMade(t, r)
				go tls.Client(blindConn{c, stop}, &tls.Config{InsecureSkipVerify: true}).Handshake()
				deadline := time.Now().Add(10 * time.Second)
				for outq(t, s) == 0 {
					if time.Now().After(deadline) {
						t.Fatal("the server's handshake flight did not start")
					}
					time.Sleep(10 * time.Millisecond)
				}
				// The flight is under way, and blocks in Write.
				conn.Transport().LoseConnection()
				if end == "abort" {
					conn.Transport().Abort()
				}
				waitLostWithin(t, r, lingerBound)
				waitServe(t, done)
			})
		}
	}
}

// A graceful close from another goroutine while the serve goroutine waits
// in Read wakes it with a deadline (closeSock): that wake-up is no read
// failure, and must not cut the linger short as an abort would. With one
// P, the peer's bytes arrive before the close but the reader runs only
// after it, and sees the deadline, not the bytes: before the fix it
// aborted, the close found the bytes unread and reset the connection.
func TestReviewLingerReaderWokenByClose(t *testing.T) {
	longLinger(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, tc := range lingerPairs {
		t.Run(tc.name, func(t *testing.T) {
			for range 20 {
				s, c := tc.pair(t)
				r := newRecorder(t)
				_, done := serveConn(s, r, nil)
				tr := waitMade(t, r)
				c.Write(make([]byte, 64<<10)) // more than the close's look takes
				tr.Write([]byte("bye\n"))
				tr.LoseConnection()
				b, err := readAllWithin(t, c)
				if err != nil || string(b) != "bye\n" {
					t.Fatalf("peer read %q, then %v; want the reply, then the end of stream", b, err)
				}
				c.Close()
				waitLostWithin(t, r, lingerBound)
				waitServe(t, done)
			}
		})
	}
}

// PauseReading in effect at the close: the peer's bytes wait in the kernel
// (unread), so the close lingers; the peer gets the reply and the end of
// stream, and the linger ends with the peer's close.
func TestReviewLingerPausedAtClose(t *testing.T) {
	longLinger(t)
	for _, tc := range lingerPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := newRecorder(t)
			r.onMade = func(tr weft.Transport) { tr.PauseReading() }
			_, done := serveConn(s, r, nil)
			tr := waitMade(t, r)
			c.Write(make([]byte, 64<<10))
			tr.Write([]byte("bye\n"))
			tr.LoseConnection()
			tr.LoseConnection()
			if b, err := readAllWithin(t, c); err != nil || string(b) != "bye\n" {
				t.Fatalf("peer read %q, then %v", b, err)
			}
			select {
			case <-r.lostCh:
				t.Fatal("ConnectionLost before the peer closed: no linger")
			default:
			}
			if got := r.received(); len(got) != 0 {
				t.Errorf("%d bytes delivered while paused", len(got))
			}
			c.Close()
			if reason := waitLostWithin(t, r, lingerBound); reason != nil {
				t.Errorf("ConnectionLost(%v), want nil", reason)
			}
			waitServe(t, done)
		})
	}
}
