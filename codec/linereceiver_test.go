package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/codectest"
)

// lineRec is a LineHandler recording events as "line:x", "raw:x",
// "exceeded:x".
type lineRec struct {
	r      *codec.LineReceiver
	events []string
	reason error
	// onLine and onRaw run after the event is recorded.
	onLine func(h *lineRec, line []byte)
	onRaw  func(h *lineRec, data []byte)
	// exceeded, if set, makes the handler a LineLengthExceeder.
}

func (h *lineRec) ConnectionMade(r *codec.LineReceiver) { h.r = r }
func (h *lineRec) LineReceived(line []byte) {
	h.events = append(h.events, "line:"+string(line))
	if h.onLine != nil {
		h.onLine(h, line)
	}
}
func (h *lineRec) RawDataReceived(data []byte) {
	h.events = append(h.events, "raw:"+string(data))
	if h.onRaw != nil {
		h.onRaw(h, data)
	}
}
func (h *lineRec) ConnectionLost(err error) { h.reason = err }

type exceedRec struct{ lineRec }

func (h *exceedRec) LineLengthExceeded(data []byte) {
	h.events = append(h.events, "exceeded:"+string(data))
}

// headRawTail switches to raw mode after HEAD, takes exactly 10 raw bytes
// (whatever the chunks), then returns to line mode with the rest.
func headRawTail() *lineRec {
	need := 0
	var raw []byte
	h := &lineRec{}
	h.onLine = func(h *lineRec, line []byte) {
		if string(line) == "HEAD" {
			need = 10
			h.r.SetRawMode()
		}
	}
	h.onRaw = func(h *lineRec, data []byte) {
		h.events = h.events[:len(h.events)-1] // record the 10 bytes as one event
		n := min(need, len(data))
		raw = append(raw, data[:n]...)
		need -= n
		if need == 0 {
			h.events = append(h.events, "raw:"+string(raw))
			h.r.SetLineMode(data[n:])
		}
	}
	return h
}

// The required test: one read, or any chunking of it, holding
// "HEAD\r\n" + 10 raw bytes + "TAIL\r\n" yields exactly HEAD, the 10 bytes,
// TAIL. All 2^21 chunkings of the 22 bytes are tried (under -race or -short:
// every split into up to three chunks, and one-byte reads).
func TestLineReceiverRawModeEveryChunking(t *testing.T) {
	stream := []byte("HEAD\r\n0123\r\n6789TAIL\r\n")
	want := []string{"line:HEAD", "raw:0123\r\n6789", "line:TAIL"}
	maxExhaustive := len(stream)
	if testing.Short() || raceEnabled { // splits into up to 3 chunks, and 1-byte reads
		maxExhaustive = 0
	}
	runs := 0
	compositions(stream, maxExhaustive, func(chunks [][]byte) {
		runs++
		h := headRawTail()
		r := codec.NewLineReceiver(h)
		r.ConnectionMade(&fakeTransport{})
		codec.SetMinPiece(r, runs%4) // 0: the default 4 KiB
		for _, c := range chunks {
			r.DataReceived(c)
		}
		if !slices.Equal(h.events, want) {
			t.Fatalf("chunks %q: events %q, want %q", chunks, h.events, want)
		}
	})
	t.Logf("%d chunkings", runs)
}

// Twisted's verified table (MAX_LENGTH = 4, delimiter "\r\n").
func TestLineReceiverTwistedLimits(t *testing.T) {
	tests := []struct {
		in     []string
		events []string
		closed bool
	}{
		{[]string{"xxxx\r\n"}, []string{"line:xxxx"}, false},
		{[]string{"xxxxx\r\nmore\r\n"}, nil, true},
		{[]string{"xxxxx"}, nil, false},
		{[]string{"xxxx\r"}, nil, false},
		{[]string{"xxxxx\r"}, nil, true},
		{[]string{"ab\r", "\ncd\r", "\r\n"}, []string{"line:ab", "line:cd\r"}, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			h := &lineRec{}
			r := codec.NewLineReceiver(h)
			r.Delimiter, r.MaxLength = []byte("\r\n"), 4
			tr := &fakeTransport{}
			r.ConnectionMade(tr)
			for _, c := range tc.in {
				r.DataReceived([]byte(c))
			}
			if !slices.Equal(h.events, tc.events) || tr.lost != tc.closed {
				t.Fatalf("events %q closed %v, want %q closed %v", h.events, tr.lost, tc.events, tc.closed)
			}
			r.ConnectionLost(nil)
			if tc.closed != errors.Is(h.reason, codec.ErrFrameTooLarge) {
				t.Fatalf("ConnectionLost(%v)", h.reason)
			}
		})
	}
}

func TestLineReceiverLineLengthExceededOverride(t *testing.T) {
	h := &exceedRec{}
	r := codec.NewLineReceiver(h)
	r.MaxLength = 4
	tr := &fakeTransport{}
	r.ConnectionMade(tr)
	r.DataReceived([]byte("ok\nxxxxx\nmore\n"))
	r.DataReceived([]byte("ok2\n"))
	want := []string{"line:ok", "exceeded:xxxxx\nmore\n", "line:ok2"}
	if !slices.Equal(h.events, want) || tr.lost {
		t.Fatalf("events %q closed %v, want %q and open", h.events, tr.lost, want)
	}
}

func TestLineReceiverStopsAfterLoseConnection(t *testing.T) {
	h := &lineRec{onLine: func(h *lineRec, _ []byte) { h.r.Transport().LoseConnection() }}
	r := codec.NewLineReceiver(h)
	r.ConnectionMade(&fakeTransport{})
	r.DataReceived([]byte("a\nb\nc\n"))
	if !slices.Equal(h.events, []string{"line:a"}) {
		t.Fatalf("events %q", h.events)
	}
}

func TestLineReceiverPauseAndResume(t *testing.T) {
	tr := &postTransport{}
	h := &lineRec{onLine: func(h *lineRec, l []byte) {
		if string(l) == "a" {
			h.r.Transport().PauseReading()
		}
	}}
	r := codec.NewLineReceiver(h)
	r.ConnectionMade(tr)
	r.DataReceived([]byte("a\r\nb\r\n"))
	if !slices.Equal(h.events, []string{"line:a"}) {
		t.Fatalf("events while paused %q", h.events)
	}
	h.r.Transport().ResumeReading()
	tr.runPosted()
	if !slices.Equal(h.events, []string{"line:a", "line:b"}) {
		t.Fatalf("events after resume %q", h.events)
	}
}

func TestLineReceiverClearLineBuffer(t *testing.T) {
	var cleared string
	h := &lineRec{onLine: func(h *lineRec, l []byte) {
		if string(l) == "stop" {
			cleared = string(h.r.ClearLineBuffer())
		}
	}}
	r := codec.NewLineReceiver(h)
	r.ConnectionMade(&fakeTransport{})
	r.DataReceived([]byte("a\nstop\nb\nc"))
	r.DataReceived([]byte("d\n"))
	if !slices.Equal(h.events, []string{"line:a", "line:stop", "line:d"}) || cleared != "b\nc" {
		t.Fatalf("events %q cleared %q", h.events, cleared)
	}
}

// SetLineMode(extra) from inside LineReceived puts extra before the rest of
// the read (Twisted gets this order wrong).
func TestLineReceiverSetLineModeFromLineReceived(t *testing.T) {
	h := &lineRec{onLine: func(h *lineRec, l []byte) {
		if string(l) == "a" {
			h.r.SetLineMode([]byte("x\n"))
		}
	}}
	r := codec.NewLineReceiver(h)
	r.ConnectionMade(&fakeTransport{})
	r.DataReceived([]byte("a\nb\n"))
	if want := []string{"line:a", "line:x", "line:b"}; !slices.Equal(h.events, want) {
		t.Fatalf("events %q, want %q", h.events, want)
	}
}

// From outside the loop (here: straight after DataReceived returned, as a
// posted function would), SetLineMode decodes extra at once.
func TestLineReceiverSetLineModeOutsideCallbacks(t *testing.T) {
	h := &lineRec{onLine: func(h *lineRec, _ []byte) { h.r.SetRawMode() }}
	r := codec.NewLineReceiver(h)
	r.ConnectionMade(&fakeTransport{})
	r.DataReceived([]byte("go\n"))
	h.onLine = nil
	r.SetLineMode([]byte("one\ntwo\npart"))
	r.DataReceived([]byte("ial\n"))
	if want := []string{"line:go", "line:one", "line:two", "line:partial"}; !slices.Equal(h.events, want) || r.RawMode() {
		t.Fatalf("events %q, want %q", h.events, want)
	}
}

func TestLineReceiverSendLine(t *testing.T) {
	tr := &fakeTransport{}
	r := codec.NewLineReceiver(&lineRec{})
	r.MaxLength = 5
	r.ConnectionMade(tr)
	if err := r.SendLine([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := r.SendLine([]byte("a\nb")); !errors.Is(err, codec.ErrDelimiter) {
		t.Fatalf("newline: %v", err)
	}
	if err := r.SendLine([]byte("toolong")); !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Fatalf("too long: %v", err)
	}
	if got := tr.written(); got != "hello\r\n" {
		t.Fatalf("written %q", got)
	}
}

func TestLineReceiverMaxLengthValidated(t *testing.T) {
	h := &lineRec{}
	r := codec.NewLineReceiver(h)
	r.MaxLength = -1
	tr := &fakeTransport{}
	r.ConnectionMade(tr)
	r.ConnectionLost(nil)
	if !tr.lost || !errors.Is(h.reason, codec.ErrConfig) {
		t.Fatalf("closed %v reason %v", tr.lost, h.reason)
	}
}

// DataReceived called from inside a callback (Twisted: "if already inside
// dataReceived, just append data to the buffer") queues the bytes behind
// everything received and not yet delivered: nothing is lost or reordered.
func TestLineReceiverReentrantDataReceived(t *testing.T) {
	tests := []struct {
		name   string
		reads  []string
		resume bool // ResumeReading (no Post) after the first read
		want   []string
	}{
		{"rest of the read first", []string{"a\nb\nc\n"}, false,
			[]string{"line:a", "line:b", "line:c", "line:x"}},
		{"appended to a partial line, as in Twisted", []string{"a\nb\nc", "c\n"}, false,
			[]string{"line:a", "line:b", "line:cx", "line:c"}},
		{"lines buffered while paused, then a read", []string{"p\nb\nb2\n", "c\nd\n"}, true,
			[]string{"line:p", "line:b", "line:b2", "line:c", "line:d", "line:x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for piece := range 4 {
				h := &lineRec{onLine: func(h *lineRec, l []byte) {
					switch string(l) {
					case "p":
						h.r.Transport().PauseReading()
					case "b":
						in := []byte("x\n")
						h.r.DataReceived(in)
						copy(in, "??") // valid only during the call
					}
				}}
				r := codec.NewLineReceiver(h)
				r.ConnectionMade(&fakeTransport{})
				codec.SetMinPiece(r, piece)
				for i, in := range tc.reads {
					r.DataReceived([]byte(in))
					if i == 0 && tc.resume {
						r.Transport().ResumeReading()
					}
				}
				if !slices.Equal(h.events, tc.want) {
					t.Fatalf("piece %d: events %q, want %q", piece, h.events, tc.want)
				}
			}
		})
	}
}

// chunkedHandler is the usual raw-mode pattern (HTTP chunked bodies, SMTP
// BDAT): a line announces one raw byte, RawDataReceived takes it and gives
// the rest back with SetLineMode(data[1:]).
type chunkedHandler struct {
	r     *codec.LineReceiver
	lines int
	raw   int
}

func (h *chunkedHandler) ConnectionMade(r *codec.LineReceiver) { h.r = r }
func (h *chunkedHandler) ConnectionLost(error)                 {}
func (h *chunkedHandler) LineReceived([]byte)                  { h.lines++; h.r.SetRawMode() }
func (h *chunkedHandler) RawDataReceived(data []byte) {
	h.raw++
	h.r.SetLineMode(data[1:])
}

// A peer alternating tiny lines and one raw byte must cost linear work: each
// SetLineMode(data[n:]) from RawDataReceived used to copy the whole rest of
// the read (and everything buffered), so a 64 KiB read of "1\nX" segments
// copied about R²/6 bytes.
func TestLineReceiverRawFlipsLinear(t *testing.T) {
	for _, size := range []int{64 << 10} {
		read := bytes.Repeat([]byte("1\nX"), size/3)
		h := &chunkedHandler{}
		r := codec.NewLineReceiver(h)
		r.ConnectionMade(&fakeTransport{})
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r.DataReceived(read)
		runtime.ReadMemStats(&after)
		if h.lines != size/3 || h.raw != size/3 {
			t.Fatalf("%d lines, %d raw chunks, want %d each", h.lines, h.raw, size/3)
		}
		// Each switch makes a decoder (tens of bytes): linear. The
		// quadratic copying allocated over 700 MB here.
		if got := after.TotalAlloc - before.TotalAlloc; got > uint64(32*len(read)) {
			t.Fatalf("a %d-byte read of raw/line flips allocated %d bytes (quadratic copying)", len(read), got)
		}
	}
}

// pmScript is a LineHandler driven by a script, like modeScript, with more
// actions: see LineReceived and RawDataReceived.
type pmScript struct {
	r      *codec.LineReceiver
	script []byte
	k      int
	need   int
	raw    []byte
	events []string
	mode   byte
}

func (h *pmScript) next() byte {
	if len(h.script) == 0 {
		return 255
	}
	s := h.script[h.k%len(h.script)]
	h.k++
	return s
}
func (h *pmScript) ConnectionMade(r *codec.LineReceiver) { h.r = r }
func (h *pmScript) ConnectionLost(error)                 {}
func (h *pmScript) LineReceived(line []byte) {
	h.events = append(h.events, "line:"+string(line))
	s := h.next()
	switch s % 6 {
	case 0:
		h.need = 1 + int(s/6)%7
		h.mode = s / 42 % 3
		h.r.SetRawMode()
	case 1:
		if string(line) != "x" {
			h.r.SetLineMode([]byte("x\n"))
		}
	case 2:
		h.r.Transport().PauseReading()
	case 3:
		h.r.SetRawMode()
		h.need = 2
		h.mode = 3
	}
}
func (h *pmScript) RawDataReceived(data []byte) {
	n := min(h.need, len(data))
	h.raw = append(h.raw, data[:n]...)
	h.need -= n
	if h.need == 0 {
		h.events = append(h.events, "raw:"+string(h.raw))
		h.raw = nil
		switch h.mode {
		case 0:
			h.r.SetLineMode(data[n:])
		case 1:
			h.r.SetLineMode(bytes.Clone(data[n:]))
			clear(data)
		case 2:
			h.r.Transport().PauseReading()
			h.r.SetLineMode(data[n:])
		case 3:
			// raw again: then line mode with the rest
			h.r.SetRawMode()
			h.r.SetLineMode(data[n:])
		}
	}
}

func runPM(data, script []byte, chunks [][]byte, piece int) []string {
	h := &pmScript{script: script}
	r := codec.NewLineReceiver(h)
	r.MaxLength = 16
	codec.SetMinPiece(r, piece)
	tr := &postTransport{}
	r.ConnectionMade(tr)
	for _, c := range chunks {
		r.DataReceived(bytes.Clone(c))
		for tr.paused {
			r.Transport().ResumeReading()
			tr.runPosted()
		}
	}
	if len(h.raw) > 0 {
		h.events = append(h.events, "partial raw:"+string(h.raw))
	}
	return h.events
}

// Mode switches (raw and back, with the rest of the raw chunk handed back
// as is or copied, raw again, a line injected) and pauses between lines and
// after raw data give the same events whatever the chunking. Stepping back
// into the raw chunk instead of copying it (TestLineReceiverRawFlipsLinear)
// must not lose or reorder a byte.
func TestLineReceiverModesAndPausesAnyChunking(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alpha := []byte("ab\n\r\nx")
	for it := range 20000 {
		data := make([]byte, rng.IntN(80))
		for i := range data {
			data[i] = alpha[rng.IntN(len(alpha))]
		}
		script := make([]byte, rng.IntN(5))
		for i := range script {
			script[i] = byte(rng.IntN(256))
		}
		want := runPM(data, script, [][]byte{data}, 0)
		for _, chunks := range [][][]byte{
			codectest.Chunks(data, 1, nil),
			codectest.Chunks(data, 0, rand.New(rand.NewPCG(uint64(it), 7))),
		} {
			got := runPM(data, script, chunks, 1+it%5)
			if !slices.Equal(got, want) {
				t.Fatalf("data %q script %v chunks %q:\n got %q\nwant %q", data, script, chunks, got, want)
			}
		}
	}
}
