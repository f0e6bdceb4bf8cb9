package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
	"sync"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// lineProtocol is a weft.Protocol that splits its input into lines with a
// bufio.SplitFunc — the way a codec's framing plugs into a child's output.
type lineProtocol struct {
	split  bufio.SplitFunc
	buf    []byte
	lines  []string
	reason error
	lost   int
	t      weft.Transport
	onMade func(t weft.Transport)
	onLine func(t weft.Transport, line string)
}

func (p *lineProtocol) ConnectionMade(t weft.Transport) {
	p.t = t
	if p.onMade != nil {
		p.onMade(t)
	}
}

func (p *lineProtocol) DataReceived(data []byte) {
	p.buf = append(p.buf, data...)
	p.scan(false)
}

func (p *lineProtocol) scan(atEOF bool) {
	start := 0
	for start < len(p.buf) {
		adv, tok, err := p.split(p.buf[start:], atEOF)
		if err != nil || adv == 0 {
			break
		}
		start += adv
		if tok != nil {
			p.lines = append(p.lines, string(tok))
			if p.onLine != nil {
				p.onLine(p.t, string(tok))
			}
		}
	}
	p.buf = append(p.buf[:0], p.buf[start:]...)
}

func (p *lineProtocol) ConnectionLost(reason error) {
	p.scan(true)
	p.reason = reason
	p.lost++
}

func runStream(t *testing.T, s *Stream, cmd *exec.Cmd) {
	t.Helper()
	p, err := Start(context.Background(), cmd, s, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	_ = waitBounded(t, p)
}

func TestStreamLines(t *testing.T) {
	lp := &lineProtocol{split: bufio.ScanLines}
	var stderr bytes.Buffer
	s := NewStream(lp)
	s.OtherData = func(fd int, data []byte) {
		if fd == 2 {
			stderr.Write(data)
		}
	}
	runStream(t, s, exec.Command(lookPath(t, "sh"), "-c", `printf 'one\ntwo\r\n'; printf oops >&2; printf three`))
	if want := []string{"one", "two", "three"}; !slices.Equal(lp.lines, want) {
		t.Errorf("lines %q, want %q", lp.lines, want)
	}
	if lp.reason != nil || lp.lost != 1 {
		t.Errorf("ConnectionLost(%v) called %d times, want nil once", lp.reason, lp.lost)
	}
	if stderr.String() != "oops" {
		t.Errorf("OtherData got %q", stderr.String())
	}
}

// A conversation with cat through the weft.Transport: what we write comes
// back as lines; LoseConnection closes stdin and the child ends cleanly.
func TestStreamConversation(t *testing.T) {
	lp := &lineProtocol{split: bufio.ScanLines}
	lp.onMade = func(tr weft.Transport) {
		if tr.RemoteAddr().Network() != "process" || tr.LocalAddr().Network() != "process" {
			t.Errorf("addresses %v, %v", tr.LocalAddr(), tr.RemoteAddr())
		}
		if err := tr.StartTLS(nil); !errors.Is(err, weft.ErrNotSupported) {
			t.Errorf("StartTLS = %v, want weft.ErrNotSupported", err)
		}
		if _, err := tr.Write([]byte("ping\n")); err != nil {
			t.Errorf("Write: %v", err)
		}
	}
	lp.onLine = func(tr weft.Transport, line string) {
		switch line {
		case "ping":
			if err := tr.WriteBuffers([]byte("b"), []byte("ye"), []byte("\n")); err != nil {
				t.Errorf("WriteBuffers: %v", err)
			}
		case "bye":
			tr.LoseConnection()
		}
	}
	runStream(t, NewStream(lp), exec.Command(lookPath(t, "cat")))
	if want := []string{"ping", "bye"}; !slices.Equal(lp.lines, want) {
		t.Errorf("lines %q, want %q", lp.lines, want)
	}
	if lp.reason != nil {
		t.Errorf("ConnectionLost(%v), want nil", lp.reason)
	}
}

func TestStreamExitStatusAndAbort(t *testing.T) {
	lp := &lineProtocol{split: bufio.ScanLines}
	runStream(t, NewStream(lp), exec.Command(lookPath(t, "sh"), "-c", "echo x; exit 2"))
	if code, _ := ExitStatus(lp.reason); code != 2 || !slices.Equal(lp.lines, []string{"x"}) {
		t.Errorf("lines %q, ConnectionLost(%v); want x and exit status 2", lp.lines, lp.reason)
	}

	lp = &lineProtocol{split: bufio.ScanLines, onMade: func(tr weft.Transport) { tr.Abort() }}
	runStream(t, NewStream(lp), exec.Command(lookPath(t, "sleep"), "60"))
	if !errors.Is(lp.reason, weft.ErrAborted) || !errors.Is(lp.reason, ErrProcessTerminated) {
		t.Errorf("ConnectionLost(%v) after Abort, want weft.ErrAborted and ErrProcessTerminated", lp.reason)
	}
}

// pump is a push producer writing numbered chunks to stdin, one chunk per
// turn, until total bytes are sent; then it closes stdin.
type pump struct {
	tr                      Transport
	chunk, total, sent      int
	paused, scheduled, done bool
	pauses, resumes, stops  int
	failed                  error
}

func (p *pump) schedule() {
	if !p.scheduled {
		p.scheduled = true
		p.tr.Post(p.step)
	}
}

func (p *pump) step() {
	p.scheduled = false
	if p.paused || p.done {
		return
	}
	if p.sent >= p.total {
		p.done = true
		_ = p.tr.CloseStdin()
		return
	}
	if _, err := p.tr.Write(bytes.Repeat([]byte{byte(p.sent / p.chunk)}, p.chunk)); err != nil {
		p.failed = err
		return
	}
	p.sent += p.chunk
	p.schedule()
}

func (p *pump) PauseProducing()  { p.paused = true; p.pauses++ }
func (p *pump) ResumeProducing() { p.paused = false; p.resumes++; p.schedule() }
func (p *pump) StopProducing()   { p.stops++ }

func TestProducerFlowControl(t *testing.T) {
	const chunk, total = 4 << 10, 4 << 20
	pu := &pump{chunk: chunk, total: total}
	r := newRecorder(t)
	r.onMade = func(tr Transport) {
		pu.tr = tr
		tr.RegisterProducer(pu)
		pu.schedule()
	}
	opts := &Options{HighWater: 1 << 10, LowWater: 512, MaxWriteBuffer: 64 << 10}
	if _, err := run(t, context.Background(), exec.Command(lookPath(t, "cat")), r, opts); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if pu.failed != nil || pu.pauses == 0 || pu.resumes == 0 || pu.stops != 1 {
		t.Errorf("producer: write error %v, %d pauses, %d resumes, %d stops", pu.failed, pu.pauses, pu.resumes, pu.stops)
	}
	var want bytes.Buffer
	for i := 0; i < total/chunk; i++ {
		want.Write(bytes.Repeat([]byte{byte(i)}, chunk))
	}
	if got := r.out(1); got != want.String() {
		t.Errorf("echoed %d bytes, want %d; first difference at %d", len(got), want.Len(), firstDiff(got, want.String()))
	}
	r.checkOrder(0, 1, 2)
}

// resumer is a codec.LineHandler that pauses on its first line and has
// another goroutine resume once the read that carried it has been handled.
type resumer struct {
	r        *codec.LineReceiver
	lines    []string
	paused   bool
	returned chan struct{} // closed after the first DataReceived
	resumed  chan struct{}
	once     sync.Once
}

func (h *resumer) ConnectionMade(r *codec.LineReceiver) { h.r = r }
func (h *resumer) LineReceived(line []byte) {
	h.lines = append(h.lines, string(line))
	if !h.paused {
		h.paused = true
		t := h.r.Transport()
		t.PauseReading()
		go func() {
			<-h.returned
			t.ResumeReading()
			close(h.resumed)
		}()
	}
}
func (h *resumer) ConnectionLost(error) {}

// afterData closes returned when its Protocol's first DataReceived returns.
type afterData struct {
	weft.Protocol
	h *resumer
}

func (a afterData) DataReceived(data []byte) {
	a.Protocol.DataReceived(data)
	a.h.once.Do(func() { close(a.h.returned) })
}

// TestStreamResumeFromGoroutine: a codec protocol over a child pauses on the
// first of three lines that came in one read, and another goroutine resumes
// it; the two lines it held are delivered, not dropped when the child ends.
func TestStreamResumeFromGoroutine(t *testing.T) {
	sh := lookPath(t, "sh")
	h := &resumer{returned: make(chan struct{}), resumed: make(chan struct{})}
	s := NewStream(afterData{codec.NewLineReceiver(h), h})
	runStream(t, s, exec.Command(sh, "-c", `printf 'a\nb\nc\n'`))
	<-h.resumed
	if want := []string{"a", "b", "c"}; !slices.Equal(h.lines, want) {
		t.Errorf("lines %q, want %q", h.lines, want)
	}
}
