//go:build linux

package weft_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// The tests of this file attack the hand-off of a connection whose
// Protocol calls StartTLS on the readiness engine (handOff): the engine
// gives the descriptor to a goroutine of its own, which switches to TLS.
// They run in real time (the engine cannot run in a synctest bubble), each
// wait bounded by 10 s.

// r5Client returns the client configuration that trusts testCert's pool.
func r5Client(pool *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// r5Pair is tcpPair without the cleanup: the caller closes both ends (the
// loops of this file would otherwise keep every pair open to the end).
func r5Pair(t testing.TB, lc *net.ListenConfig, d *net.Dialer) (net.Conn, net.Conn) {
	t.Helper()
	return dialPair(t, lc, d, "tcp", "127.0.0.1:0")
}

// r5SmallPair is a loopback pair whose buffers are small (the server's
// send buffer, the client's receive buffer), so that a few hundred KiB
// wait for the client to read them.
func r5SmallPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	set := func(opt int) func(string, string, syscall.RawConn) error {
		return func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 8<<10)
			})
			return errors.Join(err, serr)
		}
	}
	s, c := r5Pair(t, &net.ListenConfig{Control: set(syscall.SO_SNDBUF)}, &net.Dialer{Control: set(syscall.SO_RCVBUF)})
	t.Cleanup(func() { s.Close(); c.Close() })
	return s, c
}

// r5DupFD returns a close-on-exec duplicate of s's descriptor (non-blocking,
// as package net leaves it), for weft.NewConnFD; s stays the caller's.
func r5DupFD(t testing.TB, s net.Conn) int {
	t.Helper()
	sc, ok := s.(syscall.Conn)
	if !ok {
		t.Fatalf("%T has no descriptor", s)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			derr = errno
			return
		}
		fd = int(r)
	}); err != nil || derr != nil {
		t.Fatal(err, derr)
	}
	return fd
}

// r5Start serves p on testEngine through weft.NewConnFD (the server's
// descriptor path) on a duplicate of s's descriptor, closing s; it returns
// a channel with the reason Start's done callback receives.
func r5Start(t testing.TB, s net.Conn, p weft.Protocol, opts weft.Options) <-chan error {
	t.Helper()
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	fd := r5DupFD(t, s)
	laddr, raddr := s.LocalAddr(), s.RemoteAddr()
	s.Close()
	opts.Engine = testEngine
	conn, err := weft.NewConnFD(fd, laddr, raddr, p, &opts)
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	done := make(chan error, 1)
	conn.Start(func(err error) { done <- err })
	return done
}

// r5Wait receives from ch within 10 s.
func r5Wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing within 10 s", what)
		var zero T
		return zero
	}
}

// r5Echo writes msg over tc and checks that prefix+msg comes back.
func r5Echo(t testing.TB, tc io.ReadWriter, prefix, msg string) {
	t.Helper()
	if _, err := tc.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q over TLS: %v", msg, err)
	}
	got := make([]byte, len(prefix)+len(msg))
	if n, err := io.ReadFull(tc, got); err != nil || string(got) != prefix+msg {
		t.Fatalf("over TLS: read %q (%d bytes), %v; want %q", got[:n], n, err, prefix+msg)
	}
}

// tlsEcho is a Protocol that echoes what it receives, prefixed with "tls:".
func tlsEcho(tr weft.Transport, d []byte) { tr.Write(append([]byte("tls:"), d...)) }

// TestReview5StartTLSOutsideCallbacks: StartTLS called on an idle engine
// connection from another goroutine, and from a function given to Post
// (which may run on the caller's goroutine), sends the clear text written
// before it although the peer sends nothing (the runner has no event to
// wake it but StartTLS's own), then switches: the conversation goes on
// over TLS and ends cleanly.
func TestReview5StartTLSOutsideCallbacks(t *testing.T) {
	cfg, pool := testCert(t)
	for _, mode := range []string{"goroutine", "Post"} {
		t.Run(mode, func(t *testing.T) {
			s, c := enginePair(t)
			made := make(chan weft.Transport, 1)
			p := &funcProto{made: func(tr weft.Transport) { made <- tr }, data: tlsEcho}
			done := serve(s, p, nil)
			tr := r5Wait(t, made, "ConnectionMade")
			time.Sleep(50 * time.Millisecond) // idle: the runner parked
			errc := make(chan error, 1)
			switchTLS := func() {
				tr.Write([]byte("220 go\r\n"))
				errc <- tr.StartTLS(cfg)
			}
			if mode == "goroutine" {
				go switchTLS()
			} else {
				go tr.(weft.Poster).Post(switchTLS)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			if line, err := br.ReadString('\n'); line != "220 go\r\n" {
				t.Fatalf("clear text %q, %v", line, err)
			}
			if err := r5Wait(t, errc, "StartTLS"); err != nil {
				t.Fatalf("StartTLS = %v", err)
			}
			tc := tls.Client(&rawRecorder{Conn: c, r: br}, r5Client(pool))
			r5Echo(t, tc, "tls:", "x")
			tc.Close()
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
		})
	}
}

// TestReview5MadeOnFD: StartTLS in ConnectionMade, before any byte, on a
// connection made by weft.NewConnFD (the server's descriptor path, whose
// Conn never had a net.Conn): the greeting written before it arrives in
// clear text, then TLS works and the connection ends cleanly.
func TestReview5MadeOnFD(t *testing.T) {
	cfg, pool := testCert(t)
	s, c := tcpPair(t)
	errc := make(chan error, 1)
	p := &funcProto{made: func(tr weft.Transport) {
		tr.Write([]byte("hello\r\n"))
		errc <- tr.StartTLS(cfg)
		tr.Write([]byte("secret\n")) // after StartTLS: over TLS
	}, data: tlsEcho}
	done := r5Start(t, s, p, weft.Options{})
	if err := r5Wait(t, errc, "StartTLS"); err != nil {
		t.Fatalf("StartTLS in ConnectionMade = %v", err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); line != "hello\r\n" {
		t.Fatalf("clear text %q, %v", line, err)
	}
	tc := tls.Client(&rawRecorder{Conn: c, r: br}, r5Client(pool))
	secret := make([]byte, len("secret\n"))
	if _, err := io.ReadFull(tc, secret); err != nil || string(secret) != "secret\n" {
		t.Fatalf("over TLS %q, %v", secret, err)
	}
	r5Echo(t, tc, "tls:", "ping")
	tc.Close()
	if err := waitServe(t, done); err != nil {
		t.Errorf("done(%v), want nil", err)
	}
}

// TestReview5ParkedClearFirst: a clear-text reply far larger than the
// socket buffers, written before StartTLS to a peer that does not read at
// once, is parked by the engine (output waiting for writability) when the
// hand-off comes: every clear byte arrives, in order, before the TLS
// ServerHello; the output written after StartTLS arrives over TLS, then an
// echo works.
func TestReview5ParkedClearFirst(t *testing.T) {
	cfg, pool := testCert(t)
	s, c := enginePair(t)
	big, enc := pattern(16<<20, 7), pattern(1<<20+3, 8)
	p := newSTServer(cfg)
	// Written in ConnectionMade, flushed at its end: what the socket does
	// not take parks until it is writable.
	p.made = func(tr weft.Transport) { tr.Write(big) }
	p.after = func(tr weft.Transport) { tr.Write(enc) }
	p.tlsData = tlsEcho
	done := serve(s, p, &weft.Options{MaxWriteBuffer: 64 << 20})
	c.SetDeadline(time.Now().Add(20 * time.Second))
	time.Sleep(100 * time.Millisecond) // the greeting parks
	c.Write([]byte("STARTTLS\r\n"))
	if err := r5Wait(t, p.errc, "StartTLS"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the peer does not read yet
	if b := p.tr.Buffered(); b == 0 {
		t.Fatal("precondition: no output waits for the peer (the test would not cover parked output)")
	}
	br := bufio.NewReaderSize(c, 64<<10)
	want := append(append([]byte(nil), big...), "220 go\r\n"...)
	got := make([]byte, len(want))
	if n, err := io.ReadFull(br, got); err != nil {
		t.Fatalf("clear text: %d of %d bytes, %v", n, len(want), err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("clear text differs from byte %d on (of %d)", i, len(want))
	}
	tc := tls.Client(&rawRecorder{Conn: c, r: br}, r5Client(pool))
	gotEnc := make([]byte, len(enc))
	if n, err := io.ReadFull(tc, gotEnc); err != nil || !bytes.Equal(gotEnc, enc) {
		t.Fatalf("over TLS: %d bytes, %v (equal: %v)", n, err, bytes.Equal(gotEnc, enc))
	}
	r5Echo(t, tc, "tls:", "ping")
	tc.Close()
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

// r5Rec records what DataReceived got.
type r5Rec struct {
	mu   sync.Mutex
	data []byte
}

func (r *r5Rec) add(d []byte) { r.mu.Lock(); r.data = append(r.data, d...); r.mu.Unlock() }
func (r *r5Rec) get() string  { r.mu.Lock(); defer r.mu.Unlock(); return string(r.data) }

// TestReview5PausedHeldToTLS: reading paused from another goroutine, then
// StartTLS. "held": the engine read the peer's ClientHello while a posted
// function that paused reading ran (the runner waited for it, then kept
// the bytes, reading being paused); StartTLS then hands them to TLS — they
// are never delivered as clear text — and the handshake completes although
// reading is still paused. "idle": nothing held. In both, data sent over
// TLS while reading stays paused is not delivered until ResumeReading.
func TestReview5PausedHeldToTLS(t *testing.T) {
	cfg, pool := testCert(t)
	for _, held := range []bool{true, false} {
		t.Run(map[bool]string{true: "held", false: "idle"}[held], func(t *testing.T) {
			s, c := enginePair(t)
			var rec r5Rec
			made := make(chan weft.Transport, 1)
			p := &funcProto{made: func(tr weft.Transport) { made <- tr }, data: func(tr weft.Transport, d []byte) {
				rec.add(d)
				tr.Write(append([]byte("tls:"), d...))
			}}
			done := serve(s, p, nil)
			tr := r5Wait(t, made, "ConnectionMade")
			c.SetDeadline(time.Now().Add(10 * time.Second))
			tc := tls.Client(c, r5Client(pool))
			hs := make(chan error, 1)
			if held {
				// The posted function holds the callbacks while the
				// runner reads the ClientHello (and waits to deliver
				// it), then pauses reading: the runner keeps the bytes.
				entered, release := make(chan struct{}), make(chan struct{})
				go tr.(weft.Poster).Post(func() { close(entered); <-release; tr.PauseReading() })
				r5Wait(t, entered, "posted function")
				go func() { hs <- tc.Handshake() }() // the ClientHello
				time.Sleep(300 * time.Millisecond)   // the runner reads it, then waits for the posted function
				close(release)
				time.Sleep(100 * time.Millisecond)
			} else {
				tr.PauseReading()
				time.Sleep(50 * time.Millisecond)
			}
			if err := tr.StartTLS(cfg); err != nil {
				t.Fatalf("StartTLS = %v", err)
			}
			if !held {
				go func() { hs <- tc.Handshake() }()
			}
			if err := r5Wait(t, hs, "handshake"); err != nil {
				t.Fatalf("handshake while reading is paused: %v (delivered in clear: %q)", err, rec.get())
			}
			if got := rec.get(); got != "" {
				t.Fatalf("delivered as clear text: %q", got)
			}
			tc.Write([]byte("x"))
			time.Sleep(200 * time.Millisecond)
			if got := rec.get(); got != "" {
				t.Fatalf("delivered while paused: %q", got)
			}
			tr.ResumeReading()
			got := make([]byte, len("tls:x"))
			if _, err := io.ReadFull(tc, got); err != nil || string(got) != "tls:x" {
				t.Fatalf("after ResumeReading: %q, %v", got, err)
			}
			tc.Close()
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
		})
	}
}

var errR5 = errors.New("review5: closed by the test")

// r5Bystanders keeps loopback pairs made while connections are handed over
// and closed, so that they take the descriptor numbers those free: a
// descriptor closed twice (by the hand-off and by the engine, say) would
// close one of them under it. check verifies that each still carries bytes
// both ways.
type r5Bystanders struct{ pairs [][2]net.Conn }

func (b *r5Bystanders) add(t testing.TB) {
	s, c := r5Pair(t, nil, nil)
	b.pairs = append(b.pairs, [2]net.Conn{s, c})
}

func (b *r5Bystanders) check(t testing.TB) {
	t.Helper()
	for i, p := range b.pairs {
		for dir := range 2 {
			w, r := p[dir], p[1-dir]
			msg := []byte(fmt.Sprintf("bystander %d/%d", i, dir))
			r.SetReadDeadline(time.Now().Add(10 * time.Second))
			got := make([]byte, len(msg))
			if _, err := w.Write(msg); err != nil {
				t.Errorf("bystander %d: write: %v", i, err)
				continue
			}
			if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, msg) {
				t.Errorf("bystander %d: read %q, %v", i, got, err)
			}
		}
	}
}

func (b *r5Bystanders) close() {
	for _, p := range b.pairs {
		p[0].Close()
		p[1].Close()
	}
}

// TestReview5CloseRacesHandOff: Abort, Close and LoseConnection from
// another goroutine race the hand-off (started a little before, at or
// after StartTLS, many times): every connection ends within 10 s with
// exactly one ConnectionLost and the close's reason, no descriptor is left
// open, and loopback pairs opened meanwhile (which reuse the numbers the
// closes free) keep working — no descriptor is closed twice.
func TestReview5CloseRacesHandOff(t *testing.T) {
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	cfg, _ := testCert(t)
	ops := []struct {
		name string
		do   func(tr weft.Transport, c *weft.Conn)
		want error
	}{
		{"Abort", func(tr weft.Transport, _ *weft.Conn) { tr.Abort() }, weft.ErrAborted},
		{"Close", func(_ weft.Transport, c *weft.Conn) { c.Close(errR5) }, errR5},
		{"LoseConnection", func(tr weft.Transport, _ *weft.Conn) { tr.LoseConnection() }, nil},
	}
	const iters = 40
	run := func(t *testing.T, op func(weft.Transport, *weft.Conn), want error, i int, by *r5Bystanders) {
		s, c := r5Pair(t, nil, nil)
		defer c.Close()
		var lost atomic.Int32
		var conn *weft.Conn
		raced := make(chan struct{})
		p := &funcProto{lost: func(error) { lost.Add(1) }}
		p.data = func(tr weft.Transport, d []byte) {
			tr.Write([]byte("220 go\r\n"))
			go func() {
				defer close(raced)
				for range i % 48 {
					runtime.Gosched()
				}
				op(tr, conn)
			}()
			tr.StartTLS(cfg) // ErrClosed if the close came first
		}
		conn = weft.NewConn(s, p, &weft.Options{Engine: testEngine})
		done := make(chan error, 1)
		conn.Start(func(err error) { done <- err })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("STARTTLS\r\n")); err != nil {
			t.Fatal(err)
		}
		by.add(t)
		io.Copy(io.Discard, c) // to the end (or the reset)
		err := waitServe(t, done)
		r5Wait(t, raced, "the racing close")
		if n := lost.Load(); n != 1 {
			t.Errorf("iteration %d: ConnectionLost called %d times", i, n)
		}
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("iteration %d: reason %v, want %v", i, err, want)
		}
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			var by r5Bystanders
			defer by.close()
			run(t, op.do, op.want, 0, &by) // warm-up: lazily opened descriptors
			by.check(t)
			by.close()
			by = r5Bystanders{}
			time.Sleep(50 * time.Millisecond)
			before := openFDs(t)
			for i := range iters {
				run(t, op.do, op.want, i, &by)
			}
			by.check(t)
			by.close()
			by = r5Bystanders{}
			deadline := time.Now().Add(10 * time.Second)
			after := openFDs(t)
			for after > before && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond) // a lingering close may still hold one
				after = openFDs(t)
			}
			if after > before {
				t.Errorf("%d descriptors open before, %d after %d connections", before, after, iters)
			}
		})
	}
}

// TestReview5PeerGoneAfterCommand: the peer ends its stream, or resets the
// connection, right after "STARTTLS" (before the hand-off or during it):
// StartTLS succeeds or reports ErrClosed, the connection ends within 10 s
// with a reason — for the end of stream, a failed handshake that says the
// stream ended early — and the clear-text reply reaches a peer that only
// half-closed.
func TestReview5PeerGoneAfterCommand(t *testing.T) {
	cfg, _ := testCert(t)
	t.Run("eof", func(t *testing.T) {
		s, c := enginePair(t)
		p := newSTServer(cfg)
		done := serve(s, p, nil)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("STARTTLS\r\n"))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		if string(got) != "220 go\r\n" {
			t.Errorf("peer read %q, %v; want the reply, then the end", got, err)
		}
		if err := r5Wait(t, p.errc, "StartTLS"); err != nil && !errors.Is(err, weft.ErrClosed) {
			t.Errorf("StartTLS = %v", err)
		}
		err = waitServe(t, done)
		if !errors.Is(err, weft.ErrHandshakeFailed) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Serve = %v, want a failed handshake (ErrHandshakeFailed, io.ErrUnexpectedEOF)", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		s, c := enginePair(t)
		p := newSTServer(cfg)
		done := serve(s, p, nil)
		c.Write([]byte("STARTTLS\r\n"))
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
		if err := r5Wait(t, p.errc, "StartTLS"); err != nil && !errors.Is(err, weft.ErrClosed) {
			t.Errorf("StartTLS = %v", err)
		}
		if err := waitServe(t, done); err == nil {
			t.Error("Serve = nil after the peer's reset, want a reason")
		}
	})
}

// TestReview5WritersDuringHandOff: goroutines write numbered lines while
// a posted function writes "SWITCH" and calls StartTLS (writes and the
// switch are ordered by the test's own mutex), to a peer that reads
// nothing at first (output parks on the engine): every line written before
// StartTLS arrives in clear text, every line after it over TLS, each
// writer's lines in order, none lost or repeated.
func TestReview5WritersDuringHandOff(t *testing.T) {
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	cfg, pool := testCert(t)
	s, c := r5SmallPair(t) // small buffers: output parks on the engine
	made := make(chan weft.Transport, 1)
	p := &funcProto{made: func(tr weft.Transport) { made <- tr }}
	done := serve(engineConn{s.(*net.TCPConn)}, p, &weft.Options{MaxWriteBuffer: 256 << 20, HighWater: 64 << 10})
	tr := r5Wait(t, made, "ConnectionMade")
	const writers, lines = 4, 3000
	pad := strings.Repeat(".", 200)
	var order sync.Mutex
	var wg sync.WaitGroup
	var written atomic.Int32
	switched := make(chan error, 1)
	for w := range writers {
		wg.Go(func() {
			for n := range lines {
				order.Lock()
				tr.Write([]byte(fmt.Sprintf("%d %d %s\n", w, n, pad)))
				order.Unlock()
				if written.Add(1) == writers*lines/3 {
					go tr.(weft.Poster).Post(func() {
						order.Lock()
						defer order.Unlock()
						tr.Write([]byte("SWITCH\n"))
						switched <- tr.StartTLS(cfg)
					})
				}
			}
		})
	}
	wg.Wait()
	if err := r5Wait(t, switched, "StartTLS"); err != nil {
		t.Fatal(err)
	}
	tr.Write([]byte("END\n"))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(c, 64<<10)
	next := make([]int, writers)
	check := func(line, phase string) {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("%s: malformed line %q", phase, line)
		}
		w, _ := strconv.Atoi(f[0])
		n, _ := strconv.Atoi(f[1])
		if w < 0 || w >= writers || n != next[w] {
			t.Fatalf("%s: line %q, want writer %d's line %d next", phase, line, w, next[w])
		}
		next[w]++
	}
	clear := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("clear text: %v after %d lines", err, clear)
		}
		if line == "SWITCH\n" {
			break
		}
		check(line, "clear text")
		clear++
	}
	tc := tls.Client(&rawRecorder{Conn: c, r: br}, r5Client(pool))
	tbr := bufio.NewReader(tc)
	for {
		line, err := tbr.ReadString('\n')
		if err != nil {
			t.Fatalf("over TLS: %v (next lines %v)", err, next)
		}
		if line == "END\n" {
			break
		}
		check(line, "over TLS")
	}
	for w, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines arrived, want %d", w, n, lines)
		}
	}
	if clear == 0 || clear == writers*lines {
		t.Errorf("%d lines in clear text: the switch did not fall between the writes", clear)
	}
	tc.Close()
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

// TestReview5EngineCloseAfterHandOff: a connection handed over is no
// longer the engine's: closing the engine afterwards leaves it working
// (over TLS), and it ends cleanly when the peer closes. (A connection the
// engine still serves is ended by Close with ErrServerShutdown.)
func TestReview5EngineCloseAfterHandOff(t *testing.T) {
	cfg, pool := testCert(t)
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	e, err := weft.NewEngine()
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeEngine := func() { once.Do(func() { e.Close() }) }
	defer closeEngine()
	s, c := tcpPair(t)
	p := newSTServer(cfg)
	p.tlsData = tlsEcho
	done := serve(s, p, &weft.Options{Engine: e})
	_, tc, _ := stClient(t, c, r5Client(pool))
	r5Echo(t, tc, "tls:", "before")
	closed := make(chan struct{})
	go func() { closeEngine(); close(closed) }()
	r5Wait(t, closed, "Engine.Close")
	r5Echo(t, tc, "tls:", "after the engine closed")
	tc.Close()
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

// TestReview5CountersBalance: Options.Counters across the switch — clear
// text both ways (a reply large enough to park on the engine), then TLS
// both ways — count every byte delivered and written once: BytesIn is the
// clear text read plus the TLS plaintext read, BytesOut the clear text
// written plus the TLS plaintext written, on both engines.
func TestReview5CountersBalance(t *testing.T) {
	cfg, pool := testCert(t)
	for _, tc := range []struct {
		name string
		pair func(testing.TB) (net.Conn, net.Conn)
	}{{"tcp", tcpPair}, {"epoll", enginePair}} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			var cnt weft.Counters
			big := pattern(12<<20, 3)
			p := newSTServer(cfg)
			p.made = func(tr weft.Transport) { tr.Write(big) } // parks: the peer reads later
			p.tlsData = func(tr weft.Transport, d []byte) { tr.Write(d) }
			done := serve(s, p, &weft.Options{MaxWriteBuffer: 64 << 20, Counters: &cnt})
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("nope\r\n")) // answered "500\r\n" in clear
			// stClient's STARTTLS must be read on its own: wait until
			// the server has taken "nope" (a sleep was not enough on a
			// loaded machine, where both came in one read).
			for deadline := time.Now().Add(10 * time.Second); cnt.BytesIn.Load() < int64(len("nope\r\n")); {
				if time.Now().After(deadline) {
					t.Fatal("the server did not read the first line within 10 s")
				}
				time.Sleep(time.Millisecond)
			}
			clear, tcl, _ := stClient(t, c, r5Client(pool))
			if want := string(big) + "500\r\n220 go\r\n"; clear != want {
				t.Fatalf("clear text %d bytes, want %d (equal prefix %v)", len(clear), len(want), strings.HasPrefix(want, clear))
			}
			msg := pattern(100<<10, 4)
			wrote := make(chan error, 1)
			go func() { _, err := tcl.Write(msg); wrote <- err }()
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(tcl, got); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("echo over TLS: %v", err)
			}
			// A tls.Conn closed during a Write sends no close_notify.
			if err := <-wrote; err != nil {
				t.Fatalf("writing over TLS: %v", err)
			}
			tcl.Close()
			if err := waitServe(t, done); err != nil {
				t.Fatalf("Serve = %v", err)
			}
			wantIn := int64(len("nope\r\n") + len("STARTTLS\r\n") + len(msg))
			wantOut := int64(len(big) + len("500\r\n") + len("220 go\r\n") + len(msg))
			if in, out := cnt.BytesIn.Load(), cnt.BytesOut.Load(); in != wantIn || out != wantOut {
				t.Errorf("BytesIn %d, BytesOut %d; want %d and %d", in, out, wantIn, wantOut)
			}
		})
	}
}

// TestReview5ManySwitches: 200 connections on the engine switch to TLS at
// once, each echoing over TLS, and end cleanly.
func TestReview5ManySwitches(t *testing.T) {
	cfg, pool := testCert(t)
	const n = 200
	type one struct {
		c    net.Conn
		p    *stServer
		done <-chan error
	}
	conns := make([]one, n)
	for i := range conns {
		s, c := enginePair(t)
		p := newSTServer(cfg)
		p.tlsData = tlsEcho
		conns[i] = one{c, p, serve(s, p, nil)}
	}
	errs := make(chan error, n)
	for i, o := range conns {
		go func() {
			errs <- func() error {
				o.c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := o.c.Write([]byte("STARTTLS\r\n")); err != nil {
					return err
				}
				br := bufio.NewReader(o.c)
				if line, err := br.ReadString('\n'); line != "220 go\r\n" {
					return fmt.Errorf("clear %q, %v", line, err)
				}
				tc := tls.Client(&rawRecorder{Conn: o.c, r: br}, r5Client(pool))
				msg := fmt.Sprintf("conn %d", i)
				if _, err := tc.Write([]byte(msg)); err != nil {
					return err
				}
				got := make([]byte, len("tls:")+len(msg))
				if _, err := io.ReadFull(tc, got); err != nil || string(got) != "tls:"+msg {
					return fmt.Errorf("echo %q, %v", got, err)
				}
				return tc.Close()
			}()
		}()
	}
	for range n {
		if err := r5Wait(t, errs, "client"); err != nil {
			t.Errorf("client: %v", err)
		}
	}
	for i, o := range conns {
		if err := waitServe(t, o.done); err != nil {
			t.Errorf("connection %d: Serve = %v", i, err)
		}
	}
}

// TestReview5TimeoutsAfterHandOff: IdleTimeout and CloseTimeout keep
// working across the hand-off: an idle connection over TLS, a peer that
// stalls the handshake, a close waiting for TLS output the peer never
// reads, and a close waiting for parked clear text the peer never reads
// end with ErrIdleTimeout or ErrCloseTimeout.
func TestReview5TimeoutsAfterHandOff(t *testing.T) {
	cfg, pool := testCert(t)
	const to = 300 * time.Millisecond
	t.Run("idle", func(t *testing.T) {
		s, c := enginePair(t)
		p := newSTServer(cfg)
		p.tlsData = tlsEcho
		done := serve(s, p, &weft.Options{IdleTimeout: to})
		_, tc, _ := stClient(t, c, r5Client(pool))
		r5Echo(t, tc, "tls:", "x")
		start := time.Now()
		if err := waitServe(t, done); !errors.Is(err, weft.ErrIdleTimeout) {
			t.Errorf("Serve = %v, want ErrIdleTimeout", err)
		}
		if d := time.Since(start); d < to/2 {
			t.Errorf("closed %v after the last byte, IdleTimeout is %v", d, to)
		}
	})
	t.Run("idle handshake", func(t *testing.T) {
		s, c := enginePair(t)
		p := newSTServer(cfg)
		done := serve(s, p, &weft.Options{IdleTimeout: to})
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("STARTTLS\r\n")) // and no ClientHello
		if err := waitServe(t, done); !errors.Is(err, weft.ErrIdleTimeout) {
			t.Errorf("Serve = %v, want ErrIdleTimeout", err)
		}
	})
	t.Run("close over TLS", func(t *testing.T) {
		s, c := enginePair(t)
		p := newSTServer(cfg)
		p.tlsData = func(tr weft.Transport, d []byte) {
			tr.Write(pattern(16<<20, 1))
			tr.LoseConnection()
		}
		done := serve(s, p, &weft.Options{CloseTimeout: to, MaxWriteBuffer: 64 << 20})
		_, tc, _ := stClient(t, c, r5Client(pool))
		tc.Write([]byte("go")) // and read nothing
		if err := waitServe(t, done); !errors.Is(err, weft.ErrCloseTimeout) {
			t.Errorf("Serve = %v, want ErrCloseTimeout", err)
		}
	})
	t.Run("close parked clear", func(t *testing.T) {
		s, c := enginePair(t)
		p := newSTServer(cfg)
		p.made = func(tr weft.Transport) { tr.Write(pattern(16<<20, 2)) } // parks
		p.after = func(tr weft.Transport) { tr.LoseConnection() }
		done := serve(s, p, &weft.Options{CloseTimeout: to, MaxWriteBuffer: 64 << 20})
		c.Write([]byte("STARTTLS\r\n")) // and read nothing
		if err := waitServe(t, done); !errors.Is(err, weft.ErrCloseTimeout) {
			t.Errorf("Serve = %v, want ErrCloseTimeout", err)
		}
	})
}

// TestReview5SlowReaderNotIdle: a clear-text reply written before
// StartTLS, which a peer reads slowly but steadily (a few KiB every 20 ms,
// small socket buffers), is neither idle (IdleTimeout) nor a stalled close
// (CloseTimeout, LoseConnection right after StartTLS): both count bytes
// that leave, not whole writes (Options). On the readiness engine the
// parked part of it moves to the hand-off's goroutine, which writes it.
func TestReview5SlowReaderNotIdle(t *testing.T) {
	cfg, pool := testCert(t)
	const to = 250 * time.Millisecond
	for _, eng := range []string{"tcp", "epoll", "epoll parked"} {
		for _, closing := range []bool{false, true} {
			name := eng + map[bool]string{false: "/IdleTimeout", true: "/CloseTimeout"}[closing]
			t.Run(name, func(t *testing.T) {
				s, c := r5SmallPair(t)
				if eng != "tcp" {
					if testEngine == nil {
						t.Skip("no readiness engine")
					}
					s = engineConn{s.(*net.TCPConn)}
				}
				big := pattern(256<<10, 5)
				p := newSTServer(cfg)
				if eng == "epoll parked" {
					// Written and flushed before STARTTLS comes: the
					// engine parks what the socket does not take.
					p.made = func(tr weft.Transport) { tr.Write(big) }
				} else {
					// Queued with the reply, and written by the switch.
					p.before = func(tr weft.Transport) { tr.Write(big) }
				}
				p.tlsData = tlsEcho
				opts := &weft.Options{MaxWriteBuffer: 4 << 20, IdleTimeout: to}
				if closing {
					p.after = func(tr weft.Transport) { tr.LoseConnection() }
					opts = &weft.Options{MaxWriteBuffer: 4 << 20, CloseTimeout: to}
				}
				done := serve(s, p, opts)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Write([]byte("STARTTLS\r\n"))
				want := append(append([]byte(nil), big...), "220 go\r\n"...)
				var got []byte
				time.Sleep(50 * time.Millisecond) // STARTTLS is read before the peer reads
				buf := make([]byte, 8<<10)
				for len(got) < len(want) {
					time.Sleep(20 * time.Millisecond)
					n, err := c.Read(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
				}
				if !bytes.Equal(got, want) {
					t.Errorf("slow reader read %d of %d clear bytes (equal prefix %v); Serve: %v",
						len(got), len(want), bytes.HasPrefix(want, got), r5Reason(done))
					return
				}
				if closing {
					if err := waitServe(t, done); err != nil {
						t.Errorf("Serve = %v, want nil", err)
					}
					return
				}
				tc := tls.Client(c, r5Client(pool))
				r5Echo(t, tc, "tls:", "x")
				tc.Close()
				if err := waitServe(t, done); err != nil {
					t.Errorf("Serve = %v, want nil", err)
				}
			})
		}
	}
}

// r5Reason returns Serve's result if it has returned within a second.
func r5Reason(done <-chan error) string {
	select {
	case err := <-done:
		return fmt.Sprintf("returned %v", err)
	case <-time.After(time.Second):
		return "still running"
	}
}

// TestReview5FDStartTLSBeforeStart: on a connection made by
// weft.NewConnFD, whose Transport is valid before Start, a Write and
// StartTLS made before Start are kept for the engine's first turn:
// ConnectionMade comes first, then the clear text goes out, then TLS.
func TestReview5FDStartTLSBeforeStart(t *testing.T) {
	if testEngine == nil {
		t.Skip("no readiness engine on this platform")
	}
	cfg, pool := testCert(t)
	s, c := tcpPair(t)
	fd := r5DupFD(t, s)
	laddr, raddr := s.LocalAddr(), s.RemoteAddr()
	s.Close()
	var madeFirst atomic.Bool
	p := &funcProto{made: func(tr weft.Transport) { madeFirst.Store(true) }, data: tlsEcho}
	conn, err := weft.NewConnFD(fd, laddr, raddr, p, &weft.Options{Engine: testEngine})
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	tr := conn.Transport()
	tr.Write([]byte("220 go\r\n"))
	if err := tr.StartTLS(cfg); err != nil {
		t.Fatalf("StartTLS before Start = %v", err)
	}
	done := make(chan error, 1)
	conn.Start(func(err error) { done <- err })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); line != "220 go\r\n" {
		t.Fatalf("clear text %q, %v", line, err)
	}
	tc := tls.Client(&rawRecorder{Conn: c, r: br}, r5Client(pool))
	r5Echo(t, tc, "tls:", "x")
	if !madeFirst.Load() {
		t.Error("ConnectionMade was not called")
	}
	tc.Close()
	if err := waitServe(t, done); err != nil {
		t.Errorf("done(%v), want nil", err)
	}
}

// TestReview5DupFails: a hand-off that cannot duplicate the descriptor
// (the process is out of descriptors) aborts the connection with a reason
// that says so, within 10 s, closing its descriptor once; the engine goes
// on serving others.
func TestReview5DupFails(t *testing.T) {
	cfg, _ := testCert(t)
	s, c := enginePair(t)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skip(err)
	}
	var once sync.Once
	restore := func() { once.Do(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) }) }
	defer restore()
	p := newSTServer(cfg)
	p.before = func(weft.Transport) {
		// The lowest free descriptor number becomes the limit: the
		// next descriptor made (the hand-off's duplicate) fails.
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		syscall.Close(fd)
		lim := old
		lim.Cur = uint64(fd)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	done := serve(s, p, nil)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("STARTTLS\r\n"))
	err := waitServe(t, done)
	restore()
	if !errors.Is(err, syscall.EMFILE) || !strings.Contains(err.Error(), "StartTLS") {
		t.Errorf("Serve = %v, want a StartTLS reason wrapping EMFILE", err)
	}
	io.Copy(io.Discard, c) // the connection is closed: the end (or a reset)
	// The engine still serves others.
	s2, c2 := enginePair(t)
	done2 := serve(s2, &funcProto{data: func(tr weft.Transport, d []byte) { tr.Write(d) }}, nil)
	c2.SetDeadline(time.Now().Add(10 * time.Second))
	c2.Write([]byte("ping"))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c2, got); err != nil || string(got) != "ping" {
		t.Errorf("another connection after the failed hand-off: %q, %v", got, err)
	}
	c2.Close()
	waitServe(t, done2)
}
