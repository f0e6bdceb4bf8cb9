package codec_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// madeRec is a LineHandler and FrameHandler that records every event, the
// made one included, as a string; a line or frame is echoed back when echo
// is set (which needs the transport ConnectionMade gave).
type madeRec struct {
	events []string
	echo   bool
	lr     *codec.LineReceiver
	ft     codec.FrameTransport
	onMade func()
}

func (h *madeRec) add(format string, a ...any) {
	h.events = append(h.events, fmt.Sprintf(format, a...))
}

func (h *madeRec) made() {
	h.add("made")
	if h.onMade != nil {
		h.onMade()
	}
}

// LineHandler.
func (h *madeRec) lineMade(r *codec.LineReceiver) { h.lr = r; h.made() }
func (h *madeRec) LineReceived(line []byte) {
	h.add("line:%s", line)
	if h.echo {
		if err := h.lr.SendLine(line); err != nil {
			h.add("send:%v", err)
		}
	}
}
func (h *madeRec) RawDataReceived(data []byte) { h.add("raw:%s", data) }
func (h *madeRec) ConnectionLost(err error)    { h.add("lost:%v", err) }

// lineMadeRec adapts madeRec to LineHandler (ConnectionMade's argument
// differs between the two handler interfaces).
type lineMadeRec struct{ *madeRec }

func (h lineMadeRec) ConnectionMade(r *codec.LineReceiver) { h.lineMade(r) }

// halfLineRec is a lineMadeRec that is a weft.HalfCloseable.
type halfLineRec struct{ lineMadeRec }

func (h halfLineRec) ReadConnectionLost() { h.add("readlost") }

// frameMadeRec adapts madeRec to FrameHandler.
type frameMadeRec struct{ *madeRec }

func (h frameMadeRec) ConnectionMade(t codec.FrameTransport) { h.ft = t; h.made() }
func (h frameMadeRec) FrameReceived(frame []byte) {
	h.add("frame:%s", frame)
	if h.echo {
		if err := h.ft.SendFrame(frame); err != nil {
			h.add("send:%v", err)
		}
	}
}

// halfFrameRec is a frameMadeRec that is a weft.HalfCloseable.
type halfFrameRec struct{ frameMadeRec }

func (h halfFrameRec) ReadConnectionLost() { h.add("readlost") }

// TestBeforeConnectionMade drives the adapters by hand, in orders the
// runtime never uses but a test written in Twisted's habit does
// (proto.dataReceived before makeConnection, or a mode switch before it).
// Every entry point is defined: what is received before ConnectionMade is
// kept and decoded once ConnectionMade has given the handler its transport,
// in order and after the handler's ConnectionMade; a mode switch made
// before applies to those bytes; an end of stream before it comes after
// them; ConnectionLost before it drops them and passes its reason on.
// Before the fix the DataReceived cases panicked with a nil pointer
// dereference (LineReceiver: no decoder; the adapter: the handler's nil
// transport), ReadConnectionLost panicked (nil Transport), SetLineMode
// delivered lines before ConnectionMade, and SetRawMode was undone by it.
func TestBeforeConnectionMade(t *testing.T) {
	type tc struct {
		name string
		run  func(h *madeRec, ft *fakeTransport)
		want []string
		out  string // what the transport must have been given
		lost bool   // whether LoseConnection must have been called
	}
	line := func(h *madeRec) *codec.LineReceiver { return codec.NewLineReceiver(lineMadeRec{h}) }
	framed := func(h *madeRec) weft.Protocol { return codec.NewProtocol(codec.Netstring{}, frameMadeRec{h}) }
	cases := []tc{
		{
			name: "LineReceiver DataReceived",
			run: func(h *madeRec, ft *fakeTransport) {
				h.echo = true
				r := line(h)
				r.DataReceived([]byte("one\r\ntw"))
				r.DataReceived([]byte("o\r\nthr"))
				r.ConnectionMade(ft)
				r.DataReceived([]byte("ee\r\n"))
			},
			want: []string{"made", "line:one", "line:two", "line:three"},
			out:  "one\r\ntwo\r\nthree\r\n",
		},
		{
			name: "LineReceiver DataReceived keeps no reference",
			run: func(h *madeRec, ft *fakeTransport) {
				r := line(h)
				b := []byte("abc\r\n")
				r.DataReceived(b)
				copy(b, "XXX\r\n") // data is only valid during the call
				r.ConnectionMade(ft)
			},
			want: []string{"made", "line:abc"},
		},
		{
			name: "LineReceiver SetRawMode",
			run: func(h *madeRec, ft *fakeTransport) {
				r := line(h)
				r.SetRawMode()
				r.DataReceived([]byte("a\r\nb"))
				r.ConnectionMade(ft)
				r.DataReceived([]byte("c"))
			},
			want: []string{"made", "raw:a\r\nb", "raw:c"},
		},
		{
			name: "LineReceiver SetLineMode(extra)",
			run: func(h *madeRec, ft *fakeTransport) {
				r := line(h)
				r.DataReceived([]byte("b\r\n"))
				r.SetRawMode()
				r.SetLineMode([]byte("a\r\n"))
				r.ConnectionMade(ft)
			},
			want: []string{"made", "line:a", "line:b"},
		},
		{
			name: "LineReceiver Delimiter applies to held bytes",
			run: func(h *madeRec, ft *fakeTransport) {
				r := line(h)
				r.Delimiter = []byte("|")
				r.SetLineMode([]byte("x|"))
				r.DataReceived([]byte("y|z\n|"))
				r.ConnectionMade(ft)
			},
			want: []string{"made", "line:x", "line:y", "line:z\n"},
		},
		{
			name: "LineReceiver ClearLineBuffer",
			run: func(h *madeRec, ft *fakeTransport) {
				r := line(h)
				r.DataReceived([]byte("a\r\n"))
				h.add("cleared:%q", r.ClearLineBuffer())
				r.ConnectionMade(ft)
				r.DataReceived([]byte("b\r\n"))
			},
			want: []string{`cleared:"a\r\n"`, "made", "line:b"},
		},
		{
			name: "LineReceiver ConnectionLost",
			run: func(h *madeRec, ft *fakeTransport) {
				r := line(h)
				r.DataReceived([]byte("a\r\npartial"))
				r.ConnectionLost(nil)
			},
			want: []string{"lost:<nil>"},
		},
		{
			name: "LineReceiver ReadConnectionLost, handler not HalfCloseable",
			run: func(h *madeRec, ft *fakeTransport) {
				r := line(h)
				r.DataReceived([]byte("a\r\n"))
				r.ReadConnectionLost()
				r.ConnectionMade(ft)
			},
			want: []string{"made", "line:a"},
			lost: true,
		},
		{
			name: "LineReceiver ReadConnectionLost, HalfCloseable",
			run: func(h *madeRec, ft *fakeTransport) {
				r := codec.NewLineReceiver(halfLineRec{lineMadeRec{h}})
				r.DataReceived([]byte("a\r\n"))
				r.ReadConnectionLost()
				r.ConnectionMade(ft)
			},
			want: []string{"made", "line:a", "readlost"},
		},
		{
			name: "LineReceiver ReadConnectionLost, paused in ConnectionMade",
			run: func(h *madeRec, ft *fakeTransport) {
				r := codec.NewLineReceiver(halfLineRec{lineMadeRec{h}})
				h.onMade = func() { h.lr.Transport().PauseReading() }
				r.DataReceived([]byte("a\r\n"))
				r.ReadConnectionLost()
				r.ConnectionMade(ft)
				h.add("resume")
				r.Transport().ResumeReading()
			},
			want: []string{"made", "resume", "line:a", "readlost"},
		},
		{
			name: "LineReceiver invalid MaxLength",
			run: func(h *madeRec, ft *fakeTransport) {
				r := line(h)
				r.MaxLength = -1
				r.DataReceived([]byte("a\r\n"))
				r.ConnectionMade(ft)
				r.ConnectionLost(nil)
			},
			want: []string{"made", "lost:codec: invalid configuration: Line.MaxLength -1 is negative"},
			lost: true,
		},
		{
			name: "LineReceiver Shutdown, SendLine, Transport",
			run: func(h *madeRec, ft *fakeTransport) {
				r := line(h)
				r.Shutdown()
				h.add("send:%v", errors.Is(r.SendLine([]byte("x")), weft.ErrClosed))
				h.add("transport:%v", r.Transport() == nil)
				h.add("raw:%v", r.RawMode())
			},
			want: []string{"send:true", "transport:true", "raw:false"},
		},
		{
			name: "NewProtocol DataReceived",
			run: func(h *madeRec, ft *fakeTransport) {
				h.echo = true
				p := framed(h)
				p.DataReceived([]byte("3:abc,1:"))
				p.ConnectionMade(ft)
				p.DataReceived([]byte("d,"))
			},
			want: []string{"made", "frame:abc", "frame:d"},
			out:  "3:abc,1:d,",
		},
		{
			name: "NewProtocol ConnectionLost",
			run: func(h *madeRec, ft *fakeTransport) {
				p := framed(h)
				p.DataReceived([]byte("3:abc,1:"))
				p.ConnectionLost(nil)
			},
			want: []string{"lost:<nil>"},
		},
		{
			name: "NewProtocol ReadConnectionLost, handler not HalfCloseable",
			run: func(h *madeRec, ft *fakeTransport) {
				p := framed(h)
				p.DataReceived([]byte("3:abc,"))
				p.(weft.HalfCloseable).ReadConnectionLost()
				p.ConnectionMade(ft)
			},
			want: []string{"made", "frame:abc"},
			lost: true,
		},
		{
			name: "NewProtocol ReadConnectionLost, HalfCloseable",
			run: func(h *madeRec, ft *fakeTransport) {
				p := codec.NewProtocol(codec.Netstring{}, halfFrameRec{frameMadeRec{h}})
				p.DataReceived([]byte("3:abc,"))
				p.(weft.HalfCloseable).ReadConnectionLost()
				p.ConnectionMade(ft)
			},
			want: []string{"made", "frame:abc", "readlost"},
		},
		{
			name: "NewProtocol invalid codec",
			run: func(h *madeRec, ft *fakeTransport) {
				p := codec.NewProtocol(nil, frameMadeRec{h})
				p.DataReceived([]byte("3:abc,"))
				p.ConnectionMade(ft)
				p.ConnectionLost(nil)
			},
			want: []string{"made", "lost:codec: invalid configuration: nil Codec"},
			lost: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &madeRec{}
			ft := &fakeTransport{}
			func() {
				defer func() {
					if v := recover(); v != nil {
						h.add("panic: %v", v)
					}
				}()
				c.run(h, ft)
			}()
			if !slices.Equal(h.events, c.want) {
				t.Errorf("events\n %q\nwant\n %q", h.events, c.want)
			}
			if got := ft.written(); got != c.out {
				t.Errorf("written %q, want %q", got, c.out)
			}
			ft.mu.Lock()
			lost := ft.lost
			ft.mu.Unlock()
			if lost != c.lost {
				t.Errorf("LoseConnection called: %v, want %v", lost, c.lost)
			}
		})
	}
}
