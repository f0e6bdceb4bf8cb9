package weft_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// A TLS connection whose peer never makes the handshake: LoseWriteConnection
// waits for the handshake; a LoseConnection after it, with nothing to send,
// must close as a LoseConnection alone does (at once, cleanly), not wait for
// a handshake that will never come. IdleTimeout and Conn.Close end the wait
// too, with their reasons.
func TestReviewHalfCloseTLSNoHandshakeThenLose(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *weft.Options
		end  func(*weft.Conn, weft.Transport)
		want error
	}{
		{"lose", nil, func(_ *weft.Conn, tr weft.Transport) { tr.LoseConnection() }, nil},
		{"idle", &weft.Options{IdleTimeout: 300 * time.Millisecond}, func(*weft.Conn, weft.Transport) {}, weft.ErrIdleTimeout},
		{"close", nil, func(c *weft.Conn, _ weft.Transport) { c.Close(weft.ErrServerShutdown) }, weft.ErrServerShutdown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tcpPair(t)
			cfg, _ := testCert(t)
			p := newHalfProto()
			res := make(chan error, 1)
			conn := weft.NewConn(tls.Server(s, cfg), p, tc.opts)
			p.made = func(tr weft.Transport) {
				res <- weft.LoseWriteConnection(tr)
				go func() {
					time.Sleep(100 * time.Millisecond) // the flusher waits in the handshake
					tc.end(conn, tr)
				}()
			}
			done := make(chan error, 1)
			go func() { done <- conn.Serve() }()
			if err := <-res; err != nil {
				t.Fatalf("LoseWriteConnection = %v", err)
			}
			select {
			case err := <-p.lostCh:
				if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Errorf("ConnectionLost(%v), want %v", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("%s after LoseWriteConnection on a TLS connection whose peer makes no handshake: not closed within 5 s", tc.name)
				c.Close() // the peer goes: the handshake fails
				p.waitLost(t)
			}
			waitServe(t, done)
		})
	}
}

// raceProto is a HalfCloseable Protocol that checks the callback contract:
// never concurrent, ConnectionLost once and last, nothing after it.
type raceProto struct {
	t      testing.TB
	inCall atomic.Int32
	lost   atomic.Int32
	bad    atomic.Int32
	made   func(weft.Transport)
	rlost  func(weft.Transport)
	tr     weft.Transport
	lostCh chan error
}

func (p *raceProto) enter() {
	if p.inCall.Add(1) != 1 || p.lost.Load() != 0 {
		p.bad.Add(1)
	}
}

func (p *raceProto) ConnectionMade(t weft.Transport) {
	p.enter()
	defer p.inCall.Add(-1)
	p.tr = t
	if p.made != nil {
		p.made(t)
	}
}

func (p *raceProto) DataReceived([]byte) {
	p.enter()
	p.inCall.Add(-1)
}

func (p *raceProto) ReadConnectionLost() {
	p.enter()
	defer p.inCall.Add(-1)
	if p.rlost != nil {
		p.rlost(p.tr)
	}
}

func (p *raceProto) ConnectionLost(err error) {
	p.enter()
	p.lost.Add(1)
	p.inCall.Add(-1)
	p.lostCh <- err
}

// LoseWriteConnection racing the other ends of a connection — LoseConnection,
// Abort, Conn.Close, the peer's end of stream, the peer's reset — from
// several goroutines, many times, on every transport that can half-close:
// ConnectionLost is called exactly once, never with another callback, with
// a reason that is one of the enders'; Serve returns; the peer reads a
// prefix of the output, and all of it when nothing aborted.
func TestReviewHalfCloseRaces(t *testing.T) {
	const rounds = 30
	out := bytes.Repeat([]byte("0123456789"), 10000)
	enders := []string{"lose", "abort", "close", "peerEOF", "peerRST", "lwc"}
	for _, tc := range halfPairs {
		t.Run(tc.name, func(t *testing.T) {
			for i := range rounds {
				a, b := enders[i%len(enders)], enders[(i/len(enders)+i+1)%len(enders)]
				s, c := tc.pair(t)
				p := &raceProto{t: t, lostCh: make(chan error, 2)}
				var conn *weft.Conn
				ready := make(chan weft.Transport, 1)
				p.made = func(tr weft.Transport) {
					tr.Write(out)
					ready <- tr
				}
				p.rlost = func(tr weft.Transport) { weft.LoseWriteConnection(tr) }
				opts := &weft.Options{}
				if _, ok := s.(engineConn); ok {
					opts.Engine = testEngine
				}
				conn = weft.NewConn(s, p, opts)
				done := make(chan error, 1)
				go func() { done <- conn.Serve() }()
				if tc, ok := c.(*tls.Conn); ok {
					// A TLS peer's CloseWrite needs its handshake done.
					c.SetDeadline(time.Now().Add(10 * time.Second))
					if err := tc.Handshake(); err != nil {
						t.Fatal(err)
					}
				}
				var got []byte
				readDone := make(chan struct{})
				go func() {
					defer close(readDone)
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					got, _ = io.ReadAll(c)
				}()
				tr := <-ready
				var wg sync.WaitGroup
				do := func(what string) {
					defer wg.Done()
					switch what {
					case "lose":
						tr.LoseConnection()
					case "abort":
						tr.Abort()
					case "close":
						conn.Close(weft.ErrServerShutdown)
					case "peerEOF":
						c.CloseWrite()
					case "peerRST":
						if tcp, ok := c.(*net.TCPConn); ok {
							tcp.SetLinger(0)
						}
						c.Close()
					case "lwc":
						weft.LoseWriteConnection(tr)
					}
				}
				wg.Add(3)
				go do("lwc")
				go do(a)
				go do(b)
				wg.Wait()
				// Whatever the race left, the connection must end: the
				// peer ends its side too.
				c.CloseWrite()
				var reason error
				select {
				case reason = <-p.lostCh:
				case <-time.After(10 * time.Second):
					t.Fatalf("round %d (lwc, %s, %s): ConnectionLost not called within 10 s", i, a, b)
				}
				if err := waitServe(t, done); !sameErr(err, reason) {
					t.Errorf("round %d: Serve = %v, ConnectionLost(%v)", i, err, reason)
				}
				<-readDone
				if p.lost.Load() != 1 || p.bad.Load() != 0 {
					t.Errorf("round %d (lwc, %s, %s): ConnectionLost %d times, %d callbacks overlapping or after it",
						i, a, b, p.lost.Load(), p.bad.Load())
				}
				if !bytes.HasPrefix(out, got) {
					t.Errorf("round %d (lwc, %s, %s): the peer read %d bytes that are not a prefix of the output", i, a, b, len(got))
				}
				graceful := reason == nil
				if graceful && !bytes.Equal(got, out) && a != "peerRST" && b != "peerRST" {
					t.Errorf("round %d (lwc, %s, %s): clean end, but the peer read %d of %d bytes", i, a, b, len(got), len(out))
				}
				if reason != nil && !errors.Is(reason, weft.ErrAborted) && !errors.Is(reason, weft.ErrServerShutdown) &&
					a != "peerRST" && b != "peerRST" {
					t.Errorf("round %d (lwc, %s, %s): ConnectionLost(%v)", i, a, b, reason)
				}
				c.Close()
			}
		})
	}
}

func sameErr(a, b error) bool {
	return a == b || a != nil && b != nil && a.Error() == b.Error()
}

// LoseWriteConnection while the output waits for a peer that reads nothing
// (the goroutine engine's flusher blocked in Write, the readiness engine's
// output parked for EPOLLOUT), with a Producer registered and paused: the
// call returns at once, later writes (the producer's too) get ErrClosed and
// WriteRoom is 0; once the peer reads, it gets every byte, then the end of
// stream; Counters.BytesOut counts exactly those; the peer's end then
// closes the connection cleanly.
func TestReviewLoseWriteWhileBlocked(t *testing.T) {
	const size = 8 << 20
	out := bytes.Repeat([]byte("abcdefgh"), size/8)
	for _, tc := range halfPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			if tc, ok := c.(*tls.Conn); ok {
				go tc.Handshake() // its first Read would be too late: the server's flush waits for it
			}
			var cnt weft.Counters
			p := newHalfProto()
			prod := &reviewProducer{paused: make(chan struct{}, 1)}
			res := make(chan error, 3)
			p.made = func(tr weft.Transport) {
				tr.RegisterProducer(prod)
				go func() {
					tr.Write(out)
					select {
					case <-prod.paused:
					case <-time.After(10 * time.Second):
						res <- errors.New("producer not paused")
					}
					for tr.Buffered() == size {
						time.Sleep(time.Millisecond) // the first bytes go to the socket
					}
					res <- weft.LoseWriteConnection(tr)
					_, err := tr.Write([]byte("late"))
					res <- err
					if r := tr.(weft.WriteRoomer).WriteRoom(); r != 0 {
						res <- fmt.Errorf("WriteRoom = %d after LoseWriteConnection", r)
					} else {
						res <- nil
					}
				}()
			}
			done := serve(s, p, &weft.Options{MaxWriteBuffer: 16 << 20, Counters: &cnt})
			if err := <-res; err != nil {
				t.Fatalf("LoseWriteConnection = %v", err)
			}
			if err := <-res; !errors.Is(err, weft.ErrClosed) {
				t.Errorf("Write after LoseWriteConnection = %v, want ErrClosed", err)
			}
			if err := <-res; err != nil {
				t.Error(err)
			}
			time.Sleep(50 * time.Millisecond) // the writer stays blocked a little longer
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, out) {
				t.Fatalf("read %d of %d bytes (equal %v), then %v; want all, then a clean end", len(got), len(out), bytes.Equal(got, out), err)
			}
			c.Write([]byte("more"))
			c.CloseWrite()
			if err := p.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			waitServe(t, done)
			if n := cnt.BytesOut.Load(); n != size {
				t.Errorf("Counters.BytesOut = %d, want %d", n, size)
			}
			if n := cnt.BytesIn.Load(); n != 4 {
				t.Errorf("Counters.BytesIn = %d, want 4", n)
			}
			if n := prod.stops.Load(); n != 1 {
				t.Errorf("StopProducing called %d times, want 1", n)
			}
		})
	}
}

// reviewProducer is a Producer that reports its first pause.
type reviewProducer struct {
	paused chan struct{}
	stops  atomic.Int32
}

func (p *reviewProducer) PauseProducing() {
	select {
	case p.paused <- struct{}{}:
	default:
	}
}
func (p *reviewProducer) ResumeProducing() {}
func (p *reviewProducer) StopProducing()   { p.stops.Add(1) }

// A HalfCloseable Protocol that paused reading hears of the peer's end only
// after ResumeReading and the data before it; PauseReading and
// ResumeReading after ReadConnectionLost change nothing; work posted after
// it runs as a callback; the connection still writes, and ends cleanly.
func TestReviewHalfClosePausedAndPosted(t *testing.T) {
	for _, tc := range halfPairs {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "tls" {
				t.Skip("a paused TLS server makes no handshake")
			}
			s, c := tc.pair(t)
			p := newHalfProto()
			trCh := make(chan weft.Transport, 1)
			p.made = func(tr weft.Transport) {
				tr.PauseReading()
				trCh <- tr
			}
			posted := make(chan string, 1)
			p.readLost = func(tr weft.Transport) {
				tr.PauseReading()
				tr.ResumeReading()
				go tr.(weft.Poster).Post(func() {
					p.note("posted")
					tr.Write([]byte("answer"))
					posted <- "ran"
					tr.LoseConnection()
				})
			}
			done := serve(s, p, nil)
			c.Write([]byte("request"))
			c.CloseWrite()
			time.Sleep(100 * time.Millisecond) // paused: nothing is delivered
			p.mu.Lock()
			early := fmt.Sprint(p.events)
			p.mu.Unlock()
			if early != "[]" {
				t.Errorf("callbacks while reading is paused: %v, want none", early)
			}
			(<-trCh).ResumeReading()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "answer" {
				t.Errorf("read %q, then %v; want \"answer\", then a clean end", got, err)
			}
			if err := p.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			if got := p.after(); fmt.Sprint(got) != "[readLost posted lost]" {
				t.Errorf("callbacks after the last DataReceived: %v, want [readLost posted lost]", got)
			}
			waitServe(t, done)
		})
	}
}

// A panic in ReadConnectionLost aborts the connection with
// ErrProtocolPanic; ConnectionLost is called once, and the peer sees the
// connection end.
func TestReviewReadConnectionLostPanics(t *testing.T) {
	for _, tc := range halfPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			p := &raceProto{t: t, lostCh: make(chan error, 2)}
			p.rlost = func(weft.Transport) { panic("boom") }
			done := serve(s, p, nil)
			c.Write([]byte("x"))
			c.CloseWrite()
			var reason error
			select {
			case reason = <-p.lostCh:
			case <-time.After(10 * time.Second):
				t.Fatal("ConnectionLost not called within 10 s")
			}
			if !errors.Is(reason, weft.ErrProtocolPanic) {
				t.Errorf("ConnectionLost(%v), want ErrProtocolPanic", reason)
			}
			waitServe(t, done)
			if p.lost.Load() != 1 || p.bad.Load() != 0 {
				t.Errorf("ConnectionLost %d times, %d overlapping", p.lost.Load(), p.bad.Load())
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadAll(c); err != nil && !isReset(err) {
				t.Errorf("peer read error %v", err)
			}
		})
	}
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Output ended by LoseWriteConnection, input the Protocol left unread
// (reading paused), then LoseConnection: the close lingers (as a close with
// unread input does), so the peer reads every byte, then a clean end of
// stream, never a reset, even while it goes on sending; its own end then
// closes the connection with ConnectionLost(nil).
func TestReviewLoseWriteThenLoseUnread(t *testing.T) {
	out := bytes.Repeat([]byte("z"), 4<<20)
	for _, tc := range halfPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			p := newHalfProto()
			trCh := make(chan weft.Transport, 1)
			p.made = func(tr weft.Transport) {
				tr.Write(out)
				if err := weft.LoseWriteConnection(tr); err != nil {
					t.Errorf("LoseWriteConnection = %v", err)
				}
				trCh <- tr
			}
			p.data = func(tr weft.Transport, _ []byte) { tr.PauseReading() }
			done := serve(s, p, &weft.Options{MaxWriteBuffer: 8 << 20})
			tr := <-trCh
			if tc, ok := c.(*tls.Conn); ok {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
			}
			stop := make(chan struct{})
			sent := make(chan struct{})
			go func() { // the peer keeps sending until it read everything
				defer close(sent)
				chunk := make([]byte, 1024)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := c.Write(chunk); err != nil {
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
			time.Sleep(50 * time.Millisecond) // some input arrives, unread
			tr.LoseConnection()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			close(stop)
			<-sent
			if err != nil || !bytes.Equal(got, out) {
				t.Errorf("read %d of %d bytes, then %v; want all, then a clean end", len(got), len(out), err)
			}
			c.CloseWrite()
			if err := p.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			waitServe(t, done)
		})
	}
}

// StartTLS, then LoseWriteConnection in the same callback: the output
// written before StartTLS goes out in clear text, the one after it over
// TLS, then the close_notify and the FIN; the connection still reads (over
// TLS), and the peer's end closes it. On both engines.
func TestReviewStartTLSThenLoseWrite(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tr := range tcpAndEngine {
		t.Run(tr.name, func(t *testing.T) {
			s, c := tr.pair(t)
			p := newHalfProto()
			res := make(chan error, 2)
			var got bytes.Buffer
			p.data = func(tr weft.Transport, d []byte) {
				if got.Len() == 0 && string(d) == "STARTTLS\n" {
					got.WriteString("-")
					tr.Write([]byte("go ahead\n"))
					res <- tr.StartTLS(cfg)
					tr.Write([]byte("secret"))
					res <- weft.LoseWriteConnection(tr)
					return
				}
				got.Write(d)
			}
			done := serve(s, p, nil)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("STARTTLS\n"))
			line := make([]byte, len("go ahead\n"))
			if _, err := io.ReadFull(c, line); err != nil || string(line) != "go ahead\n" {
				t.Fatalf("read %q, %v", line, err)
			}
			for range 2 {
				if err := <-res; err != nil {
					t.Fatalf("StartTLS / LoseWriteConnection = %v", err)
				}
			}
			tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			out, err := io.ReadAll(tc)
			if err != nil || string(out) != "secret" {
				t.Errorf("read %q over TLS, then %v; want \"secret\", then a clean end", out, err)
			}
			tc.Write([]byte("more"))
			tc.CloseWrite()
			if err := p.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			if got.String() != "-more" {
				t.Errorf("delivered %q after the switch, want \"more\"", strings.TrimPrefix(got.String(), "-"))
			}
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
		})
	}
}

// LoseWriteConnection with output a peer does not read, then LoseConnection:
// CloseTimeout bounds the close (ErrCloseTimeout), on both engines and
// under TLS.
func TestReviewLoseWriteCloseTimeout(t *testing.T) {
	for _, tc := range halfPairs {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			if tc, ok := c.(*tls.Conn); ok {
				go tc.Handshake()
			}
			p := newHalfProto()
			p.made = func(tr weft.Transport) {
				tr.Write(make([]byte, 8<<20))
				weft.LoseWriteConnection(tr)
				go func() {
					time.Sleep(50 * time.Millisecond)
					tr.LoseConnection()
				}()
			}
			done := serve(s, p, &weft.Options{MaxWriteBuffer: 16 << 20, CloseTimeout: 300 * time.Millisecond})
			if err := p.waitLost(t); !errors.Is(err, weft.ErrCloseTimeout) {
				t.Errorf("ConnectionLost(%v), want ErrCloseTimeout", err)
			}
			waitServe(t, done)
		})
	}
}
