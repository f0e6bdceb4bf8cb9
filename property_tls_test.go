package weft_test

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// The StartTLS variant of TestPropertyContract (the "tls-" transports):
// the peer sends the first part of its stream (clearLen bytes, maybe none)
// in clear text and waits. Once the server has received all of it, at that
// point the server writes a marker record and calls Transport.StartTLS —
// from that callback, from a posted function, or from a goroutine of its
// own after a random delay — while every other operation of the run goes
// on (writes from callbacks and goroutines before, during and after the
// switch, pauses, producers, closes, aborts). The peer reads the clear
// stream record by record; once it has seen the marker and StartTLS has
// returned nil (the protocol's "go ahead", told to the test's peer out of
// band, as a real protocol's reply would tell it), it starts a TLS client
// handshake, goes on reading the clear records still coming (written before
// the switch took effect) until the server's first TLS record, then reads
// over TLS, and sends the rest of its stream over TLS.
//
// Pipelined (a third of the runs, drawn in drawTimeouts): the peer does
// not wait for the go-ahead. It writes the tail of its clear text (up to
// 64 bytes) and its ClientHello in one Write, so that they arrive in one
// segment; the server's DataReceived that gets the clear text's last byte
// keeps the bytes after it and hands them to weft.StartTLS, from that
// callback (bytes not yet delivered go to TLS by themselves). Nothing may
// be lost or reordered: the oracle below, and DataReceived's prefix check,
// see every byte of the stream.
//
// On top of the contract's oracle (propRun.check): every record that
// returned before StartTLS began arrives in clear text, every one that
// began after StartTLS returned arrives over TLS, none is cut by the
// switch, no TLS byte comes before the handshake; StartTLS returns nil or
// ErrClosed (only once something closing had begun); the reason of a
// connection whose peer cut the TLS stream (closed the socket without a
// close_notify) before anything else closed is not nil (ErrTLSTruncated
// or a network error), and the only StartTLS reasons are those a cut peer
// explains (ErrTLSTruncated, ErrHandshakeFailed).

// How the server calls StartTLS.
const (
	tlsFromCallback = iota
	tlsFromPost
	tlsFromGoroutine
)

var tlsHowNames = [...]string{"callback", "post", "goroutine"}

// propMarkerW is the writer id of the marker record.
const propMarkerW = 200

type propTLSConfigs struct{ srv, cli *tls.Config }

type propTLS struct {
	cfgs     *propTLSConfigs
	clearLen int // the peer's clear-text part
	how      int
	delay    time.Duration // before a goroutine's StartTLS
	// cutAfterTLS: the peer's early close comes after its handshake
	// (or its decision that there is none).
	cutAfterTLS bool
	actor       *actor // writes the marker

	// server side
	armed  bool          // callbacks only
	goCh   chan struct{} // tlsFromGoroutine: closed when armed
	stop   chan struct{} // closed once Serve returned
	stDone chan struct{} // closed once StartTLS returned
	st     cause         // StartTLS's call and result
	called bool          // st is set (guarded by r.mu)

	// peer side (under r.peerMu)
	peerTLS   *tls.Conn     // the peer's TLS side, once its handshake is done
	peerReady chan struct{} // closed once the peer knows whether TLS is on
	readyOnce sync.Once
	tlsAt     int  // offset in peerGot where the TLS plaintext begins, -1: none
	cut       bool // the peer closed its socket after its handshake, with no close_notify, before the end
	rawClose  bool // the peer closed its socket after its handshake, with no close_notify
	hsErr     error
	// noCloseNotify: the peer read the end of the TLS stream with no
	// close_notify (crypto/tls reads that as io.EOF too).
	noCloseNotify bool

	// pipelined: the peer does not wait for the go-ahead: it sends the
	// tail of its clear text and its ClientHello in one Write, and the
	// server's DataReceived that gets the clear text's last byte hands the
	// bytes after it (buffered) to weft.StartTLS, from that callback.
	pipelined bool
	tailCh    chan []byte // the peer's writer gives its reader the tail
	buffered  []byte      // what the server handed to StartTLS
}

func (r *propRun) initTLS(rng *rand.Rand, cfgs *propTLSConfigs) {
	x := &propTLS{cfgs: cfgs, how: rng.IntN(3), goCh: make(chan struct{}), stop: make(chan struct{}),
		stDone: make(chan struct{}), peerReady: make(chan struct{}), tlsAt: -1,
		actor: &actor{w: propMarkerW, rng: rand.New(rand.NewPCG(rng.Uint64(), 200))}}
	switch rng.IntN(3) {
	case 0:
	case 1:
		x.clearLen = rng.IntN(len(r.stream) + 1)
	case 2:
		x.clearLen = len(r.stream)
	}
	x.delay = time.Duration(rng.IntN(3000)) * time.Microsecond
	// Fewer closes: more runs reach the switch and go on over TLS (output
	// written during the handshake waits for it: slow consumers too).
	r.cfg.pClose /= 3
	if rng.IntN(2) == 0 {
		r.cfg.maxWB, r.cfg.high, r.cfg.low = 0, 0, 0
		r.cfg.maxWrite = min(r.cfg.maxWrite, 16<<10)
	}
	x.cutAfterTLS = r.cfg.peerPlan == peerEarly && rng.IntN(2) == 0
	r.tls = x
}

// maybeArmTLS runs in the callbacks: once the peer's clear text is all
// received, the switch begins.
func (r *propRun) maybeArmTLS() {
	x := r.tls
	if x == nil || x.armed || len(r.received) < x.clearLen {
		return
	}
	x.armed = true
	switch x.how {
	case tlsFromCallback:
		r.startTLS()
	case tlsFromPost:
		r.post(r.startTLS)
	case tlsFromGoroutine:
		close(x.goCh)
	}
}

// tlsGoroutine is the goroutine of tlsFromGoroutine.
func (r *propRun) tlsGoroutine() {
	x := r.tls
	select {
	case <-x.goCh:
	case <-x.stop:
		select {
		case <-x.goCh:
		default:
			return
		}
	}
	time.Sleep(x.delay)
	r.startTLS()
}

// markerPending reports whether the StartTLS variant's marker may still be
// written (perhaps from a goroutine other than the callbacks').
func (r *propRun) markerPending() bool {
	if r.tls == nil {
		return false
	}
	select {
	case <-r.tls.stDone:
		return false
	default:
		return true
	}
}

// startTLS writes the marker and calls StartTLS.
func (r *propRun) startTLS() {
	x := r.tls
	r.writeN(x.actor, opWrite, recHdr+x.actor.rng.IntN(64))
	s := r.now()
	var err error
	if x.pipelined {
		err = weft.StartTLS(r.tr, x.cfgs.srv, x.buffered)
	} else {
		err = r.tr.StartTLS(x.cfgs.srv)
	}
	e := r.now()
	r.mu.Lock()
	x.st, x.called = cause{s: s, e: e, err: err}, true
	r.mu.Unlock()
	close(x.stDone)
}

func (r *propRun) peerTLSReady(tc *tls.Conn, hsErr error) {
	x := r.tls
	x.readyOnce.Do(func() {
		r.peerMu.Lock()
		x.peerTLS, x.hsErr = tc, hsErr
		r.peerMu.Unlock()
		close(x.peerReady)
	})
}

// peerWaitTLS waits until the peer knows whether the connection switched;
// it returns the peer's TLS side, or nil.
func (r *propRun) peerWaitTLS() *tls.Conn {
	<-r.tls.peerReady
	r.peerMu.Lock()
	defer r.peerMu.Unlock()
	return r.tls.peerTLS
}

var errPropCorrupt = errors.New("prop: corrupt clear-text stream")

// propSwitchConn is the peer's socket under its TLS client: it reads the
// clear-text records still coming (into peerGot) until, at a record
// boundary, the server's first TLS record begins.
type propSwitchConn struct {
	net.Conn
	r           *propRun
	po          int // parse offset in peerGot: a record boundary
	sawMarker   bool
	handshaking bool
	tlsOn       bool
	bad         bool
	clearEOF    bool // the stream ended in clear text, at a record boundary
	rawEOF      bool // the socket's end reached TLS (with no close_notify before it)
	pending     []byte
	buf         []byte
	// On net.Pipe, which buffers nothing, the handshake's writes go out
	// from a goroutine of their own: the server sends its clear text
	// before it reads the ClientHello, and a peer that waits in its Write
	// would never read it (a socket's buffers hide this).
	async     chan []byte
	asyncDone chan error
	// prefix: pipelined TLS, the clear text's tail, written with the
	// handshake's first Write (the ClientHello), in one Write.
	prefix []byte
}

// Write writes to the socket, or queues for the handshake's writer.
func (s *propSwitchConn) Write(b []byte) (int, error) {
	if p := s.prefix; p != nil {
		s.prefix = nil
		if _, err := s.write(append(append([]byte(nil), p...), b...)); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return s.write(b)
}

func (s *propSwitchConn) write(b []byte) (int, error) {
	if s.async == nil {
		return s.Conn.Write(b)
	}
	s.async <- append([]byte(nil), b...)
	return len(b), nil
}

func (s *propSwitchConn) startAsync() {
	q, done, c := make(chan []byte, 16), make(chan error, 1), s.Conn
	s.async, s.asyncDone = q, done
	go func() {
		var err error
		for b := range q {
			if err == nil {
				_, err = c.Write(b)
			}
		}
		done <- err
	}()
}

// endAsync waits until the handshake's writes are written (the peer's
// writer may write next).
func (s *propSwitchConn) endAsync() error {
	if s.async == nil {
		return nil
	}
	close(s.async)
	s.async = nil
	return <-s.asyncDone
}

// readClear reads once from the socket into the clear stream.
func (s *propSwitchConn) readClear(b []byte) error {
	n, err := s.Conn.Read(b)
	r := s.r
	r.peerMu.Lock()
	r.peerGot = append(r.peerGot, b[:n]...)
	r.peerMu.Unlock()
	s.parse()
	if err == io.EOF && !s.tlsOn && s.po == len(r.peerGot) {
		s.clearEOF = true
	}
	return err
}

// parse moves po over the whole records received; at the first TLS record
// it switches (what follows goes to TLS). Only this goroutine appends to
// peerGot.
func (s *propSwitchConn) parse() {
	r := s.r
	got := r.peerGot
	for !s.tlsOn && !s.bad && s.po < len(got) {
		rest := got[s.po:]
		if rest[0] == 0x16 { // a TLS handshake record
			if !s.handshaking {
				r.failf("peer: a TLS record at byte %d of the clear stream, before the peer's handshake began", s.po)
				s.bad = true
				return
			}
			s.pending = append([]byte(nil), rest...)
			r.peerMu.Lock()
			r.peerGot = r.peerGot[:s.po]
			r.tls.tlsAt = s.po
			r.peerMu.Unlock()
			s.tlsOn = true
			return
		}
		if rest[0] != 0xA5 {
			r.failf("peer: clear stream byte %d: %#x where a record begins", s.po, rest[0])
			s.bad = true
			return
		}
		if len(rest) < recHdr {
			return
		}
		w, seq, n := int(rest[1]), binary.BigEndian.Uint32(rest[2:]), int(binary.BigEndian.Uint32(rest[6:]))
		if rest[10] != 0x5A || n < recHdr {
			r.failf("peer: clear stream byte %d: no record header (%x)", s.po, rest[:recHdr])
			s.bad = true
			return
		}
		for i := recHdr; i < n && i < len(rest); i++ {
			if rest[i] != recByte(w, seq, i) {
				what := "differs"
				if rest[i] == 0x16 && s.handshaking {
					what = "is cut by the switch to TLS"
				}
				r.failf("peer: clear stream byte %d: record %d/%d (%d bytes) %s at its byte %d", s.po, w, seq, n, what, i)
				s.bad = true
				return
			}
		}
		if len(rest) < n {
			return
		}
		if w == propMarkerW {
			s.sawMarker = true
		}
		s.po += n
	}
}

// Read is the TLS client's: clear records first, then TLS.
func (s *propSwitchConn) Read(b []byte) (int, error) {
	for !s.tlsOn {
		if s.bad {
			return 0, errPropCorrupt
		}
		// finalStalled: a handshake under way stops reading too (else
		// it drains the server's clear text, and the close finishes).
		s.r.peerStopped()
		if err := s.readClear(s.buf); err != nil {
			return 0, err
		}
	}
	if len(s.pending) > 0 {
		n := copy(b, s.pending)
		s.pending = s.pending[n:]
		return n, nil
	}
	n, err := s.Conn.Read(b)
	if err == io.EOF {
		s.rawEOF = true // crypto/tls reads it as a clean end at a record boundary
	}
	return n, err
}

// peerReadTLS is peerRead for the TLS variant.
func (r *propRun) peerReadTLS(rng *rand.Rand, writerDone <-chan struct{}) {
	x := r.tls
	c := r.peerConn
	sw := &propSwitchConn{Conn: c, r: r, buf: make([]byte, 64<<10)}
	buf := make([]byte, 64<<10)
	stall := func() {
		if rng.Float64() < r.cfg.stallP {
			time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond)
		}
	}
	var err error
	goTLS, waited := false, false
	var tail []byte
	for err == nil && !goTLS {
		if !x.pipelined { // (pipelined: no stalls while it looks for the tail every 2 ms)
			stall()
		}
		r.peerStopped()
		if x.pipelined {
			// The handshake begins once the writer has sent all but
			// the tail: read with a short deadline to look for it.
			select {
			case tail = <-x.tailCh:
				goTLS = true
				c.SetReadDeadline(time.Time{})
				continue
			default:
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
		}
		err = sw.readClear(buf[:1+rng.IntN(len(buf))])
		if x.pipelined && errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil
		}
		if sw.bad && err == nil {
			err = errPropCorrupt
		}
		if sw.sawMarker && !waited && !x.pipelined {
			waited = true
			select {
			case <-x.stDone:
				goTLS = x.st.err == nil
			case <-time.After(10 * time.Second):
				r.failf("peer: the marker came, StartTLS did not return within 10 s")
			}
		}
	}
	var tc *tls.Conn
	if x.pipelined {
		c.SetReadDeadline(time.Time{})
	}
	if goTLS {
		sw.handshaking = true
		sw.prefix = tail
		if pipeLike(r.name) {
			sw.startAsync()
		}
		tc = tls.Client(sw, x.cfgs.cli)
		herr := tc.Handshake()
		if werr := sw.endAsync(); herr == nil && werr != nil {
			herr = werr
		}
		if herr != nil {
			r.peerTLSReady(nil, herr)
			// The server closed with nothing to send over TLS (no
			// handshake then), and the ClientHello's write failed (a
			// unix socket or net.Pipe closed): the clear text goes on
			// to its end.
			for !sw.tlsOn && !sw.bad && !sw.clearEOF {
				if sw.readClear(buf) != nil {
					break
				}
			}
			if sw.clearEOF {
				err = io.EOF // the server closed before the handshake: a clean end in clear text
			} else {
				err = fmt.Errorf("peer: TLS handshake: %w", herr)
			}
			tc = nil
		} else {
			r.peerTLSReady(tc, nil)
			for {
				stall()
				r.peerStopped()
				var n int
				n, err = tc.Read(buf[:1+rng.IntN(len(buf))])
				r.peerMu.Lock()
				r.peerGot = append(r.peerGot, buf[:n]...)
				r.peerMu.Unlock()
				if err != nil {
					break
				}
			}
			if err == io.EOF && sw.rawEOF {
				r.peerMu.Lock()
				x.noCloseNotify = true
				r.peerMu.Unlock()
			}
		}
	} else {
		r.peerTLSReady(nil, nil)
	}
	r.peerFinish(err, writerDone)
	if tc != nil {
		tc.Close() // a close_notify (none if a write is under way)
	}
	c.Close()
}

// checkTLS checks the records' side of the switch; order are the records
// in the peer's stream, at offsets offs.
func (r *propRun) checkTLS(order []*writeRec, offs []int) {
	x := r.tls
	r.peerMu.Lock()
	tlsAt, peerTLS := x.tlsAt, x.peerTLS
	r.peerMu.Unlock()
	if x.called {
		switch err := x.st.err; {
		case err == nil:
		case errors.Is(err, weft.ErrClosed):
			if !r.anyBefore(x.st.e) && !r.timerCut() {
				r.failf("StartTLS returned ErrClosed with nothing closing before it")
			}
		default:
			r.failf("StartTLS = %v, want nil or ErrClosed", err)
		}
	}
	switched := x.called && x.st.err == nil
	// A graceful close after output went over TLS ends with a
	// close_notify. (A LoseConnection with nothing for TLS closes under
	// the handshake, by design, see tls.go's handshakeTLS: the peer's
	// handshake may be done by then, and the stream ends with none.)
	overTLS := false
	for i := range order {
		overTLS = overTLS || tlsAt >= 0 && offs[i] >= tlsAt
	}
	// Not in a finalStalled run either: its peer stops reading at the
	// end, so a close_notify still to be written when it stops is never
	// taken (crypto/tls gives it up after 5 s; seed 781026548920 on
	// tls-pipe, a close begun by the other goroutine).
	if x.noCloseNotify && overTLS && !r.has(causeAbort) && !r.has(causeSlow) && !r.peerEarly && !r.timerCut() && r.cfg.final != finalStalled {
		r.failf("the server closed the TLS stream gracefully (no Abort, no slow consumer, the peer read on) after output over TLS, without a close_notify")
	}
	if !switched && (tlsAt >= 0 || peerTLS != nil) {
		r.failf("the peer read TLS, but StartTLS was not called or failed (%v)", x.st.err)
	}
	for i, wr := range order {
		inTLS := tlsAt >= 0 && offs[i] >= tlsAt
		wr.inTLS = inTLS
		switch {
		case tlsAt >= 0 && offs[i] < tlsAt && offs[i]+wr.n > tlsAt:
			r.failf("record %d/%d cut by the switch to TLS", wr.w, wr.seq)
		case wr.w == propMarkerW && inTLS:
			r.failf("the marker arrived over TLS")
		case switched && wr.e < x.st.s && inTLS:
			r.failf("record %d/%d returned (at %d) before StartTLS began (%d), but arrived over TLS", wr.w, wr.seq, wr.e, x.st.s)
		case switched && wr.s > x.st.e && !inTLS:
			r.failf("record %d/%d began (at %d) after StartTLS returned nil (%d), but arrived in clear text", wr.w, wr.seq, wr.s, x.st.e)
		}
	}
}

// tlsReasonOK reports whether reason, a sentinel the contract's oracle
// does not expect, is explained by the TLS variant: a peer that cut the
// stream (during the handshake, or after it).
func (r *propRun) tlsReasonOK(reason error) bool {
	if r.tls == nil || !r.peerEarly && !r.tls.rawClose {
		return false
	}
	return errors.Is(reason, weft.ErrTLSTruncated) || errors.Is(reason, weft.ErrHandshakeFailed)
}

// checkTLSCut: a peer that cut the TLS stream (closed its socket without
// a close_notify, after its handshake), when nothing else closed the
// connection, leaves a reason, not nil. (A LoseConnection after the cut
// but before the server read it closes with nil: the server's reader had
// not seen the cut yet.)
func (r *propRun) checkTLSCut(causes []cause) {
	if r.tls == nil || !r.tls.cut || r.lostWhy != nil {
		return
	}
	for _, c := range causes {
		if c.kind != causePeerClose {
			return
		}
	}
	r.failf("the peer cut the TLS stream (no close_notify), nothing else closed, ConnectionLost(nil), want ErrTLSTruncated or a network error")
}

func (r *propRun) countTLS(stats map[string]int) {
	x := r.tls
	if x == nil {
		return
	}
	stats["StartTLS from "+tlsHowNames[x.how]]++
	switch {
	case !x.called:
	case x.st.err == nil:
		stats["StartTLS nil"]++
	default:
		stats["StartTLS ErrClosed"]++
	}
	if x.peerTLS != nil {
		stats["TLS up"]++
	}
	if x.cut {
		stats["peer cut TLS"]++
	}
	if x.tlsAt >= 0 {
		for _, a := range r.allActors() {
			for _, w := range a.log {
				if w.inTLS {
					stats["records over TLS"]++
				}
			}
		}
	}
	if errors.Is(r.lostWhy, weft.ErrTLSTruncated) {
		stats["reason ErrTLSTruncated"]++
	}
	if errors.Is(r.lostWhy, weft.ErrHandshakeFailed) {
		stats["reason ErrHandshakeFailed"]++
	}
}

// TestPropertyStartTLSFramesOut: frames written with WriteParts before a
// StartTLS go out in clear text and are counted in Counters.FramesOut,
// like every frame handed to the socket — also when nothing is written
// after the switch (found by TestPropertyContract/tls-epoll, seed 33):
// the connection closes right after the clear text (a LoseConnection with
// nothing for TLS), or after the handshake.
func TestPropertyStartTLSFramesOut(t *testing.T) {
	srv, cli := testenv.TLSConfigs(t)
	for _, tr := range tcpAndEngine {
		for _, handshake := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/handshake=%v", tr.name, handshake), func(t *testing.T) {
				s, c := tr.pair(t)
				var cnt weft.Counters
				r := newRecorder(t)
				r.onMade = func(tp weft.Transport) {
					if err := weft.WriteParts(tp, []byte("he"), []byte("ll"), []byte("o")); err != nil {
						t.Errorf("WriteParts = %v", err)
					}
					if err := tp.StartTLS(srv); err != nil {
						t.Errorf("StartTLS = %v", err)
					}
					if !handshake {
						tp.LoseConnection()
					}
				}
				r.onData = func(tp weft.Transport, d []byte) { tp.LoseConnection() } // over TLS
				done := serve(s, r, withEngine(s, &weft.Options{Counters: &cnt}))
				c.SetDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 5)
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
					t.Fatalf("clear text %q, %v", buf, err)
				}
				if handshake {
					tc := tls.Client(c, cli)
					if _, err := tc.Write([]byte("x")); err != nil {
						t.Fatalf("over TLS: %v", err)
					}
					if n, err := tc.Read(buf); err != io.EOF {
						t.Fatalf("over TLS: read %d, %v; want the end", n, err)
					}
				}
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("Serve = %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Serve did not return")
				}
				if got := cnt.FramesOut.Load(); got != 1 {
					t.Errorf("Counters.FramesOut = %d after one WriteParts sent in clear text, want 1", got)
				}
				if got := cnt.BytesOut.Load(); got < 5 {
					t.Errorf("Counters.BytesOut = %d, want at least 5", got)
				}
			})
		}
	}
}
