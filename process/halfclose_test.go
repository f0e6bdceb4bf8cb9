package process

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// halfProto is a weft.Protocol (HalfCloseable if half is set: see halfOnly)
// that records its events and checks that its callbacks are never
// concurrent.
type halfProto struct {
	t       *testing.T
	inCall  atomic.Int32
	tr      weft.Transport
	events  []string
	data    strings.Builder
	reason  error
	onMade  func(tr weft.Transport)
	onRLost func(tr weft.Transport)
}

func (p *halfProto) enter() {
	if p.inCall.Add(1) != 1 {
		p.t.Errorf("callbacks ran concurrently")
	}
}

func (p *halfProto) ConnectionMade(tr weft.Transport) {
	p.enter()
	defer p.inCall.Add(-1)
	p.tr = tr
	p.events = append(p.events, "made")
	if p.onMade != nil {
		p.onMade(tr)
	}
}

func (p *halfProto) DataReceived(data []byte) {
	p.enter()
	defer p.inCall.Add(-1)
	if n := len(p.events); p.events[n-1] != "data" {
		p.events = append(p.events, "data")
	}
	p.data.Write(data)
}

func (p *halfProto) ReadConnectionLost() {
	p.enter()
	defer p.inCall.Add(-1)
	p.events = append(p.events, "readLost")
	if p.onRLost != nil {
		p.onRLost(p.tr)
	}
}

func (p *halfProto) ConnectionLost(reason error) {
	p.enter()
	defer p.inCall.Add(-1)
	p.events = append(p.events, "lost")
	p.reason = reason
}

// plainProto hides halfProto's ReadConnectionLost: a Protocol that is not
// HalfCloseable.
type plainProto struct{ p *halfProto }

func (w plainProto) ConnectionMade(tr weft.Transport) { w.p.ConnectionMade(tr) }
func (w plainProto) DataReceived(data []byte)         { w.p.DataReceived(data) }
func (w plainProto) ConnectionLost(reason error)      { w.p.ConnectionLost(reason) }

var _ weft.HalfCloseable = (*halfProto)(nil)

// TestStreamLoseWriteConnection: a Protocol writes to wc -c through a
// Stream and half-closes with weft.LoseWriteConnection: wc sees the end of
// its input and the Protocol reads the count; writes after the half-close,
// and a second half-close, are weft.ErrClosed.
func TestStreamLoseWriteConnection(t *testing.T) {
	const payload = "hello, world\n" // 13 bytes
	var lwc, again, late error
	p := &halfProto{t: t}
	p.onMade = func(tr weft.Transport) {
		for range 3 {
			if _, err := tr.Write([]byte(payload)); err != nil {
				t.Errorf("Write: %v", err)
			}
		}
		lwc = weft.LoseWriteConnection(tr)
		again = weft.LoseWriteConnection(tr)
		_, late = tr.Write([]byte("late"))
	}
	runStream(t, NewStream(p), exec.Command(lookPath(t, "wc"), "-c"))
	if lwc != nil {
		t.Fatalf("weft.LoseWriteConnection = %v, want nil", lwc)
	}
	if !errors.Is(again, weft.ErrClosed) {
		t.Errorf("second weft.LoseWriteConnection = %v, want weft.ErrClosed", again)
	}
	if !errors.Is(late, weft.ErrClosed) || !errors.Is(late, ErrClosed) {
		t.Errorf("Write after LoseWriteConnection = %v, want weft.ErrClosed and process.ErrClosed", late)
	}
	if got := strings.TrimSpace(p.data.String()); got != "39" {
		t.Errorf("wc -c answered %q, want 39", got)
	}
	if want := []string{"made", "data", "readLost", "lost"}; !slices.Equal(p.events, want) || p.reason != nil {
		t.Errorf("events %q, ConnectionLost(%v); want %q, nil", p.events, p.reason, want)
	}
}

// TestStreamWriteAfterLoseConnection: LoseConnection ends the output as
// LoseWriteConnection does; later writes, and LoseWriteConnection, are
// weft.ErrClosed.
func TestStreamWriteAfterLoseConnection(t *testing.T) {
	var lwc, late error
	p := &halfProto{t: t}
	p.onMade = func(tr weft.Transport) {
		_, _ = tr.Write([]byte("abc"))
		tr.LoseConnection()
		lwc = weft.LoseWriteConnection(tr)
		_, late = tr.Write([]byte("late"))
	}
	runStream(t, NewStream(p), exec.Command(lookPath(t, "wc"), "-c"))
	if !errors.Is(lwc, weft.ErrClosed) {
		t.Errorf("weft.LoseWriteConnection after LoseConnection = %v, want weft.ErrClosed", lwc)
	}
	if !errors.Is(late, weft.ErrClosed) {
		t.Errorf("Write after LoseConnection = %v, want weft.ErrClosed", late)
	}
	if got := strings.TrimSpace(p.data.String()); got != "3" {
		t.Errorf("wc -c answered %q, want 3", got)
	}
}

// TestStreamReadConnectionLost: a HalfCloseable Protocol hears of the end
// of the child's stdout while the child runs, and goes on writing: the
// child closes its stdout, then reads a line from stdin, which the Protocol
// writes from ReadConnectionLost, reports it on stderr, and reads stdin to
// its end, which LoseWriteConnection makes. ConnectionLost(nil) comes last,
// once the child has ended.
func TestStreamReadConnectionLost(t *testing.T) {
	sh := lookPath(t, "sh")
	var stderr strings.Builder
	var lwc error
	p := &halfProto{t: t}
	p.onRLost = func(tr weft.Transport) {
		if _, err := tr.Write([]byte("bye\n")); err != nil {
			t.Errorf("Write from ReadConnectionLost: %v", err)
		}
		lwc = weft.LoseWriteConnection(tr)
	}
	s := NewStream(p)
	s.OtherData = func(fd int, data []byte) { stderr.Write(data) }
	// The child reads its stdin to the end before it exits: had it exited
	// after the line, the writer could see it gone (and close) before
	// LoseWriteConnection, which then rightly returns ErrClosed (seen once
	// under load).
	runStream(t, s, exec.Command(sh, "-c", `echo hi; exec >&-; read line; echo "got $line" >&2; cat >/dev/null`))
	if want := []string{"made", "data", "readLost", "lost"}; !slices.Equal(p.events, want) || p.reason != nil {
		t.Errorf("events %q, ConnectionLost(%v); want %q, nil", p.events, p.reason, want)
	}
	if lwc != nil {
		t.Errorf("weft.LoseWriteConnection from ReadConnectionLost = %v", lwc)
	}
	if p.data.String() != "hi\n" || stderr.String() != "got bye\n" {
		t.Errorf("stdout %q, stderr %q; want \"hi\\n\", \"got bye\\n\"", p.data.String(), stderr.String())
	}
}

// TestStreamReadConnectionLostBeforeExit: over a child that ends its
// output and goes on running a while (sh -c 'echo hi; exec sleep 0.2',
// stdout closed), ReadConnectionLost comes before ConnectionLost; a
// Protocol that is not HalfCloseable gets only ConnectionLost; one that
// aborts gets no ReadConnectionLost.
func TestStreamReadConnectionLostBeforeExit(t *testing.T) {
	sh := lookPath(t, "sh")
	for _, tc := range []struct {
		name   string
		plain  bool
		abort  bool
		script string
		want   []string
		reason func(error) bool
	}{
		{"halfcloseable", false, false, "echo hi; exec sleep 0.2 >&-", []string{"made", "data", "readLost", "lost"}, isNil},
		{"output to the end", false, false, "echo hi; exec sleep 0.2", []string{"made", "data", "readLost", "lost"}, isNil},
		{"not halfcloseable", true, false, "echo hi; exec sleep 0.2 >&-", []string{"made", "data", "lost"}, isNil},
		{"aborted", false, true, "exec sleep 60", []string{"made", "lost"}, func(err error) bool { return errors.Is(err, weft.ErrAborted) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &halfProto{t: t}
			if tc.abort {
				p.onMade = func(tr weft.Transport) { tr.Abort() }
			}
			var proto weft.Protocol = p
			if tc.plain {
				proto = plainProto{p}
			}
			runStream(t, NewStream(proto), exec.Command(sh, "-c", tc.script))
			if !slices.Equal(p.events, tc.want) || !tc.reason(p.reason) {
				t.Errorf("events %q, ConnectionLost(%v); want %q", p.events, p.reason, tc.want)
			}
		})
	}
}

func isNil(err error) bool { return err == nil }

// TestStreamLoseWriteConnectionOutside: weft.LoseWriteConnection from
// another goroutine than the callbacks' ends cat's input; cat's output is
// read to its end.
func TestStreamLoseWriteConnectionOutside(t *testing.T) {
	p := &halfProto{t: t}
	made := make(chan weft.Transport, 1)
	p.onMade = func(tr weft.Transport) { made <- tr }
	pr, err := Start(context.Background(), exec.Command(lookPath(t, "cat")), NewStream(p), nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	tr := <-made
	if _, err := tr.Write([]byte(strings.Repeat("x", 100<<10))); err != nil {
		t.Errorf("Write: %v", err)
	}
	if err := weft.LoseWriteConnection(tr); err != nil {
		t.Errorf("weft.LoseWriteConnection = %v", err)
	}
	if err := waitBounded(t, pr); err != nil {
		t.Errorf("Wait = %v", err)
	}
	if n := p.data.Len(); n != 100<<10 {
		t.Errorf("cat echoed %d bytes, want %d", n, 100<<10)
	}
	if p.reason != nil {
		t.Errorf("ConnectionLost(%v), want nil", p.reason)
	}
}

// sortHandler is a codec.FrameHandler that sends lines to sort, half-closes
// and collects the sorted frames.
type sortHandler struct {
	t      *testing.T
	tr     codec.FrameTransport
	frames []string
	reason error
}

func (h *sortHandler) ConnectionMade(tr codec.FrameTransport) {
	h.tr = tr
	for _, l := range []string{"pear", "apple", "fig"} {
		if err := tr.SendFrame([]byte(l)); err != nil {
			h.t.Errorf("SendFrame: %v", err)
		}
	}
	if err := weft.LoseWriteConnection(tr); err != nil {
		h.t.Errorf("weft.LoseWriteConnection: %v", err)
	}
}
func (h *sortHandler) FrameReceived(f []byte)      { h.frames = append(h.frames, string(f)) }
func (h *sortHandler) ConnectionLost(reason error) { h.reason = reason }

// TestStreamCodecHalfClose: a codec handler over a Stream half-closes the
// child with weft.LoseWriteConnection (through the codec adapter) and goes
// on reading frames: sort answers once its input ends.
func TestStreamCodecHalfClose(t *testing.T) {
	h := &sortHandler{t: t}
	runStream(t, NewStream(codec.NewProtocol(codec.Line{}, h)), exec.Command(lookPath(t, "sort")))
	if want := []string{"apple", "fig", "pear"}; !slices.Equal(h.frames, want) || h.reason != nil {
		t.Errorf("frames %q, ConnectionLost(%v); want %q, nil", h.frames, h.reason, want)
	}
}
