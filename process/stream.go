package process

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/weftkit/weft"
)

// Stream is a ProcessProtocol that runs a weft.Protocol over a child, as if
// the child were a connection: DataReceived gets what the child writes to
// ReadFD (stdout by default), the weft.Transport writes to WriteFD (stdin by
// default), and ConnectionLost comes once the child has ended, with nil for
// exit status 0 (ErrProcessDone: no output cut by Options.WaitDelay either)
// and the status (a *ProcessTerminated) otherwise. Any
// weft.Protocol works, a codec's framed protocol included: a child's output
// lines become frames.
//
// The weft.Transport maps as follows: Write and WriteBuffers queue for
// WriteFD (once it is closing or closed they return an error matching both
// weft.ErrClosed and ErrClosed); LoseConnection closes WriteFD after its
// queued data is written (the child sees end of file; reading goes on, and
// ConnectionLost follows when the child ends); LoseConnectionWithReason (it
// is a weft.ReasonCloser) does the same, and ConnectionLost then gets its
// reason, matched together with the exit status when that is not 0;
// LoseWriteConnection (it is a
// weft.HalfCloser, so weft.LoseWriteConnection works on it) does the same
// as LoseConnection, since a Stream's output and input end separately
// anyway, and differs only in its result: weft.ErrClosed if WriteFD was
// already closing or closed, never weft.ErrNotSupported; Abort
// kills the child and closes every descriptor (the reason then matches
// weft.ErrAborted and, unless the child had already exited with status 0,
// ErrProcessTerminated); PauseReading, ResumeReading,
// RegisterProducer and Buffered (both for WriteFD) act on the process;
// Context is done when ConnectionLost is called (as the runtime's), or when
// the process's is; RemoteAddr is the child's Addr, LocalAddr this process's; StartTLS returns
// weft.ErrNotSupported. It also has the runtime's Post (see
// weft.GateTransport), and ResumeReading restarts reading through it: a
// framed protocol that resumes from another goroutine gets the frames it
// holds before anything the child writes later, or its end.
//
// A Protocol that implements weft.HalfCloseable gets ReadConnectionLost
// when ReadFD's output ends (ChildConnectionLost for ReadFD: at end of file,
// or when Options.WaitDelay cuts it), after its last DataReceived and
// serialized with its other callbacks (like data, an end read while
// reading is paused waits for ResumeReading), while the child may still
// run and read what the Protocol writes; ConnectionLost still comes once
// the child has ended. Unlike a socket connection's, it comes even after
// LoseConnection or LoseWriteConnection (both directions ending does not end
// the child), but not after Abort. Without the method, ReadFD's end changes
// nothing. The codec package's adapters have it: their handler is told if
// it is a weft.HalfCloseable, and otherwise the adapter calls
// LoseConnection, as over a socket, closing WriteFD at the end of the
// child's output (a handler whose child closes its output early but still
// reads its input keeps WriteFD open with a ReadConnectionLost method, one
// that does nothing will do).
//
// A Stream must not be copied after first use, and runs one child: Start
// refuses a Stream that has run one.
type Stream struct {
	// Protocol receives the child's output; it must not be nil (Start
	// returns an error wrapping ErrInvalidOptions then).
	Protocol weft.Protocol
	// ReadFD is the descriptor whose data goes to DataReceived. Zero means
	// 1, stdout. Start refuses one out of [0, MaxChildFD] or that
	// Options.ChildFDs makes a Write descriptor.
	ReadFD int
	// WriteFD is the descriptor the Transport writes to. Zero means 0, stdin.
	// Start refuses one out of [0, MaxChildFD] or that Options.ChildFDs
	// makes a Read descriptor.
	WriteFD int
	// OtherData, if set, receives the data of every other descriptor (stderr,
	// extra descriptors). Nil means it is discarded.
	OtherData func(fd int, data []byte)

	t Transport
	// aborted is set by Abort at once, from whatever goroutine: an end of
	// ReadFD already read and waiting to be delivered when Abort is called
	// (from a callback, say) must not reach ReadConnectionLost after it.
	aborted atomic.Bool
	lost    bool // ConnectionLost was called: posted work is dropped

	// ctx is the Protocol's Context, made on first use (guarded by mu):
	// the process's, done once ProcessEnded returned, and cancelled before
	// ConnectionLost, as the runtime's is.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	resume uint64 // PauseReading and ResumeReading calls so far
	reason error  // the first LoseConnectionWithReason's reason
}

// isBadStream reports whether p is a nil *Stream or a Stream without a
// Protocol, which Start refuses.
func isBadStream(p ProcessProtocol) bool {
	s, ok := p.(*Stream)
	return ok && (s == nil || s.Protocol == nil)
}

// check reports what makes s unusable with the descriptors fds (Start).
func (s *Stream) check(fds map[int]Direction) error {
	for _, f := range []struct {
		name string
		fd   int
		want Direction
	}{{"ReadFD", s.ReadFD, Read}, {"WriteFD", s.WriteFD, Write}} {
		if f.fd < 0 || f.fd > MaxChildFD {
			return invalid("Stream.%s %d out of range [0, %d]", f.name, f.fd, MaxChildFD)
		}
		fd := f.fd
		if f.name == "ReadFD" {
			fd = s.readFD()
		}
		if d, ok := fds[fd]; ok && d != f.want {
			return invalid("Stream.%s %d is a %v descriptor in Options.ChildFDs", f.name, fd, d)
		}
	}
	if s.t != nil {
		return invalid("Stream already ran a child: use a new Stream for each")
	}
	return nil
}

// NewStream returns a Stream that runs p over a child's stdin and stdout.
func NewStream(p weft.Protocol) *Stream { return &Stream{Protocol: p} }

func (s *Stream) readFD() int {
	if s.ReadFD == 0 {
		return 1
	}
	return s.ReadFD
}

// ConnectionMade calls the Protocol's ConnectionMade with a weft.Transport
// over t.
func (s *Stream) ConnectionMade(t Transport) {
	s.t = t
	s.Protocol.ConnectionMade(streamTransport{s})
}

// ChildDataReceived passes ReadFD's data to DataReceived and the rest to
// OtherData.
func (s *Stream) ChildDataReceived(fd int, data []byte) {
	if fd == s.readFD() {
		s.Protocol.DataReceived(data)
	} else if s.OtherData != nil {
		s.OtherData(fd, data)
	}
}

// ChildConnectionLost calls ReadConnectionLost for ReadFD if the Protocol is
// a weft.HalfCloseable (not after Abort); otherwise it does nothing:
// ConnectionLost waits for the child's end.
func (s *Stream) ChildConnectionLost(fd int) {
	if fd != s.readFD() || s.aborted.Load() {
		return
	}
	if hc, ok := s.Protocol.(weft.HalfCloseable); ok {
		hc.ReadConnectionLost()
	}
}

// ProcessExited does nothing: ConnectionLost waits for all output.
func (s *Stream) ProcessExited(error) {}

// ProcessEnded calls ConnectionLost: nil for ErrProcessDone, otherwise the
// status (wrapped with weft.ErrAborted after Abort).
func (s *Stream) ProcessEnded(status error) {
	var reason error
	switch {
	case s.aborted.Load():
		reason = fmt.Errorf("%w: %w", weft.ErrAborted, status)
	case !errors.Is(status, ErrProcessDone):
		reason = status
	}
	s.mu.Lock()
	if given := s.reason; given != nil {
		if reason == nil {
			reason = given
		} else {
			reason = fmt.Errorf("%w; then %w", given, reason)
		}
	}
	s.lost = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel() // the connection is lost: done before ConnectionLost, as the runtime's
	}
	s.Protocol.ConnectionLost(reason)
}

// context returns the Protocol's Context (see Stream.ctx).
func (s *Stream) context() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		s.ctx, s.cancel = context.WithCancel(s.t.Context())
		if s.lost {
			s.cancel()
		}
	}
	return s.ctx
}

// Addr is the net.Addr of a process: network "process", address "pid N".
type Addr struct {
	Pid int // the process ID
}

// Network returns "process".
func (Addr) Network() string { return "process" }

// String returns "pid N".
func (a Addr) String() string { return fmt.Sprintf("pid %d", a.Pid) }

// streamTransport is the weft.Transport a Stream gives its Protocol.
type streamTransport struct{ s *Stream }

var (
	_ weft.Transport    = streamTransport{}
	_ weft.HalfCloser   = streamTransport{}
	_ weft.ReasonCloser = streamTransport{}
)

// closedErr makes an ErrClosed of the process's match weft.ErrClosed too,
// as the runtime's Transport returns it.
func closedErr(err error) error {
	if errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", weft.ErrClosed, err)
	}
	return err
}

func (st streamTransport) Write(p []byte) (int, error) {
	if err := st.s.t.WriteToChild(st.s.WriteFD, p); err != nil {
		return 0, closedErr(err)
	}
	return len(p), nil
}

func (st streamTransport) WriteBuffers(bufs ...[]byte) error {
	return closedErr(st.s.t.WriteToChild(st.s.WriteFD, slices.Concat(bufs...)))
}

func (st streamTransport) LoseConnection() { _ = st.s.t.CloseChildFD(st.s.WriteFD) }

// LoseConnectionWithReason implements weft.ReasonCloser: LoseConnection,
// and ConnectionLost, still at the child's end, gets reason instead of nil
// when the child exits with status 0, and an error matching both reason and
// the status otherwise (after Abort: weft.ErrAborted too). The first
// reason given is kept; one given once ConnectionLost was called is
// ignored.
func (st streamTransport) LoseConnectionWithReason(reason error) {
	st.s.mu.Lock()
	if st.s.reason == nil && !st.s.lost {
		st.s.reason = reason
	}
	st.s.mu.Unlock()
	st.LoseConnection()
}

// LoseWriteConnection implements weft.HalfCloser: it closes WriteFD after
// its queued data is written, as LoseConnection does, and returns an error
// matching weft.ErrClosed if WriteFD was already closing or closed (an
// error matching ErrBadFD if the parent does not write it).
func (st streamTransport) LoseWriteConnection() error {
	if pr, ok := st.s.t.(*Process); ok {
		return closedErr(pr.closeWriter(st.s.WriteFD))
	}
	return st.s.t.CloseChildFD(st.s.WriteFD)
}

func (st streamTransport) Abort() {
	st.s.aborted.Store(true)
	_ = st.s.t.Kill()
	st.s.t.LoseConnection()
}

func (st streamTransport) LocalAddr() net.Addr  { return Addr{Pid: os.Getpid()} }
func (st streamTransport) RemoteAddr() net.Addr { return Addr{Pid: st.s.t.Pid()} }

// PauseReading pauses the process at once, and cancels a ResumeReading not
// yet carried out.
func (st streamTransport) PauseReading() {
	st.s.mu.Lock()
	st.s.resume++
	st.s.mu.Unlock()
	st.s.t.PauseReading()
}

// ResumeReading resumes the process through Post, so that work the Protocol
// posts right after it (a codec delivering the frames it buffered while
// paused) runs before the child's next data or end of file is delivered.
func (st streamTransport) ResumeReading() {
	st.s.mu.Lock()
	st.s.resume++
	n := st.s.resume
	st.s.mu.Unlock()
	st.s.t.Post(func() {
		st.s.mu.Lock()
		last := st.s.resume == n
		st.s.mu.Unlock()
		if !last {
			return
		}
		st.s.t.ResumeReading()
		// A PauseReading from another goroutine may have come between
		// the check and the call (after the ResumeReading that posted
		// this): it must win. (After a later ResumeReading instead, the
		// function that one posted resumes again.)
		st.s.mu.Lock()
		last = st.s.resume == n
		st.s.mu.Unlock()
		if !last {
			st.s.t.PauseReading()
		}
	})
}

// Post runs fn serialized with the Protocol's callbacks (Transport.Post);
// like the runtime's Post (weft.Conn.Post), fn never runs after
// ConnectionLost: work still waiting when ConnectionLost is called is
// dropped then, and work posted from then on (from ConnectionLost itself,
// from another goroutine while it runs, or later) is dropped at once.
func (st streamTransport) Post(fn func()) {
	if fn == nil {
		return
	}
	if pr, ok := st.s.t.(*Process); ok {
		// ConnectionLost runs inside ProcessEnded, after which the
		// Process drops posted work itself, keeping no reference to it.
		pr.Post(fn)
		return
	}
	st.s.t.Post(func() {
		if !st.s.lost {
			fn()
		}
	})
}

func (st streamTransport) RegisterProducer(p weft.Producer) { st.s.t.RegisterProducer(p) }
func (st streamTransport) UnregisterProducer()              { st.s.t.UnregisterProducer() }
func (st streamTransport) Buffered() int                    { return st.s.t.Buffered() }

// WriteRoom implements weft.WriteRoomer (WriteFD).
func (st streamTransport) WriteRoom() int {
	if r, ok := st.s.t.(weft.WriteRoomer); ok {
		return r.WriteRoom()
	}
	return math.MaxInt
}

func (st streamTransport) Context() context.Context   { return st.s.context() }
func (st streamTransport) StartTLS(*tls.Config) error { return weft.ErrNotSupported }
