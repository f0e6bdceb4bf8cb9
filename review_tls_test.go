package weft_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// stServer answers "STARTTLS\r\n" with "220 go\r\n" in clear text and
// switches to TLS, handing the bytes after the command to it; before runs
// first (in the same callback), after right after the switch was asked for,
// tlsData for each read once over TLS.
type stServer struct {
	cfg     *tls.Config
	tr      weft.Transport
	secure  bool
	made    func(weft.Transport)
	before  func(weft.Transport)
	after   func(weft.Transport)
	tlsData func(weft.Transport, []byte)
	errc    chan error // StartTLS's result
	lost    chan error
}

func newSTServer(cfg *tls.Config) *stServer {
	return &stServer{cfg: cfg, errc: make(chan error, 1), lost: make(chan error, 1)}
}

func (s *stServer) ConnectionMade(t weft.Transport) {
	s.tr = t
	if s.made != nil {
		s.made(t)
	}
}

func (s *stServer) DataReceived(d []byte) {
	if s.secure {
		if s.tlsData != nil {
			s.tlsData(s.tr, d)
		}
		return
	}
	rest, ok := bytes.CutPrefix(d, []byte("STARTTLS\r\n"))
	if !ok {
		s.tr.Write([]byte("500\r\n"))
		return
	}
	if s.before != nil {
		s.before(s.tr)
	}
	s.tr.Write([]byte("220 go\r\n"))
	s.errc <- weft.StartTLS(s.tr, s.cfg, rest)
	s.secure = true
	if s.after != nil {
		s.after(s.tr)
	}
}

func (s *stServer) ConnectionLost(err error) { s.lost <- err }

// waitLost returns ConnectionLost's reason, failing after 10 s.
func (s *stServer) waitLost(t testing.TB) error {
	t.Helper()
	select {
	case err := <-s.lost:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("ConnectionLost not called within 10 s")
		return nil
	}
}

// rawRecorder is the client's net.Conn under TLS: it reads through r (which
// may hold bytes read ahead) and keeps a copy of every raw byte read.
type rawRecorder struct {
	net.Conn
	r   io.Reader
	mu  sync.Mutex
	raw bytes.Buffer
}

func (r *rawRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.mu.Lock()
	r.raw.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func (r *rawRecorder) reset() { r.mu.Lock(); r.raw.Reset(); r.mu.Unlock() }

// recordTypes returns the content types of the TLS records read since the
// last reset (TLS 1.2: an alert is a record of type 21 in clear).
func (r *rawRecorder) recordTypes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.raw.Bytes()
	var ts []byte
	for len(b) >= 5 {
		ts = append(ts, b[0])
		n := int(b[3])<<8 | int(b[4])
		if len(b) < 5+n {
			break
		}
		b = b[5+n:]
	}
	return ts
}

// stClient sends STARTTLS on c, reads the clear text up to and including
// "220 go\r\n" (returned), and returns the TLS client over c.
func stClient(t testing.TB, c net.Conn, cc *tls.Config) (string, *tls.Conn, *rawRecorder) {
	t.Helper()
	c.SetDeadline(time.Now().Add(20 * time.Second)) // fail, not hang
	if _, err := c.Write([]byte("STARTTLS\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	var clear bytes.Buffer
	for !bytes.HasSuffix(clear.Bytes(), []byte("220 go\r\n")) {
		line, err := br.ReadSlice('\n')
		clear.Write(line)
		if err != nil && err != bufio.ErrBufferFull {
			t.Fatalf("clear text %d bytes, then %v", clear.Len(), err)
		}
	}
	rr := &rawRecorder{Conn: c, r: br}
	return clear.String(), tls.Client(rr, cc), rr
}

// waitServe returns Serve's result, failing after 10 s.
func waitServe(t testing.TB, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10 s")
		return nil
	}
}

// unixPair returns a connected pair of unix sockets.
func unixPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	s, c := dialPair(t, nil, nil, "unix", filepath.Join(t.TempDir(), "s"))
	t.Cleanup(func() { s.Close(); c.Close() })
	return s, c
}

// TestReviewTLSStartTLSOnTLSConn: StartTLS on a connection that already
// speaks TLS (a *tls.Conn handed to NewConn, as a TLS listener's
// connections are) is refused with ErrTLSActive, not layered as TLS inside
// TLS. With Options.Engine too (a *tls.Conn is served by the goroutine
// engine then).
func TestReviewTLSStartTLSOnTLSConn(t *testing.T) {
	cfg, pool := testCert(t)
	for _, eng := range []string{"tcp", "epoll"} {
		t.Run(eng, func(t *testing.T) {
			var opts *weft.Options
			if eng == "epoll" {
				if testEngine == nil {
					t.Skip("no readiness engine on this platform")
				}
				opts = &weft.Options{Engine: testEngine}
			}
			s, c := tcpPair(t)
			errc := make(chan error, 1)
			p := &funcProto{made: func(tr weft.Transport) {
				errc <- tr.StartTLS(cfg)
				tr.Write([]byte("still plain TLS\n"))
				tr.LoseConnection()
			}}
			done := serve(tls.Server(s, cfg), p, opts)
			tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			tc.SetDeadline(time.Now().Add(5 * time.Second))
			got, rerr := io.ReadAll(tc)
			c.Close()
			if err := <-errc; !errors.Is(err, weft.ErrTLSActive) {
				t.Errorf("StartTLS on a TLS connection = %v, want ErrTLSActive", err)
			}
			if string(got) != "still plain TLS\n" || rerr != nil {
				t.Errorf("peer read %q over TLS, then %v; want the Write made after the refused StartTLS, then close_notify", got, rerr)
			}
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
		})
	}
}

// TestReviewTLSNoCloseNotifyOnAbort: a connection switched to TLS that is
// aborted — Abort, a panicking callback, Conn.Close (idle timeout, server
// shutdown) — discards its pending output, so it must not tell the peer the
// stream ended cleanly: no close_notify alert, on TCP and on unix sockets
// (which have no reset), on both engines. LoseConnection does send
// close_notify.
func TestReviewTLSNoCloseNotifyOnAbort(t *testing.T) {
	cfg, pool := testCert(t)
	for _, pc := range lingerPairs {
		for _, how := range []string{"lose", "abort", "panic", "close"} {
			t.Run(pc.name+"/"+how, func(t *testing.T) {
				s, c := pc.pair(t)
				p := newSTServer(cfg)
				var conn *weft.Conn
				p.after = func(tr weft.Transport) { tr.Write([]byte("hello\n")) }
				p.tlsData = func(tr weft.Transport, d []byte) {
					switch how {
					case "lose":
						tr.Write([]byte("bye\n"))
						tr.LoseConnection()
					case "abort":
						tr.Write([]byte("discarded\n"))
						tr.Abort()
					case "panic":
						tr.Write([]byte("discarded\n"))
						panic("boom")
					case "close":
						tr.Write([]byte("discarded\n"))
						conn.Close(weft.ErrServerShutdown)
					}
				}
				conn = weft.NewConn(s, p, withEngine(s, nil))
				done := make(chan error, 1)
				go func() { done <- conn.Serve() }()
				_, tc, rr := stClient(t, c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12})
				tbr := bufio.NewReader(tc)
				if line, err := tbr.ReadString('\n'); line != "hello\n" {
					t.Fatalf("first TLS line %q, %v", line, err)
				}
				rr.reset()
				tc.Write([]byte("go"))
				start := time.Now()
				rest, _ := io.ReadAll(tbr)
				waitServe(t, done)
				alert := bytes.IndexByte(rr.recordTypes(), 21) >= 0
				switch {
				case how == "lose" && (!alert || string(rest) != "bye\n"):
					t.Errorf("LoseConnection: peer read %q, records %v; want \"bye\\n\" then close_notify (21)", rest, rr.recordTypes())
				case how != "lose" && alert:
					t.Errorf("%s: the peer got a close_notify (records %v, after %v): an aborted stream looks cleanly ended", how, rr.recordTypes(), time.Since(start))
				}
			})
		}
	}
}

// TestReviewTLSHandshakeCutNotClean: a peer that asks for STARTTLS and hangs
// up before the handshake completes did not close cleanly: ConnectionLost's
// reason is not nil, and says it was the StartTLS handshake.
func TestReviewTLSHandshakeCutNotClean(t *testing.T) {
	cfg, _ := testCert(t)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			p := newSTServer(cfg)
			done := serve(s, p, nil)
			stClient(t, c, &tls.Config{})
			c.Close()
			err := p.waitLost(t)
			if err == nil || !strings.Contains(err.Error(), "handshake") {
				t.Errorf("ConnectionLost(%v), want an error naming the cut handshake", err)
			}
			if errors.Is(err, io.EOF) {
				t.Errorf("reason %v matches io.EOF (a clean end of stream)", err)
			}
			waitServe(t, done)
		})
	}
}

// TestReviewTLSHandshakeFailureReason: a failed StartTLS handshake ends the
// connection with a reason that names StartTLS's handshake and still wraps
// crypto/tls's error (errors.As finds the peer's alert, a *net.OpError).
func TestReviewTLSHandshakeFailureReason(t *testing.T) {
	cfg, _ := testCert(t)
	for _, tr := range tcpAndEngine {
		t.Run(tr.name+"/garbage", func(t *testing.T) {
			s, c := tr.pair(t)
			p := newSTServer(cfg)
			done := serve(s, p, nil)
			stClient(t, c, &tls.Config{})
			c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			err := p.waitLost(t)
			if err == nil || !strings.Contains(err.Error(), "StartTLS") || !errors.Is(err, weft.ErrHandshakeFailed) {
				t.Errorf("ConnectionLost(%v), want a reason naming StartTLS's handshake, matching ErrHandshakeFailed", err)
			}
			if serr := waitServe(t, done); serr != err {
				t.Errorf("Serve = %v, want ConnectionLost's reason %v", serr, err)
			}
		})
		t.Run(tr.name+"/bad certificate", func(t *testing.T) {
			s, c := tr.pair(t)
			p := newSTServer(cfg)
			p.after = func(tr weft.Transport) { tr.Write([]byte("secret\n")) }
			done := serve(s, p, nil)
			_, tc, _ := stClient(t, c, &tls.Config{ServerName: "127.0.0.1"}) // system roots: unknown CA
			if err := tc.Handshake(); err == nil {
				t.Fatal("handshake with an unknown CA succeeded")
			}
			err := p.waitLost(t)
			var alert *net.OpError // crypto/tls reports the peer's alert as a "remote error"
			if err == nil || !strings.Contains(err.Error(), "StartTLS") || !errors.As(err, &alert) || alert.Op != "remote error" {
				t.Errorf("ConnectionLost(%v), want a reason naming StartTLS's handshake, wrapping the peer's alert", err)
			}
			if serr := waitServe(t, done); serr != err {
				t.Errorf("Serve = %v, want ConnectionLost's reason %v", serr, err)
			}
		})
	}
}

// pattern returns n bytes that tell their offsets apart (a lost or repeated
// piece shows).
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i/251) ^ byte(i%251) ^ seed
	}
	return b
}

// TestReviewTLSLoseDuringClearFlush: a LoseConnection from another
// goroutine while the clear text queued before StartTLS is being written
// (a large reply, a peer that reads slowly) waits for all of it: the peer
// reads every clear byte, then end of stream. (The close found nothing
// queued and no flush marked while the switch wrote the clear text, and
// closed the socket under it.)
func TestReviewTLSLoseDuringClearFlush(t *testing.T) {
	cfg, _ := testCert(t)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			big := pattern(16<<20, 1)
			p := newSTServer(cfg)
			p.before = func(tr weft.Transport) { tr.Write(big) }
			done := serve(s, p, &weft.Options{MaxWriteBuffer: 64 << 20})
			c.SetDeadline(time.Now().Add(20 * time.Second))
			c.Write([]byte("STARTTLS\r\n"))
			first := make([]byte, 1)
			if _, err := io.ReadFull(c, first); err != nil {
				t.Fatal(err)
			}
			if err := <-p.errc; err != nil {
				t.Fatal(err)
			}
			p.tr.LoseConnection() // the clear text is being written
			rest, err := io.ReadAll(c)
			got := append(first, rest...)
			want := append(big, "220 go\r\n"...)
			if !bytes.Equal(got, want) {
				t.Errorf("peer read %d bytes (%v), want the %d clear-text bytes whole", len(got), err, len(want))
			}
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
		})
	}
}

// TestReviewTLSClearThenTLSLarge: several MiB queued before StartTLS (the
// flusher still writing part of it, the peer not reading yet) go out in
// clear text exactly once, then the output written after StartTLS — also
// several MiB, in many Writes and one large one (many 16 KiB records) —
// goes out over TLS exactly once, in order; then an echo over TLS works.
func TestReviewTLSClearThenTLSLarge(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			clear1, clear2 := pattern(3<<20, 2), pattern(1<<20+7, 3)
			enc1, enc2 := pattern(2<<20+5, 4), pattern(3<<20, 5)
			p := newSTServer(cfg)
			p.made = func(tr weft.Transport) { tr.Write(clear1) } // the flusher takes it
			p.before = func(tr weft.Transport) { tr.Write(clear2) }
			p.after = func(tr weft.Transport) {
				for off := 0; off < len(enc1); off += 1000 {
					tr.Write(enc1[off:min(off+1000, len(enc1))])
				}
				tr.Write(enc2)
			}
			p.tlsData = func(tr weft.Transport, d []byte) { tr.Write(append([]byte("echo:"), d...)) }
			done := serve(s, p, &weft.Options{MaxWriteBuffer: 64 << 20})
			clear, tcl, _ := stClient(t, c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			if want := string(clear1) + string(clear2) + "220 go\r\n"; clear != want {
				t.Fatalf("clear text: %d bytes, want %d (equal prefix: %v)", len(clear), len(want), strings.HasPrefix(want, clear))
			}
			got := make([]byte, len(enc1)+len(enc2))
			if n, err := io.ReadFull(tcl, got); err != nil {
				t.Fatalf("over TLS: %d bytes, %v", n, err)
			}
			if !bytes.Equal(got, append(append([]byte(nil), enc1...), enc2...)) {
				t.Fatal("the output written after StartTLS arrived changed over TLS")
			}
			tcl.Write([]byte("ping"))
			echo := make([]byte, len("echo:ping"))
			if _, err := io.ReadFull(tcl, echo); err != nil || string(echo) != "echo:ping" {
				t.Fatalf("echo %q, %v", echo, err)
			}
			tcl.Close()
			waitServe(t, done)
		})
	}
}

// TestReviewTLSStartTLSConcurrent: StartTLS called at once from two
// goroutines succeeds once; the other call gets ErrTLSActive.
func TestReviewTLSStartTLSConcurrent(t *testing.T) {
	cfg, _ := testCert(t)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			r := newRecorder(t)
			done := serve(s, r, nil)
			tr := waitMade(t, r)
			errs := make(chan error, 2)
			var start sync.WaitGroup
			start.Add(1)
			for range 2 {
				go func() { start.Wait(); errs <- tr.StartTLS(cfg) }()
			}
			start.Done()
			e1, e2 := <-errs, <-errs
			if (e1 == nil) == (e2 == nil) || !errors.Is(errors.Join(e1, e2), weft.ErrTLSActive) {
				t.Errorf("two StartTLS at once returned %v and %v, want nil and ErrTLSActive", e1, e2)
			}
			c.Close()
			if err := waitServe(t, done); err == nil || !strings.Contains(err.Error(), "handshake") {
				t.Errorf("Serve = %v, want the StartTLS handshake's failure (the peer hung up)", err)
			}
		})
	}
}

// TestReviewTLSStartTLSWhenLost: StartTLS from ConnectionLost, or after the
// connection closed, fails with ErrClosed and changes nothing. On every
// transport.
func TestReviewTLSStartTLSWhenLost(t *testing.T) {
	cfg, _ := testCert(t)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			errc := make(chan error, 1)
			p := &funcProto{}
			p.lost = func(error) { errc <- p.tr.StartTLS(cfg) }
			done := serve(s, p, nil)
			c.Close()
			if err := waitServe(t, done); err != nil {
				t.Fatalf("Serve = %v", err)
			}
			if err := <-errc; !errors.Is(err, weft.ErrClosed) {
				t.Errorf("StartTLS in ConnectionLost = %v, want ErrClosed", err)
			}
			if err := p.tr.StartTLS(cfg); !errors.Is(err, weft.ErrClosed) {
				t.Errorf("StartTLS after the end = %v, want ErrClosed", err)
			}
		})
	}
}

// TestReviewTLSEngines: on the readiness engine StartTLS moves the
// connection to a goroutine of its own, which switches: the conversation
// goes on over TLS; a *tls.Conn given with Options.Engine is served by the
// goroutine engine and works.
func TestReviewTLSEngines(t *testing.T) {
	cfg, pool := testCert(t)
	t.Run("StartTLS", func(t *testing.T) {
		s, c := enginePair(t)
		p := newSTServer(cfg)
		p.tlsData = func(tr weft.Transport, d []byte) { tr.Write(append([]byte("tls:"), d...)) }
		done := serve(s, p, nil)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("STARTTLS\r\n"))
		br := bufio.NewReader(c)
		if line, err := br.ReadString('\n'); line != "220 go\r\n" {
			t.Fatalf("reply %q, %v", line, err)
		}
		if err := <-p.errc; err != nil {
			t.Fatalf("StartTLS on the readiness engine = %v", err)
		}
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		tc.Write([]byte("x"))
		if got, err := bufio.NewReader(tc).ReadString('x'); got != "tls:x" {
			t.Errorf("after the switch: %q, %v", got, err)
		}
		tc.Close()
		waitServe(t, done)
	})
	t.Run("tls.Conn", func(t *testing.T) {
		s, c := tcpPair(t)
		p := &funcProto{data: func(tr weft.Transport, d []byte) { tr.Write(d) }}
		done := serve(tls.Server(s, cfg), p, &weft.Options{Engine: testEngine})
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		msg := pattern(100<<10, 9)
		go tc.Write(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(tc, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo over TLS with Options.Engine: %v", err)
		}
		tc.Close()
		waitServe(t, done)
	})
}

// tlsProducer writes total bytes of a pattern in chunks while not paused,
// then LoseConnection; it records pauses, resumes and the largest
// Buffered it saw.
type tlsProducer struct {
	tr              weft.Transport
	data            []byte
	off, chunk      int
	high            int
	paused          bool
	pauses, resumes int
	maxBuf          int
	err             error
}

func (p *tlsProducer) fill() {
	for !p.paused && p.off < len(p.data) {
		n := min(p.chunk, len(p.data)-p.off)
		if _, err := p.tr.Write(p.data[p.off : p.off+n]); err != nil {
			p.err = err
			return
		}
		p.off += n
		p.maxBuf = max(p.maxBuf, p.tr.Buffered())
		if p.tr.Buffered() > p.high {
			return // the pause is on its way
		}
	}
	if p.off == len(p.data) {
		p.tr.LoseConnection()
	}
}

func (p *tlsProducer) PauseProducing()  { p.paused = true; p.pauses++ }
func (p *tlsProducer) ResumeProducing() { p.paused = false; p.resumes++; p.fill() }
func (p *tlsProducer) StopProducing()   {}

// TestReviewTLSProducerOverTLS: a Producer registered before StartTLS and
// writing right after it (the switch pending, then the handshake) is paused
// at the high-water mark and resumed as TLS drains the buffer; MaxWriteBuffer
// is never reached (no ErrSlowConsumer), and the peer reads every byte once,
// in order, over TLS, then end of stream.
func TestReviewTLSProducerOverTLS(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			prod := &tlsProducer{data: pattern(6<<20, 7), chunk: 16 << 10, high: 64 << 10}
			p := newSTServer(cfg)
			p.made = func(tr weft.Transport) { prod.tr = tr; tr.RegisterProducer(prod) }
			p.after = func(weft.Transport) { prod.fill() }
			opts := &weft.Options{HighWater: 64 << 10, LowWater: 16 << 10, MaxWriteBuffer: 256 << 10}
			done := serve(s, p, opts)
			_, tcl, _ := stClient(t, c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			var got bytes.Buffer
			buf := make([]byte, 8<<10)
			for {
				n, err := tcl.Read(buf)
				got.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
			if !bytes.Equal(got.Bytes(), prod.data) {
				t.Errorf("peer read %d bytes, want the producer's %d whole", got.Len(), len(prod.data))
			}
			if prod.err != nil || prod.pauses == 0 || prod.resumes == 0 || prod.maxBuf > opts.MaxWriteBuffer {
				t.Errorf("producer: err %v, %d pauses, %d resumes, largest buffer %d (max %d)", prod.err, prod.pauses, prod.resumes, prod.maxBuf, opts.MaxWriteBuffer)
			}
		})
	}
}

// TestReviewTLSSlowConsumer: over TLS, a peer that reads nothing makes
// Writes fail with ErrSlowConsumer past MaxWriteBuffer, and the connection
// ends promptly with that reason (the flusher blocked in a TLS Write does
// not hold it up).
func TestReviewTLSSlowConsumer(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			p := newSTServer(cfg)
			werr := make(chan error, 1)
			p.tlsData = func(tr weft.Transport, d []byte) {
				go func() {
					chunk := make([]byte, 32<<10)
					for {
						if _, err := tr.Write(chunk); err != nil {
							werr <- err
							return
						}
					}
				}()
			}
			done := serve(s, p, &weft.Options{MaxWriteBuffer: 256 << 10})
			_, tcl, _ := stClient(t, c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			if _, err := tcl.Write([]byte("go")); err != nil { // handshake, then go
				t.Fatal(err)
			}
			select {
			case err := <-werr:
				if !errors.Is(err, weft.ErrSlowConsumer) {
					t.Errorf("Write = %v, want ErrSlowConsumer", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Writes to a peer that reads nothing never failed")
			}
			start := time.Now()
			if err := waitServe(t, done); !errors.Is(err, weft.ErrSlowConsumer) {
				t.Errorf("Serve = %v, want ErrSlowConsumer", err)
			}
			// Not the 5 s a close_notify to a peer that reads nothing could
			// wait (crypto/tls's own bound): well under it, with room for
			// a loaded machine.
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("the slow consumer's connection took %v to end", d)
			}
		})
	}
}

// TestReviewTLSHandshakeStall: a peer that asks for STARTTLS and never
// handshakes holds the connection only as long as the timeouts allow:
// HandshakeTimeout (ErrHandshakeTimeout), IdleTimeout (ErrIdleTimeout), or
// CloseTimeout once LoseConnection waits for output queued for TLS
// (ErrCloseTimeout). net.Pipe in a synctest bubble.
func TestReviewTLSHandshakeStall(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts weft.Options
		lose bool
		want error
	}{
		{"IdleTimeout", weft.Options{IdleTimeout: 30 * time.Second}, false, weft.ErrIdleTimeout},
		{"CloseTimeout", weft.Options{CloseTimeout: 30 * time.Second}, true, weft.ErrCloseTimeout},
		{"HandshakeTimeout", weft.Options{HandshakeTimeout: 30 * time.Second}, false, weft.ErrHandshakeTimeout},
		{"HandshakeTimeout first", weft.Options{HandshakeTimeout: 30 * time.Second, IdleTimeout: time.Hour}, false, weft.ErrHandshakeTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg, _ := testCert(t)
				s, c := net.Pipe()
				defer c.Close()
				p := newSTServer(cfg)
				if tc.lose {
					p.after = func(tr weft.Transport) { tr.Write([]byte("secret\n")); tr.LoseConnection() }
				}
				conn := weft.NewConn(s, p, &tc.opts)
				done := make(chan error, 1)
				go func() { done <- conn.Serve() }()
				c.Write([]byte("STARTTLS\r\n"))
				reply := make([]byte, len("220 go\r\n"))
				io.ReadFull(c, reply)
				start := time.Now()
				synctest.Wait()
				select {
				case err := <-done:
					t.Fatalf("Serve returned %v before any timeout", err)
				default:
				}
				time.Sleep(31 * time.Second)
				synctest.Wait()
				select {
				case err := <-done:
					if !errors.Is(err, tc.want) {
						t.Errorf("Serve = %v after %v, want %v", err, time.Since(start), tc.want)
					}
				default:
					t.Fatalf("a stalled StartTLS handshake outlived %v", time.Since(start))
				}
			})
		})
	}
}

// TestReviewTLSHandshakeStallEngines is TestReviewTLSHandshakeStall in real
// time, over TCP on both engines (the readiness engine cannot run in a
// synctest bubble): the stalled handshake runs on the goroutine the
// connection was handed over to, and the timeouts still bound it. Each
// timeout is 1 s and starts after the test's clock (the STARTTLS is sent
// after it), so the connection must not end before 1 s, and must end
// within 10 s; the peer then sees the end.
func TestReviewTLSHandshakeStallEngines(t *testing.T) {
	const timeout = time.Second
	cfg, _ := testCert(t)
	for _, tr := range tcpAndEngine {
		for _, tc := range []struct {
			name string
			opts weft.Options
			lose bool
			want error
		}{
			{"IdleTimeout", weft.Options{IdleTimeout: timeout}, false, weft.ErrIdleTimeout},
			{"CloseTimeout", weft.Options{CloseTimeout: timeout}, true, weft.ErrCloseTimeout},
			{"HandshakeTimeout", weft.Options{HandshakeTimeout: timeout}, false, weft.ErrHandshakeTimeout},
			{"HandshakeTimeout first", weft.Options{HandshakeTimeout: timeout, IdleTimeout: time.Hour}, false, weft.ErrHandshakeTimeout},
		} {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				s, c := tr.pair(t)
				p := newSTServer(cfg)
				if tc.lose {
					p.after = func(tr weft.Transport) { tr.Write([]byte("secret\n")); tr.LoseConnection() }
				}
				opts := tc.opts
				done := serve(s, p, &opts)
				c.SetDeadline(time.Now().Add(20 * time.Second))
				start := time.Now()
				if _, err := c.Write([]byte("STARTTLS\r\n")); err != nil {
					t.Fatal(err)
				}
				reply := make([]byte, len("220 go\r\n"))
				if _, err := io.ReadFull(c, reply); err != nil || string(reply) != "220 go\r\n" {
					t.Fatalf("clear-text reply %q, %v", reply, err)
				}
				if err := <-p.errc; err != nil {
					t.Fatalf("StartTLS = %v", err)
				}
				select {
				case err := <-done:
					if d := time.Since(start); d < timeout {
						t.Errorf("Serve returned %v after %v, before the %v timeout", err, d, timeout)
					}
					if !errors.Is(err, tc.want) {
						t.Errorf("Serve = %v after %v, want %v", err, time.Since(start), tc.want)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("a stalled StartTLS handshake outlived %v (timeout %v)", time.Since(start), timeout)
				}
				if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("peer read %d bytes, %v after the timeout; want the end of the connection", n, err)
				}
			})
		}
	}
}

// TestReviewTLSStartTLSRacesEOFEngines: TestReviewTLSStartTLSRacesEOF's
// race without its hook (a wrapper the readiness engine cannot take): a
// StartTLS from another goroutine races the peer's end of stream, many
// times, moving the moment, on both engines. Whichever comes first, the
// connection ends within 10 s (a switch left waiting hung it); a StartTLS
// that succeeded sends the clear text written before it, and nothing
// after it (no TLS, the peer made no handshake); a refused one fails with
// ErrClosed (the peer's end is seen: the Protocol writes no secret then, a
// Write may still go out in clear while the close is under way); the
// reason is nil or the handshake's failure.
func TestReviewTLSStartTLSRacesEOFEngines(t *testing.T) {
	cfg, _ := testCert(t)
	for _, tr := range tcpAndEngine {
		t.Run(tr.name, func(t *testing.T) {
			var switched, refused, cut int // the outcomes seen
			defer func() {
				t.Logf("StartTLS switched %d times (%d handshakes cut), refused %d times", switched, cut, refused)
			}()
			for i := range 100 {
				s, c := tr.pair(t)
				r := newRecorder(t)
				done := serve(s, r, nil)
				tp := waitMade(t, r)
				errc := make(chan error, 1)
				wrote := make(chan error, 1)
				go func() {
					for range i % 5 * 20 { // vary the moment of the StartTLS
						runtime.Gosched()
					}
					_, werr := tp.Write([]byte("220 go\r\n"))
					wrote <- werr
					err := tp.StartTLS(cfg)
					if err == nil { // (refused, the secret is not written)
						tp.Write([]byte("secret\n"))
					}
					errc <- err
				}()
				c.(*net.TCPConn).CloseWrite()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				got, rerr := io.ReadAll(c)
				werr, err := <-wrote, <-errc
				if rerr != nil {
					tp.Abort() // let Serve return
					waitServe(t, done)
					t.Fatalf("round %d: StartTLS = %v (Write %v); the peer read %q, then %v: the connection did not end (see TestReviewTLSStartTLSAfterEOFCheck)", i, err, werr, got, rerr)
				}
				switch {
				case err == nil && (string(got) != "220 go\r\n" || werr != nil):
					t.Fatalf("round %d: StartTLS = nil (Write %v); peer read %q, %v; want the clear text only", i, werr, got, rerr)
				case err != nil && !errors.Is(err, weft.ErrClosed):
					t.Fatalf("round %d: StartTLS = %v, want nil or ErrClosed", i, err)
				case string(got) != "" && string(got) != "220 go\r\n":
					t.Fatalf("round %d: peer read %q, %v; want nothing or the clear text", i, got, rerr)
				}
				serr := waitServe(t, done)
				if serr != nil && !strings.Contains(serr.Error(), "handshake") {
					t.Fatalf("round %d: Serve = %v (StartTLS %v), want nil or the handshake's failure", i, serr, err)
				}
				if err == nil {
					switched++
				} else {
					refused++
				}
				if serr != nil {
					cut++
				}
				c.Close()
			}
		})
	}
}

// TestReviewTLSAbortDuringSwitch: an Abort from another goroutine while the
// switch to TLS is under way (clear text going out, handshake) ends the
// connection with ErrAborted, without a data race on the connection's
// net.Conn (run with -race). On both engines.
func TestReviewTLSAbortDuringSwitch(t *testing.T) {
	for _, tr := range tcpAndEngine {
		t.Run(tr.name, func(t *testing.T) { reviewTLSAbortDuringSwitch(t, tr.pair) })
	}
}

func reviewTLSAbortDuringSwitch(t *testing.T, pair func(testing.TB) (net.Conn, net.Conn)) {
	cfg, pool := testCert(t)
	for i := range 50 {
		s, c := pair(t)
		p := newSTServer(cfg)
		p.before = func(tr weft.Transport) { tr.Write(pattern(64<<10, 1)) }
		p.after = func(tr weft.Transport) { tr.Write([]byte("secret\n")) }
		done := serve(s, p, nil)
		peer := make(chan struct{})
		go func() { // stClient's steps, without failing the test
			defer close(peer)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("STARTTLS\r\n"))
			br := bufio.NewReader(c)
			var clear []byte
			for !bytes.HasSuffix(clear, []byte("220 go\r\n")) {
				line, err := br.ReadSlice('\n')
				clear = append(clear, line...)
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
			}
			tcl := tls.Client(&rawRecorder{Conn: c, r: br}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			io.Copy(io.Discard, tcl)
		}()
		if err := <-p.errc; err != nil {
			t.Fatal(err)
		}
		for range i % 5 * 20 { // vary the moment of the Abort
			runtime.Gosched()
		}
		p.tr.Abort()
		if err := waitServe(t, done); !errors.Is(err, weft.ErrAborted) {
			t.Errorf("Serve = %v, want ErrAborted", err)
		}
		c.Close()
		<-peer
	}
}

// eofHookConn runs hook when its Read first returns io.EOF, before
// returning it: the moment between a read that ends the stream and the
// runtime's close.
type eofHookConn struct {
	net.Conn
	hook func()
	once sync.Once
}

func (c *eofHookConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.once.Do(c.hook)
	}
	return n, err
}

// TestReviewTLSStartTLSRacesEOF: StartTLS from another goroutine landing
// while the read that ends the stream (the peer's FIN) returns does not
// leave the switch waiting forever: the clear text queued before it is
// sent, and the connection ends with the handshake the peer can no longer
// make as its reason (Serve hung with the clear text queued: the reader
// had left and nothing else switches).
func TestReviewTLSStartTLSRacesEOF(t *testing.T) {
	cfg, _ := testCert(t)
	s, c := tcpPair(t)
	r := newRecorder(t)
	errc := make(chan error, 1)
	hs := &eofHookConn{Conn: s}
	hs.hook = func() {
		tr := r.transport()
		tr.Write([]byte("220 go\r\n"))
		errc <- tr.StartTLS(cfg)
		tr.Write([]byte("secret\n"))
	}
	done := serve(hs, r, nil)
	waitMade(t, r)
	c.(*net.TCPConn).CloseWrite()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(c)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if string(got) != "220 go\r\n" {
		t.Errorf("peer read %q, want the clear text only", got)
	}
	err := waitServe(t, done)
	if err == nil || !strings.Contains(err.Error(), "handshake") {
		t.Errorf("Serve = %v, want the StartTLS handshake's failure", err)
	}
}

// netConnHookConn runs hook at the first NetConn call after its Read
// returned io.EOF: on the goroutine engine that is endRead's look for a
// TLS layer (truncatedTLS), after the read loop's last look for a pending
// switch (switchAtEOF) and before the peer's end is marked (bPeerEOF).
type netConnHookConn struct {
	net.Conn
	armed atomic.Bool
	hook  func()
}

func (c *netConnHookConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.armed.Store(true)
	}
	return n, err
}

func (c *netConnHookConn) NetConn() net.Conn {
	if c.armed.CompareAndSwap(true, false) {
		c.hook()
	}
	return c.Conn
}

// TestReviewTLSStartTLSAfterEOFCheck: a StartTLS landing after the read
// loop looked for a pending switch at the peer's end of stream
// (switchAtEOF), but before that end is marked (endRead: bPeerEOF), is
// accepted (nil), and nothing switches any more: the reader has left. The
// clear text written before it must still go out and the connection end
// (the deterministic form of the window TestReviewTLSStartTLSRacesEOFEngines
// hits by chance on tcp). Goroutine engine (a wrapper the readiness engine
// cannot take); no CloseTimeout, which would end the wait with
// ErrCloseTimeout after it.
func TestReviewTLSStartTLSAfterEOFCheck(t *testing.T) {
	cfg, _ := testCert(t)
	s, c := tcpPair(t)
	r := newRecorder(t)
	errc := make(chan error, 1)
	hs := &netConnHookConn{Conn: s}
	hs.hook = func() {
		tr := r.transport()
		tr.Write([]byte("220 go\r\n"))
		errc <- tr.StartTLS(cfg)
		tr.Write([]byte("secret\n"))
	}
	done := serve(hs, r, nil)
	tr := waitMade(t, r)
	c.(*net.TCPConn).CloseWrite()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got, rerr := io.ReadAll(c)
	var err error
	select {
	case err = <-errc:
	default:
		t.Skip("the hook did not run: the runtime no longer looks for a TLS layer at the end of stream")
	}
	if err != nil {
		t.Logf("StartTLS = %v: refused, the window is closed", err)
	}
	if err == nil && (string(got) != "220 go\r\n" || rerr != nil) {
		t.Errorf("StartTLS = nil; the peer read %q, then %v; want the clear text, then the end of stream", got, rerr)
	}
	if rerr != nil {
		tr.Abort() // the connection did not end: let Serve return
		t.Fatalf("Serve = %v after an Abort, 10 s after StartTLS = %v: the switch waits for a reader that has left", waitServe(t, done), err)
	}
	select {
	case serr := <-done:
		if err == nil && (serr == nil || !strings.Contains(serr.Error(), "handshake")) {
			t.Errorf("Serve = %v, want the StartTLS handshake's failure", serr)
		}
	case <-time.After(10 * time.Second):
		tr.Abort() // let Serve return
		<-done
		t.Errorf("Serve did not return within 10 s after StartTLS = %v: the switch waits for a reader that has left", err)
	}
}

// TestReviewTLSPeerHalfClose: a peer that sends its request and then its
// close_notify (tls.Conn.CloseWrite: the TLS half-close) at once still
// gets the whole reply (1 MiB, still being written when the end of stream
// is read), then a close_notify of ours; ConnectionLost gets nil. As
// without TLS, the end of stream is a LoseConnection: output written
// before it is flushed, Writes after it fail.
func TestReviewTLSPeerHalfClose(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			reply := pattern(1<<20, 6)
			p := newSTServer(cfg)
			p.tlsData = func(tr weft.Transport, d []byte) { tr.Write(reply) }
			done := serve(s, p, &weft.Options{MaxWriteBuffer: 4 << 20})
			_, tcl, rr := stClient(t, c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12})
			go func() {
				tcl.Write([]byte("req"))
				tcl.CloseWrite()
			}()
			got, err := io.ReadAll(tcl)
			if !bytes.Equal(got, reply) {
				t.Errorf("peer read %d bytes (%v), want the %d-byte reply", len(got), err, len(reply))
			}
			if types := rr.recordTypes(); len(types) == 0 || types[len(types)-1] != 21 {
				t.Errorf("the stream did not end with a close_notify")
			}
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
		})
	}
}

// TestReviewTLSStartTLSBeforeStartOnEngine: StartTLS called on a Conn's
// Transport before Start with Options.Engine (the Transport is valid before
// Serve) is not stranded on the readiness engine, which cannot switch: the
// connection stays with the goroutine engine, the clear text written before
// it goes out, then TLS. (The engine took the socket and the switch waited
// forever, with the clear text.)
func TestReviewTLSStartTLSBeforeStartOnEngine(t *testing.T) {
	cfg, pool := testCert(t)
	s, c := enginePair(t)
	p := &funcProto{made: func(tr weft.Transport) { tr.Write([]byte("secret\n")) }}
	conn := weft.NewConn(s, p, &weft.Options{Engine: testEngine})
	tr := conn.Transport()
	tr.Write([]byte("220 go\r\n"))
	if err := tr.StartTLS(cfg); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	conn.Start(func(err error) { done <- err })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); line != "220 go\r\n" {
		t.Fatalf("clear text %q, %v", line, err)
	}
	tcl := tls.Client(&rawRecorder{Conn: c, r: br}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if line, err := bufio.NewReader(tcl).ReadString('\n'); line != "secret\n" {
		t.Fatalf("over TLS %q, %v", line, err)
	}
	tcl.Close()
	waitServe(t, done)
}
