package process

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// queued reports whether a function waits in pr's serializer queue.
func (pr *Process) queued() bool {
	pr.ser.mu.Lock()
	defer pr.ser.mu.Unlock()
	return len(pr.ser.q) > 0
}

// TestReviewStreamEndHeldWhilePaused: the end of ReadFD that the reader
// has already read when the Protocol pauses (from a callback that runs
// before the end is delivered) waits for ResumeReading, as data does and as
// over a socket: ReadConnectionLost does not come while reading is paused.
// The child writes to stderr, then waits for a line; OtherData sends it,
// the child closes its stdout, OtherData waits until the stdout reader has
// queued the end, then pauses; a Post from the test resumes. (The child
// used to close its stdout first, and under load the end could be queued,
// and delivered, before the stderr data: "the stdout reader queued nothing
// within 10s".)
func TestReviewStreamEndHeldWhilePaused(t *testing.T) {
	var paused atomic.Bool
	p := &halfProto{t: t}
	var rlostPaused bool
	p.onRLost = func(tr weft.Transport) {
		rlostPaused = paused.Load()
		tr.LoseConnection() // the child's read ends: it exits
	}
	pausedCh := make(chan weft.Transport, 1)
	s := NewStream(p)
	s.OtherData = func(fd int, data []byte) {
		pr := s.t.(*Process)
		p.tr.Write([]byte("go\n")) // the child closes its stdout now
		deadline := time.Now().Add(10 * time.Second)
		for !pr.queued() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if !pr.queued() {
			t.Errorf("the stdout reader queued nothing within 10s")
		}
		paused.Store(true)
		p.tr.PauseReading()
		pausedCh <- p.tr
	}
	pr, err := Start(context.Background(), exec.Command(lookPath(t, "sh"), "-c", `echo x >&2; read go; exec >&-; read line; exit 0`), s, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	select {
	case tr := <-pausedCh:
		tr.(weft.Poster).Post(func() {
			paused.Store(false)
			tr.ResumeReading()
		})
	case <-time.After(30 * time.Second):
		_ = pr.Kill()
		t.Fatal("no stderr data within 30s")
	}
	if err := waitBounded(t, pr); err != nil {
		t.Errorf("Wait = %v", err)
	}
	if want := []string{"made", "readLost", "lost"}; !slices.Equal(p.events, want) || p.reason != nil {
		t.Errorf("events %q, ConnectionLost(%v); want %q, nil", p.events, p.reason, want)
	}
	if rlostPaused {
		t.Errorf("ReadConnectionLost came while reading was paused")
	}
}

// TestReviewStreamCodecStdoutClosedEarly documents what a codec handler
// sees over a child that closes its stdout early but goes on reading stdin
// (and writing stderr). A handler that is not weft.HalfCloseable gets the
// adapter's LoseConnection at stdout's end: what it sent before is still
// written (the child reads it), what it sends after is weft.ErrClosed, and
// the child reads end of file. A handler that implements ReadConnectionLost
// (even one that does nothing) keeps stdin open. "two" is sent once the
// child answered "one" on stderr and the adapter heard of stdout's end.
func TestReviewStreamCodecStdoutClosedEarly(t *testing.T) {
	sh := lookPath(t, "sh")
	script := `echo ready; exec >&-; while read l; do echo "got $l" >&2; done; echo eof >&2`
	for _, tc := range []struct {
		name       string
		half       bool
		wantStderr string
		wantErr    bool
	}{
		{"not halfcloseable", false, "got one\neof\n", true},
		{"halfcloseable", true, "got one\ngot two\neof\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &earlyHandler{t: t}
			var handler codec.FrameHandler = h
			if tc.half {
				handler = &earlyHalfHandler{h}
			}
			var stderr strings.Builder
			spy := &endSpy{Protocol: codec.NewProtocol(codec.Line{Delimiter: []byte("\n")}, handler)}
			maybeTwo := func() {
				if spy.ended && strings.HasPrefix(stderr.String(), "got one\n") && !h.sentTwo {
					h.sentTwo = true
					h.errTwo = h.tr.SendFrame([]byte("two"))
					if tc.half {
						h.tr.LoseConnection()
					}
				}
			}
			spy.onEnd = maybeTwo
			s := NewStream(spy)
			s.OtherData = func(fd int, data []byte) {
				stderr.Write(data)
				maybeTwo()
			}
			runStream(t, s, exec.Command(sh, "-c", script))
			if stderr.String() != tc.wantStderr {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.wantStderr)
			}
			if gotErr := errors.Is(h.errTwo, weft.ErrClosed); gotErr != tc.wantErr || !h.sentTwo {
				t.Errorf("SendFrame after stdout's end = %v (sent: %v); want weft.ErrClosed: %v", h.errTwo, h.sentTwo, tc.wantErr)
			}
			if h.reason != nil || !slices.Equal(h.frames, []string{"ready"}) {
				t.Errorf("frames %q, ConnectionLost(%v); want [ready], nil", h.frames, h.reason)
			}
		})
	}
}

// endSpy passes a weft.HalfCloseable Protocol's ReadConnectionLost on, and
// then calls onEnd.
type endSpy struct {
	weft.Protocol
	ended bool
	onEnd func()
}

func (s *endSpy) ReadConnectionLost() {
	s.Protocol.(weft.HalfCloseable).ReadConnectionLost()
	s.ended = true
	s.onEnd()
}

// earlyHandler sends "one" on the child's "ready".
type earlyHandler struct {
	t       *testing.T
	tr      codec.FrameTransport
	frames  []string
	sentTwo bool
	errTwo  error
	reason  error
}

func (h *earlyHandler) ConnectionMade(tr codec.FrameTransport) { h.tr = tr }
func (h *earlyHandler) FrameReceived(f []byte) {
	h.frames = append(h.frames, string(f))
	if string(f) == "ready" {
		if err := h.tr.SendFrame([]byte("one")); err != nil {
			h.t.Errorf("SendFrame(one): %v", err)
		}
	}
}
func (h *earlyHandler) ConnectionLost(reason error) { h.reason = reason }

// earlyHalfHandler is earlyHandler with a ReadConnectionLost that does
// nothing.
type earlyHalfHandler struct{ *earlyHandler }

func (earlyHalfHandler) ReadConnectionLost() {}

// TestReviewStreamAbortRace: Abort from another goroutine at any point of
// a child's life (before, during or after the end of its stdout) keeps the
// contract: callbacks never concurrent (halfProto checks), made first,
// ConnectionLost last and once, ReadConnectionLost at most once and never
// after it, and ConnectionLost(ErrAborted) whenever ReadConnectionLost did
// not come first.
func TestReviewStreamAbortRace(t *testing.T) {
	sh := lookPath(t, "sh")
	for i := range 40 {
		p := &halfProto{t: t}
		made := make(chan weft.Transport, 1)
		p.onMade = func(tr weft.Transport) { made <- tr }
		pr, err := Start(context.Background(), exec.Command(sh, "-c", `echo hi; exec >&-; read l; exit 0`), NewStream(p), nil)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		tr := <-made
		go func() {
			for range i % 8 {
				time.Sleep(100 * time.Microsecond)
			}
			tr.Abort()
		}()
		_ = waitBounded(t, pr)
		ev := p.events
		if ev[0] != "made" || ev[len(ev)-1] != "lost" || slices.Index(ev, "lost") != len(ev)-1 {
			t.Fatalf("run %d: events %q", i, ev)
		}
		n := 0
		for _, e := range ev {
			if e == "readLost" {
				n++
			}
		}
		if n > 1 {
			t.Fatalf("run %d: events %q: ReadConnectionLost %d times", i, ev, n)
		}
		if !errors.Is(p.reason, weft.ErrAborted) {
			t.Fatalf("run %d: events %q, ConnectionLost(%v), want weft.ErrAborted", i, ev, p.reason)
		}
	}
}

// TestReviewStreamPausedAbort: a Protocol that paused and never resumes is
// ended by Abort (the end held for ResumeReading is given up), and hears
// no ReadConnectionLost.
func TestReviewStreamPausedAbort(t *testing.T) {
	p := &halfProto{t: t}
	made := make(chan weft.Transport, 1)
	p.onMade = func(tr weft.Transport) {
		tr.PauseReading()
		made <- tr
	}
	pr, err := Start(context.Background(), exec.Command(lookPath(t, "sh"), "-c", `echo hi`), NewStream(p), nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	tr := <-made
	select {
	case <-pr.Done():
		t.Fatalf("ended while paused: events %q", p.events)
	case <-time.After(100 * time.Millisecond):
	}
	tr.Abort()
	_ = waitBounded(t, pr)
	if want := []string{"made", "lost"}; !slices.Equal(p.events, want) || !errors.Is(p.reason, weft.ErrAborted) {
		t.Errorf("events %q, ConnectionLost(%v); want %q, weft.ErrAborted", p.events, p.reason, want)
	}
}

// TestReviewStreamExtraFDs: a Stream over extra descriptors (ReadFD 3,
// WriteFD 4, ChildFDs without stdin and stdout) passes the check, reads
// fd 3, and LoseWriteConnection ends fd 4 for the child; ReadConnectionLost
// comes for fd 3 and not for the others.
func TestReviewStreamExtraFDs(t *testing.T) {
	p := &halfProto{t: t}
	p.onMade = func(tr weft.Transport) {
		if _, err := tr.Write([]byte("b\na\n")); err != nil {
			t.Errorf("Write: %v", err)
		}
		if err := weft.LoseWriteConnection(tr); err != nil {
			t.Errorf("LoseWriteConnection: %v", err)
		}
	}
	s := &Stream{Protocol: p, ReadFD: 3, WriteFD: 4}
	var other strings.Builder
	s.OtherData = func(fd int, data []byte) { other.Write(data) }
	opts := &Options{ChildFDs: map[int]Direction{2: Read, 3: Read, 4: Write}}
	pr, err := Start(context.Background(), exec.Command(lookPath(t, "sh"), "-c", `sort <&4 >&3; echo done >&2`), s, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := waitBounded(t, pr); err != nil {
		t.Errorf("Wait = %v", err)
	}
	if want := []string{"made", "data", "readLost", "lost"}; !slices.Equal(p.events, want) || p.reason != nil {
		t.Errorf("events %q, ConnectionLost(%v); want %q, nil", p.events, p.reason, want)
	}
	if p.data.String() != "a\nb\n" || other.String() != "done\n" {
		t.Errorf("fd 3 %q, fd 2 %q; want \"a\\nb\\n\", \"done\\n\"", p.data.String(), other.String())
	}
}

// TestReviewStreamReuseAfterFailedStart: a Stream whose Start failed (the
// program does not exist) ran no child and may be used again.
func TestReviewStreamReuseAfterFailedStart(t *testing.T) {
	p := &halfProto{t: t}
	s := NewStream(p)
	if _, err := Start(context.Background(), exec.Command("/nonexistent/program"), s, nil); err == nil {
		t.Fatal("Start of a missing program succeeded")
	}
	runStream(t, s, exec.Command(lookPath(t, "sh"), "-c", "echo hi"))
	if want := []string{"made", "data", "readLost", "lost"}; !slices.Equal(p.events, want) || p.reason != nil {
		t.Errorf("events %q, ConnectionLost(%v); want %q, nil", p.events, p.reason, want)
	}
}

// TestReviewStreamPostAroundEnd: work posted from ReadConnectionLost while
// the child runs comes before ConnectionLost; work posted from
// ConnectionLost, or after it, is dropped.
func TestReviewStreamPostAroundEnd(t *testing.T) {
	p := &halfProto{t: t}
	p.onRLost = func(tr weft.Transport) {
		tr.(weft.Poster).Post(func() {
			p.events = append(p.events, "posted")
			tr.LoseConnection() // the child's read ends: it exits
		})
	}
	made := make(chan weft.Transport, 1)
	p.onMade = func(tr weft.Transport) { made <- tr }
	pr, err := Start(context.Background(), exec.Command(lookPath(t, "sh"), "-c", `exec >&-; read l; exit 0`), NewStream(p), nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	tr := <-made
	_ = waitBounded(t, pr)
	var ran atomic.Bool
	tr.(weft.Poster).Post(func() { ran.Store(true) })
	pr.ser.waitIdle() // Post marked the queue running: this waits for fn
	if ran.Load() {
		t.Errorf("work posted after ConnectionLost ran")
	}
	if want := []string{"made", "readLost", "posted", "lost"}; !slices.Equal(p.events, want) || p.reason != nil {
		t.Errorf("events %q, ConnectionLost(%v); want %q, nil", p.events, p.reason, want)
	}
}

// TestReviewStreamWaitDelayCut: a grandchild holds stdout past the child's
// exit; Options.WaitDelay cuts it: ReadConnectionLost, then ConnectionLost
// with a status matching exec.ErrWaitDelay; the output written before is
// delivered.
func TestReviewStreamWaitDelayCut(t *testing.T) {
	p := &halfProto{t: t}
	pr, err := Start(context.Background(), exec.Command(lookPath(t, "sh"), "-c", `echo hi; sleep 2 & exit 0`), NewStream(p), &Options{WaitDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	_ = waitBounded(t, pr)
	if want := []string{"made", "data", "readLost", "lost"}; !slices.Equal(p.events, want) || !errors.Is(p.reason, exec.ErrWaitDelay) {
		t.Errorf("events %q, ConnectionLost(%v); want %q, exec.ErrWaitDelay", p.events, p.reason, want)
	}
	if p.data.String() != "hi\n" {
		t.Errorf("data %q, want \"hi\\n\"", p.data.String())
	}
}

// TestReviewStreamCodecTruncatedEnd: a codec handler over a child whose
// stdout ends inside a line gets the lines before it and ErrTruncated,
// HalfCloseable or not; a HalfCloseable one is not told of the end.
func TestReviewStreamCodecTruncatedEnd(t *testing.T) {
	for _, half := range []bool{false, true} {
		h := &earlyHandler{t: t}
		var handler codec.FrameHandler = h
		rlost := false
		if half {
			handler = &truncHalfHandler{h, &rlost}
		}
		runStream(t, NewStream(codec.NewProtocol(codec.Line{}, handler)), exec.Command(lookPath(t, "sh"), "-c", `printf 'a\nb'`))
		if !slices.Equal(h.frames, []string{"a"}) || !errors.Is(h.reason, codec.ErrTruncated) || rlost {
			t.Errorf("half %v: frames %q, ConnectionLost(%v), ReadConnectionLost %v; want [a], codec.ErrTruncated, false", half, h.frames, h.reason, rlost)
		}
	}
}

// truncHalfHandler records ReadConnectionLost.
type truncHalfHandler struct {
	*earlyHandler
	rlost *bool
}

func (h truncHalfHandler) ReadConnectionLost() { *h.rlost = true }
