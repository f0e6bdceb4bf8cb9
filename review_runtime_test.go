package weft_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// readAllTimeout reads c to EOF within 20 s.
func readAllTimeout(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Errorf("peer read: %v", err)
	}
	return got
}

// TestReviewLoseInsideMade: Write then LoseConnection inside ConnectionMade
// flushes, then closes cleanly; Post from ConnectionLost is dropped, Write
// from it fails with ErrClosed.
func TestReviewLoseInsideMade(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := newRecorder(t)
			r.onMade = func(tr weft.Transport) {
				tr.Write([]byte("hello"))
				tr.LoseConnection()
				tr.LoseConnection()
			}
			done := serve(s, r, nil)
			if got := readAllTimeout(t, c); string(got) != "hello" {
				t.Fatalf("peer got %q", got)
			}
			if err := r.waitLost(t); err != nil {
				t.Fatalf("ConnectionLost(%v)", err)
			}
			if _, err := r.transport().Write([]byte("x")); !errors.Is(err, weft.ErrClosed) {
				t.Fatalf("Write after end: %v", err)
			}
			<-done
		})
	}
}

type panicker struct {
	*recorder
	where string
}

func (p *panicker) ConnectionMade(t weft.Transport) {
	p.recorder.ConnectionMade(t)
	if p.where == "made" {
		panic("boom made")
	}
}
func (p *panicker) DataReceived(d []byte) {
	p.recorder.DataReceived(d)
	if p.where == "data" {
		panic("boom data")
	}
}
func (p *panicker) ConnectionLost(err error) {
	p.recorder.ConnectionLost(err)
	if p.where == "lost" {
		panic("boom lost")
	}
}

// TestReviewPanics: a panicking callback ends its connection with
// ErrProtocolPanic; the engine keeps serving others.
func TestReviewPanics(t *testing.T) {
	for _, tc := range transports {
		for _, where := range []string{"made", "data", "lost"} {
			t.Run(tc.name+"/"+where, func(t *testing.T) {
				s, c := tc.pair(t)
				p := &panicker{newRecorder(t), where}
				done := serve(s, p, nil)
				go c.Write([]byte("x"))
				if where == "lost" {
					waitMade(t, p.recorder)
					c.Close()
				}
				err := p.waitLost(t)
				serr := <-done
				if where != "lost" && !errors.Is(err, weft.ErrProtocolPanic) {
					t.Fatalf("ConnectionLost(%v)", err)
				}
				if !errors.Is(serr, weft.ErrProtocolPanic) {
					t.Fatalf("Serve = %v", serr)
				}
				// The engine still works.
				s2, c2 := tc.pair(t)
				r2 := newRecorder(t)
				r2.onData = func(tr weft.Transport, d []byte) { tr.Write(d) }
				done2 := serve(s2, r2, nil)
				c2.Write([]byte("ping"))
				buf := make([]byte, 4)
				c2.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.ReadFull(c2, buf); err != nil || string(buf) != "ping" {
					t.Fatalf("second conn: %q %v", buf, err)
				}
				c2.Close()
				<-done2
			})
		}
	}
}

// TestReviewLargeWriteAndBuffers: a single Write far larger than
// MaxWriteBuffer into an empty buffer, and WriteBuffers with many small and
// empty buffers, arrive whole and in order.
func TestReviewLargeWriteAndBuffers(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			big := make([]byte, 5<<20)
			for i := range big {
				big[i] = byte(i * 7)
			}
			var bufs [][]byte
			var want bytes.Buffer
			want.Write(big)
			for i := range 3000 {
				if i%3 == 0 {
					bufs = append(bufs, nil)
					continue
				}
				b := []byte(fmt.Sprintf("<%d>", i))
				bufs = append(bufs, b)
				want.Write(b)
			}
			errs := make(chan error, 3)
			r := newRecorder(t)
			r.onMade = func(tr weft.Transport) {
				_, err := tr.Write(big)
				errs <- err
				errs <- tr.WriteBuffers()
				errs <- tr.WriteBuffers(nil, []byte{}, nil)
			}
			done := serve(s, r, &weft.Options{MaxWriteBuffer: 1 << 20})
			tr := waitMade(t, r)
			for range 3 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			// Outside a callback, once the big write drained.
			go func() {
				deadline := time.Now().Add(20 * time.Second)
				for tr.Buffered() > 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if err := tr.WriteBuffers(bufs...); err != nil {
					t.Error(err)
				}
				tr.LoseConnection()
			}()
			got := readAllTimeout(t, c)
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("peer got %d bytes, want %d", len(got), want.Len())
			}
			if err := r.waitLost(t); err != nil {
				t.Fatal(err)
			}
			<-done
		})
	}
}

// TestReviewConcurrentWritesAndClose: Writes from other goroutines racing
// LoseConnection or Abort never tear a Write, and each returns nil or
// ErrClosed/ErrSlowConsumer; the peer sees whole writes only.
func TestReviewConcurrentWritesAndClose(t *testing.T) {
	for _, tc := range transports {
		for _, how := range []string{"lose", "abort"} {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				for iter := range 20 {
					s, c := tc.pair(t)
					r := newRecorder(t)
					done := serve(s, r, nil)
					tr := waitMade(t, r)
					msg := bytes.Repeat([]byte{'a' + byte(iter%26)}, 1000)
					var wg sync.WaitGroup
					for g := range 4 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for i := 0; i < 200; i++ {
								if g == 0 && i == 50 {
									if how == "lose" {
										tr.LoseConnection()
									} else {
										tr.Abort()
									}
								}
								if _, err := tr.Write(msg); err != nil {
									if !errors.Is(err, weft.ErrClosed) {
										t.Errorf("Write: %v", err)
									}
									return
								}
							}
						}()
					}
					c.SetReadDeadline(time.Now().Add(20 * time.Second))
					got, _ := io.ReadAll(c)
					wg.Wait()
					if how == "lose" && len(got)%len(msg) != 0 {
						t.Fatalf("peer got %d bytes: a torn write", len(got))
					}
					for i, b := range got {
						if b != msg[0] {
							t.Fatalf("byte %d = %q", i, b)
						}
					}
					err := r.waitLost(t)
					if how == "lose" && err != nil {
						t.Fatalf("ConnectionLost(%v)", err)
					}
					if how == "abort" && !errors.Is(err, weft.ErrAborted) {
						t.Fatalf("ConnectionLost(%v)", err)
					}
					<-done
				}
			})
		}
	}
}

// TestReviewPausedForeverIdle: a protocol that pauses reading in
// ConnectionMade and never resumes is ended by IdleTimeout.
func TestReviewPausedForeverIdle(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := newRecorder(t)
			r.onMade = func(tr weft.Transport) { tr.PauseReading() }
			done := serve(s, r, &weft.Options{IdleTimeout: 100 * time.Millisecond})
			go c.Write([]byte("never read"))
			if err := r.waitLost(t); !errors.Is(err, weft.ErrIdleTimeout) {
				t.Fatalf("ConnectionLost(%v)", err)
			}
			if d := r.received(); len(d) != 0 {
				t.Fatalf("delivered while paused: %q", d)
			}
			<-done
		})
	}
}

// TestReviewResumeAroundEOF: ResumeReading/PauseReading from another
// goroutine while the peer sends then half-closes: every byte, then nil.
func TestReviewResumeAroundEOF(t *testing.T) {
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			for range 20 {
				s, c := tc.pair(t)
				r := newRecorder(t)
				done := serve(s, r, nil)
				tr := waitMade(t, r)
				stop := make(chan struct{})
				toggled := make(chan struct{})
				go func() {
					defer close(toggled)
					for {
						select {
						case <-stop:
							tr.ResumeReading()
							return
						default:
						}
						tr.PauseReading()
						tr.ResumeReading()
					}
				}()
				var want bytes.Buffer
				for i := range 200 {
					fmt.Fprintf(&want, "line %d\n", i)
				}
				c.Write(want.Bytes())
				c.(*net.TCPConn).CloseWrite()
				time.Sleep(time.Millisecond)
				close(stop)
				<-toggled
				if err := r.waitLost(t); err != nil {
					t.Fatalf("ConnectionLost(%v)", err)
				}
				if got := r.received(); !bytes.Equal(got, want.Bytes()) {
					t.Fatalf("got %d bytes, want %d", len(got), want.Len())
				}
				<-done
			}
		})
	}
}

type panicStopProducer struct{}

func (panicStopProducer) PauseProducing()  {}
func (panicStopProducer) ResumeProducing() {}
func (panicStopProducer) StopProducing()   { panic("boom stop") }

// TestReviewStopProducingPanics: a registered Producer whose StopProducing
// panics when the connection ends does not cost the Protocol its
// ConnectionLost (called exactly once, last); the panic joins the reason
// Serve returns.
func TestReviewStopProducingPanics(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := newRecorder(t)
			r.onMade = func(tr weft.Transport) { tr.RegisterProducer(panicStopProducer{}) }
			done := serve(s, r, nil)
			waitMade(t, r)
			c.Close()
			select {
			case <-r.lostCh:
			case err := <-done:
				select {
				case <-r.lostCh:
				case <-time.After(time.Second):
					t.Fatalf("Serve returned %v but ConnectionLost was never called", err)
				}
				done = nil
			case <-time.After(10 * time.Second):
				t.Fatal("ConnectionLost not called")
			}
			if done != nil {
				if err := <-done; !errors.Is(err, weft.ErrProtocolPanic) {
					t.Fatalf("Serve = %v, want ErrProtocolPanic joined", err)
				}
			}
		})
	}
}

type countingProducer struct {
	inCall        *recorder
	pause, resume int
	stop          int
	mu            sync.Mutex
}

func (p *countingProducer) PauseProducing() {
	p.inCall.enter()
	defer p.inCall.leave()
	p.mu.Lock()
	p.pause++
	p.mu.Unlock()
}
func (p *countingProducer) ResumeProducing() {
	p.inCall.enter()
	defer p.inCall.leave()
	p.mu.Lock()
	p.resume++
	p.mu.Unlock()
}
func (p *countingProducer) StopProducing() {
	select {
	case <-p.inCall.lostCh:
		// After the end, RegisterProducer stops a producer at once on
		// its caller's goroutine: not serialized with anything.
	default:
		p.inCall.enter()
		defer p.inCall.leave()
	}
	p.mu.Lock()
	p.stop++
	p.mu.Unlock()
}

// TestReviewChaos: many goroutines write, pause and resume reading, post
// writes, register producers while the peer echoes and the connection is
// closed by one of several means; callbacks (producers included) never
// overlap, ConnectionLost comes once, every Write the peer sees is whole.
func TestReviewChaos(t *testing.T) {
	for _, tc := range transports {
		for _, how := range []string{"lose", "abort", "peer", "shutdown"} {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				for iter := range 10 {
					s, c := tc.pair(t)
					r := newRecorder(t)
					r.onData = func(tr weft.Transport, d []byte) {
						tr.Write([]byte("[" + string(d) + "]"))
					}
					opts := &weft.Options{HighWater: 4 << 10, LowWater: 1 << 10, MaxWriteBuffer: 1 << 20}
					if _, ok := s.(engineConn); ok {
						opts.Engine = testEngine
					}
					conn := weft.NewConn(s, r, opts)
					done := make(chan error, 1)
					conn.Start(func(err error) { done <- err })
					tr := waitMade(t, r)
					var prodMu sync.Mutex
					var prods []*countingProducer
					newProd := func() *countingProducer {
						p := &countingProducer{inCall: r}
						prods = append(prods, p) // under prodMu
						return p
					}
					var wg sync.WaitGroup
					stop := make(chan struct{})
					post := tr.(interface{ Post(func()) })
					for g := range 4 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for i := 0; ; i++ {
								select {
								case <-stop:
									return
								default:
								}
								switch (i + g) % 6 {
								case 0:
									tr.Write([]byte("<w>"))
								case 1:
									tr.PauseReading()
								case 2:
									tr.ResumeReading()
								case 3:
									post.Post(func() { tr.Write([]byte("<p>")) })
								case 4:
									prodMu.Lock()
									tr.RegisterProducer(newProd())
									prodMu.Unlock()
								case 5:
									tr.WriteBuffers([]byte("<b"), nil, []byte(">"))
								}
								if i > 300 {
									time.Sleep(time.Microsecond)
								}
							}
						}()
					}
					go func() {
						for i := range 200 {
							if _, err := c.Write([]byte(fmt.Sprint(i % 10))); err != nil {
								return
							}
						}
					}()
					readDone := make(chan []byte)
					go func() {
						c.SetReadDeadline(time.Now().Add(20 * time.Second))
						b, _ := io.ReadAll(c)
						readDone <- b
					}()
					time.Sleep(time.Duration(iter) * time.Millisecond)
					switch how {
					case "lose":
						tr.LoseConnection()
					case "abort":
						tr.Abort()
					case "peer":
						c.Close()
					case "shutdown":
						conn.Shutdown()
					}
					tr.ResumeReading()
					got := <-readDone
					c.Close() // read to the end: a lingering close ends with it
					// Whole writes, but for the last one, which a reset
					// (Abort) or the peer's own close may cut.
					if rest := got[len(wholeTokens.Find(got)):]; how != "peer" && len(rest) > 3 {
						t.Fatalf("torn or foreign output: %q after %d bytes", rest[:min(len(rest), 40)], len(got)-len(rest))
					}
					r.waitLost(t)
					close(stop)
					wg.Wait()
					<-done
					if n := r.overlaps.Load(); n != 0 {
						t.Fatalf("%d overlapping callbacks", n)
					}
					for i, p := range prods {
						p.mu.Lock()
						last := i == len(prods)-1
						if p.stop > 1 || last && p.stop != 1 {
							t.Errorf("producer %d/%d: StopProducing called %d times", i, len(prods), p.stop)
						}
						p.mu.Unlock()
					}
				}
			})
		}
	}
}

// wholeTokens matches the writes TestReviewChaos makes.
var wholeTokens = regexp.MustCompile(`^(<w>|<p>|<b>|\[[0-9]+\])*`)

// fillProducer fills the write buffer to MaxWriteBuffer (WriteRoom) from
// ConnectionMade and each ResumeProducing, total bytes in all, then calls
// LoseConnection from the producer callback.
type fillProducer struct {
	*recorder
	tr             weft.Transport
	left           int
	pauses, resume int
	paused         bool
	errs           []error
}

func (p *fillProducer) ConnectionMade(t weft.Transport) {
	p.recorder.ConnectionMade(t)
	p.tr = t
	t.RegisterProducer(p)
	p.fill()
}

func (p *fillProducer) fill() {
	for p.left > 0 && !p.paused {
		room := p.tr.(weft.WriteRoomer).WriteRoom()
		n := min(room, p.left, 3000)
		if n == 0 {
			// Full: the runtime must have paused us (a pause is
			// posted, so it comes after this callback).
			return
		}
		if _, err := p.tr.Write(bytes.Repeat([]byte{'x'}, n)); err != nil {
			p.errs = append(p.errs, err)
			return
		}
		p.left -= n
	}
	if p.left == 0 {
		p.tr.LoseConnection()
	}
}

func (p *fillProducer) PauseProducing() {
	p.enter()
	defer p.leave()
	p.pauses++
	p.paused = true
}
func (p *fillProducer) ResumeProducing() {
	p.enter()
	defer p.leave()
	p.resume++
	p.paused = false
	p.fill()
}
func (p *fillProducer) StopProducing() {}

// TestReviewProducerFullBufferAllEngines: with MaxWriteBuffer equal to
// HighWater, a producer that writes only what WriteRoom allows is paused
// at the full buffer and resumed as the peer reads, on every transport;
// Write and LoseConnection inside its callbacks work; nothing is lost.
func TestReviewProducerFullBufferAllEngines(t *testing.T) {
	const high, total = 32 << 10, 4 << 20
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			p := &fillProducer{recorder: newRecorder(t), left: total}
			done := serve(s, p, &weft.Options{HighWater: high, LowWater: high / 4, MaxWriteBuffer: high})
			tr := waitMade(t, p.recorder)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil {
				tr.Abort()
				<-done
				t.Fatalf("peer got %d of %d bytes, then %v: the producer stalled", len(got), total, err)
			}
			if err := p.waitLost(t); err != nil {
				t.Fatalf("ConnectionLost(%v); pauses %d resumes %d errs %v", err, p.pauses, p.resume, p.errs)
			}
			<-done
			if len(got) != total || len(p.errs) != 0 {
				t.Fatalf("peer got %d bytes, want %d; errs %v", len(got), total, p.errs)
			}
			if p.pauses == 0 || p.pauses != p.resume {
				t.Fatalf("pauses %d resumes %d", p.pauses, p.resume)
			}
			if n := p.overlaps.Load(); n != 0 {
				t.Fatalf("%d overlapping callbacks", n)
			}
		})
	}
}

// TestProducerFullBufferDrainedAtOnce: a Producer that fills the buffer to
// MaxWriteBuffer (== HighWater) in a callback sees WriteRoom 0 and must hear
// when there is room, even when the socket takes it all at once, before the
// pause is delivered: it is paused, then resumed.
func TestProducerFullBufferDrainedAtOnce(t *testing.T) {
	const high = 8 << 10
	for _, tc := range transports {
		for _, after := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/registerAfter=%v", tc.name, after), func(t *testing.T) {
				s, c := tc.pair(t)
				p := &fullProducer{n: high, registerAfter: after}
				done := serve(s, p, &weft.Options{HighWater: high, LowWater: 1 << 10, MaxWriteBuffer: high})
				if _, err := io.ReadFull(c, make([]byte, high)); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(5 * time.Second)
				for p.resumes.Load() == 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				c.Close()
				<-done
				if r := p.room.Load(); r != 0 {
					t.Fatalf("WriteRoom = %d with the buffer full, want 0", r)
				}
				if ps, rs := p.pauses.Load(), p.resumes.Load(); ps != 1 || rs != 1 {
					t.Fatalf("PauseProducing %d, ResumeProducing %d times after the full buffer drained, want 1 and 1", ps, rs)
				}
			})
		}
	}
}

// TestReviewResetBehindData: while a callback blocks, the peer sends more
// and then resets: every byte sent before the reset is delivered, then
// ConnectionLost gets ECONNRESET (on both engines).
func TestReviewResetBehindData(t *testing.T) {
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue
		}
		for _, how := range []string{"reset", "halfclose"} {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				s, c := tc.pair(t)
				r := newRecorder(t)
				entered, release := make(chan struct{}), make(chan struct{})
				var once sync.Once
				r.onData = func(tr weft.Transport, d []byte) {
					once.Do(func() {
						close(entered)
						<-release
					})
				}
				done := serve(s, r, nil)
				waitMade(t, r)
				c.Write([]byte("A"))
				<-entered
				c.Write([]byte("BCD"))
				if how == "reset" {
					c.(*net.TCPConn).SetLinger(0)
					c.Close()
				} else {
					c.(*net.TCPConn).CloseWrite()
				}
				time.Sleep(50 * time.Millisecond) // the reset and its edge arrive
				close(release)
				err := r.waitLost(t)
				<-done
				if got := string(r.received()); got != "ABCD" {
					t.Fatalf("received %q, want ABCD", got)
				}
				if how == "reset" && !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("ConnectionLost(%v), want ECONNRESET", err)
				}
				if how == "halfclose" && err != nil {
					t.Fatalf("ConnectionLost(%v), want nil", err)
				}
			})
		}
	}
}

// TestReviewOutsideHugeWriteThenShutdown: a protocol paused in
// ConnectionMade that never resumes gets a very large Write from another
// goroutine, then a Shutdown: every byte goes out, the Shutdown hook runs,
// ConnectionLost(nil) follows.
func TestReviewOutsideHugeWriteThenShutdown(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := &shutdownRecorder{recorder: newRecorder(t)}
			r.onMade = func(tr weft.Transport) { tr.PauseReading() }
			opts := &weft.Options{}
			if _, ok := s.(engineConn); ok {
				opts.Engine = testEngine
			}
			conn := weft.NewConn(s, r, opts)
			done := make(chan error, 1)
			conn.Start(func(err error) { done <- err })
			tr := waitMade(t, r.recorder)
			big := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16)
			go func() {
				if _, err := tr.Write(big); err != nil {
					t.Error(err)
				}
				conn.Shutdown()
			}()
			got := readAllTimeout(t, c)
			if !bytes.Equal(got, big) {
				t.Fatalf("peer got %d bytes, want %d", len(got), len(big))
			}
			if err := r.waitLost(t); err != nil {
				t.Fatalf("ConnectionLost(%v)", err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if r.shutdowns.Load() != 1 {
				t.Fatalf("Shutdown hook ran %d times", r.shutdowns.Load())
			}
		})
	}
}

type shutdownRecorder struct {
	*recorder
	shutdowns atomic.Int32
}

func (r *shutdownRecorder) Shutdown() {
	r.enter()
	defer r.leave()
	r.shutdowns.Add(1)
}

// TestReviewTimersAtTheEnd: the idle timer and the close timer firing at
// the very instant the connection ends otherwise (the peer closes, the peer
// reads the last output) end it once, with a reason that is one of the two.
func TestReviewTimersAtTheEnd(t *testing.T) {
	for _, which := range []string{"idle", "close"} {
		t.Run(which, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, c := net.Pipe()
				r := newRecorder(t)
				opts := &weft.Options{IdleTimeout: time.Second}
				if which == "close" {
					opts = &weft.Options{CloseTimeout: time.Second}
					r.onMade = func(tr weft.Transport) {
						tr.Write(make([]byte, 1000))
						tr.LoseConnection()
					}
				}
				done := make(chan error, 1)
				go func() { done <- weft.Serve(s, r, opts) }()
				time.Sleep(time.Second)
				if which == "idle" {
					c.Close()
				} else {
					go io.Copy(io.Discard, c)
				}
				err := <-done
				c.Close()
				synctest.Wait()
				if r.lost != 1 {
					t.Fatalf("ConnectionLost called %d times", r.lost)
				}
				switch which {
				case "idle":
					if err != nil && !errors.Is(err, weft.ErrIdleTimeout) && !errors.Is(err, io.ErrClosedPipe) {
						t.Fatalf("Serve = %v", err)
					}
				case "close":
					if err != nil && !errors.Is(err, weft.ErrCloseTimeout) {
						t.Fatalf("Serve = %v", err)
					}
				}
			})
		})
	}
}
