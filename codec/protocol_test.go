package codec_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
)

func start(c codec.Codec, h codec.FrameHandler, t weft.Transport) weft.Protocol {
	p := codec.NewProtocol(c, h)
	p.ConnectionMade(t)
	return p
}

func TestProtocolFramesAnyChunking(t *testing.T) {
	stream := []byte("0:,1:a,5:hello,3:1:,,")
	want := []string{"", "a", "hello", "1:,"}
	compositions(stream, 0, func(chunks [][]byte) {
		rec := &recorder{}
		p := start(codec.Netstring{}, rec, &fakeTransport{})
		for _, c := range chunks {
			p.DataReceived(c)
		}
		if !slices.Equal(rec.frames, want) {
			t.Fatalf("chunks %q: frames %q, want %q", chunks, rec.frames, want)
		}
	})
}

// A handler switching codec after each frame: netstring, then a 2-byte
// length prefix, then lines. Nothing is lost or decoded twice, for any split.
func TestProtocolSetCodecMidBuffer(t *testing.T) {
	stream := []byte("3:abc,\x00\x02hiline\r\nnext\n")
	want := []string{"abc", "hi", "line", "next"}
	compositions(stream, 0, func(chunks [][]byte) {
		rec := &recorder{hook: func(r *recorder, _ []byte) {
			switch len(r.frames) {
			case 1:
				r.tr.SetCodec(codec.Int16())
			case 2:
				r.tr.SetCodec(codec.Line{})
			}
		}}
		p := start(codec.Netstring{}, rec, &fakeTransport{})
		for _, c := range chunks {
			p.DataReceived(c)
		}
		if !slices.Equal(rec.frames, want) {
			t.Fatalf("chunks %q: frames %q, want %q", chunks, rec.frames, want)
		}
	})
}

func TestProtocolDecodeErrorClosesWithReason(t *testing.T) {
	tests := []struct {
		name   string
		c      codec.Codec
		in     string
		frames []string
		want   error
	}{
		{"malformed netstring", codec.Netstring{}, "1:a,x1:b,", []string{"a"}, codec.ErrMalformed},
		{"long line", codec.Line{MaxLength: 3}, "abc\nabcd\nabc\n", []string{"abc"}, codec.ErrFrameTooLarge},
		{"announced length", codec.Int32(), "\x00\x00\x00\x01a\xff\xff\xff\xff", []string{"a"}, codec.ErrFrameTooLarge},
		{"invalid codec", codec.LengthPrefix{Size: 5}, "abc", nil, codec.ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			tr := &fakeTransport{}
			p := start(tc.c, rec, tr)
			p.DataReceived([]byte(tc.in))
			p.DataReceived([]byte("1:c,")) // ignored after the error
			if !slices.Equal(rec.frames, tc.frames) {
				t.Errorf("frames %q, want %q", rec.frames, tc.frames)
			}
			if !tr.lost {
				t.Error("LoseConnection not called after a decode error")
			}
			p.ConnectionLost(nil) // the runtime reports a clean close
			if !errors.Is(rec.reason, tc.want) {
				t.Errorf("ConnectionLost(%v), want %v", rec.reason, tc.want)
			}
		})
	}
}

// TestProtocolCleanEndInsideFrame: a stream that ends cleanly with part of
// a frame received tells the handler the partial frame is lost
// (ErrTruncated); one that ends on a frame boundary is a clean end.
func TestProtocolCleanEndInsideFrame(t *testing.T) {
	tests := []struct {
		name string
		c    codec.Codec
		in   string
		want error
	}{
		{"netstring boundary", codec.Netstring{}, "2:ok,", nil},
		{"netstring inside", codec.Netstring{}, "2:ok,5:ab", codec.ErrTruncated},
		{"int8 inside", codec.Int8(), "\x05ab", codec.ErrTruncated},
		{"line boundary", codec.Line{}, "ok\n", nil},
		{"line inside", codec.Line{}, "ok\nlast", codec.ErrTruncated},
		{"nothing", codec.Line{}, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			p := start(tc.c, rec, &fakeTransport{})
			p.DataReceived([]byte(tc.in))
			p.ConnectionLost(nil)
			if tc.want == nil && rec.reason != nil || !errors.Is(rec.reason, tc.want) {
				t.Errorf("ConnectionLost(%v), want %v", rec.reason, tc.want)
			}
		})
	}
}

func TestProtocolNetworkErrorPassesThrough(t *testing.T) {
	rec := &recorder{}
	p := start(codec.Line{}, rec, &fakeTransport{})
	p.ConnectionLost(weft.ErrIdleTimeout)
	if !errors.Is(rec.reason, weft.ErrIdleTimeout) {
		t.Fatalf("reason %v", rec.reason)
	}
}

func TestProtocolStopsWhenHandlerCloses(t *testing.T) {
	for _, closeFn := range []func(codec.FrameTransport){
		codec.FrameTransport.LoseConnection, codec.FrameTransport.Abort,
	} {
		rec := &recorder{hook: func(r *recorder, _ []byte) { closeFn(r.tr) }}
		p := start(codec.Netstring{}, rec, &fakeTransport{})
		p.DataReceived([]byte("1:a,1:b,1:c,"))
		if !slices.Equal(rec.frames, []string{"a"}) {
			t.Fatalf("frames after close: %q", rec.frames)
		}
	}
}

func TestProtocolPauseBetweenFrames(t *testing.T) {
	tr := &postTransport{}
	rec := &recorder{hook: func(r *recorder, f []byte) {
		if string(f) == "a" {
			r.tr.PauseReading()
		}
	}}
	p := start(codec.Line{}, rec, tr)
	p.DataReceived([]byte("a\nb\nc\n"))
	if !slices.Equal(rec.frames, []string{"a"}) || !tr.paused {
		t.Fatalf("paused: frames %q, transport paused %v", rec.frames, tr.paused)
	}
	rec.tr.ResumeReading()
	if len(rec.frames) != 1 {
		t.Fatalf("frames delivered outside the callbacks: %q", rec.frames)
	}
	tr.runPosted()
	if !slices.Equal(rec.frames, []string{"a", "b", "c"}) || tr.paused {
		t.Fatalf("after resume: frames %q, transport paused %v", rec.frames, tr.paused)
	}
}

func TestProtocolResumeWithoutPostWaitsForData(t *testing.T) {
	tr := &fakeTransport{}
	rec := &recorder{hook: func(r *recorder, f []byte) {
		if string(f) == "a" {
			r.tr.PauseReading()
		}
	}}
	p := start(codec.Line{}, rec, tr)
	p.DataReceived([]byte("a\nb\n"))
	rec.tr.ResumeReading()
	p.DataReceived([]byte("c\n"))
	if !slices.Equal(rec.frames, []string{"a", "b", "c"}) {
		t.Fatalf("frames %q", rec.frames)
	}
}

func TestProtocolSendFrame(t *testing.T) {
	tr := &fakeTransport{}
	rec := &recorder{}
	start(codec.Netstring{MaxLength: 5}, rec, tr)
	if err := rec.tr.SendFrame([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := rec.tr.SendFrame([]byte("toolong")); !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Fatalf("SendFrame over the limit: %v", err)
	}
	rec.tr.SetCodec(codec.Line{})
	if err := rec.tr.SendFrame([]byte("a\nb")); !errors.Is(err, codec.ErrDelimiter) {
		t.Fatalf("SendFrame with a newline: %v", err)
	}
	if err := rec.tr.SendFrame([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if got := tr.written(); got != "5:hello,bye\r\n" {
		t.Fatalf("written %q", got)
	}
	rec.tr.LoseConnection()
	if err := rec.tr.SendFrame([]byte("late")); !errors.Is(err, weft.ErrClosed) {
		t.Fatalf("SendFrame after close: %v", err)
	}
}

type shutdownRec struct {
	recorder
	shut bool
}

func (s *shutdownRec) Shutdown() { s.shut = true }

type shutdownLineRec struct {
	lineRec
	shut bool
}

func (s *shutdownLineRec) Shutdown() { s.shut = true }

// TestShutdownForwarded: the adapter and the LineReceiver pass a graceful
// shutdown notice to a handler that implements weft.ShutdownNotifier, and
// ignore it (no panic) for one that does not.
func TestShutdownForwarded(t *testing.T) {
	h := &shutdownRec{}
	p := start(codec.Line{}, h, &fakeTransport{})
	p.(weft.ShutdownNotifier).Shutdown()
	if !h.shut {
		t.Error("Shutdown not forwarded to the FrameHandler")
	}
	start(codec.Line{}, &recorder{}, &fakeTransport{}).(weft.ShutdownNotifier).Shutdown() // no Shutdown: nothing happens

	lh := &shutdownLineRec{}
	r := codec.NewLineReceiver(lh)
	r.ConnectionMade(&fakeTransport{})
	r.Shutdown()
	if !lh.shut {
		t.Error("Shutdown not forwarded to the LineHandler")
	}
	codec.NewLineReceiver(&lineRec{}).Shutdown() // no Shutdown: nothing happens
}

// A 1 MiB frame dripped one byte per read through the adapter: the buffer
// grows geometrically (total allocation a small multiple of the frame), and
// the frame arrives intact.
func TestProtocolDripAllocatesLinearly(t *testing.T) {
	c := codec.Netstring{}
	wire, _ := c.AppendFrame(nil, make([]byte, 1<<20))
	rec := &recorder{}
	p := start(c, rec, &fakeTransport{})
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range wire {
		p.DataReceived(wire[i : i+1])
	}
	runtime.ReadMemStats(&m1)
	if len(rec.frames) != 1 || len(rec.frames[0]) != 1<<20 {
		t.Fatalf("got %d frames", len(rec.frames))
	}
	if got := m1.TotalAlloc - m0.TotalAlloc; got > 8<<20+1<<20 { // + the recorder's copy
		t.Fatalf("dripping 1 MiB allocated %d bytes", got)
	}
}

// Frames of random sizes (up to 3 pieces of a partial frame) in reads of
// random sizes, with the handler pausing at random and resuming after each
// read: every frame arrives once, in order.
func TestProtocolLargeRandomReadsWithPauses(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 42))
		var want []string
		var stream []byte
		for range 60 {
			f := strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(20000))
			if rng.IntN(3) == 0 {
				f = f[:min(len(f), rng.IntN(10))]
			}
			want = append(want, f)
			stream, _ = codec.Netstring{}.AppendFrame(stream, []byte(f))
		}
		tr := &postTransport{}
		rec := &recorder{hook: func(r *recorder, _ []byte) {
			if rng.IntN(4) == 0 {
				r.tr.PauseReading()
			}
		}}
		p := start(codec.Netstring{}, rec, tr)
		if seed%2 == 1 {
			codec.SetMinPiece(p, 1+int(seed%7))
		}
		for rest := stream; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(70000))
			p.DataReceived(rest[:n])
			rest = rest[n:]
			for tr.paused || len(tr.posted) > 0 {
				rec.tr.ResumeReading()
				tr.runPosted()
			}
		}
		if !slices.Equal(rec.frames, want) {
			t.Fatalf("seed %d: %d frames, want %d", seed, len(rec.frames), len(want))
		}
	}
}

// Paused (from outside the callbacks) while a partial frame is buffered:
// the next read is kept whole and delivered after the resume.
func TestProtocolPausedWithPartialFrame(t *testing.T) {
	tr := &postTransport{}
	rec := &recorder{}
	p := start(codec.Line{}, rec, tr)
	p.DataReceived([]byte("par"))
	rec.tr.PauseReading()
	p.DataReceived([]byte("tial\nnext\nlast\n"))
	if len(rec.frames) != 0 {
		t.Fatalf("delivered while paused: %q", rec.frames)
	}
	rec.tr.ResumeReading()
	tr.runPosted()
	if want := []string{"partial", "next", "last"}; !slices.Equal(rec.frames, want) {
		t.Fatalf("frames %q, want %q", rec.frames, want)
	}
}

// decoderProbe records frames and can switch codec in ConnectionMade.
type decoderProbe struct {
	t      codec.FrameTransport
	next   codec.Codec
	frames []string
}

func (h *decoderProbe) ConnectionMade(t codec.FrameTransport) {
	h.t = t
	if h.next != nil {
		t.SetCodec(h.next)
	}
}
func (h *decoderProbe) FrameReceived(f []byte) { h.frames = append(h.frames, string(f)) }
func (h *decoderProbe) ConnectionLost(error)   {}

// TestDecoderMadeOnFirstRead: the adapter makes its decoder on the first
// read (also after a SetCodec in ConnectionMade), so a connection that has
// sent nothing holds none, and a built-in codec's decoder goes with the
// read's span when a read leaves nothing pending, so a connection idle
// between frames holds none either; a read that ends inside a frame keeps
// it. The frames are the same, and a codec set in ConnectionMade is the one
// used.
func TestDecoderMadeOnFirstRead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		next  codec.Codec
		reads []string // each ends on a frame boundary unless partial
		want  []string
	}{
		{"first codec", nil, []string{"a\nb", "c\n", "d\n"}, []string{"a", "bc", "d"}},
		{"codec set in ConnectionMade", codec.Netstring{}, []string{"1:a,2:b", "c,", "1:d,"}, []string{"a", "bc", "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &decoderProbe{next: tc.next}
			p := codec.NewProtocol(codec.Line{}, h)
			p.ConnectionMade(&fakeTransport{})
			if codec.HasDecoder(p) {
				t.Fatal("after ConnectionMade: a decoder is held")
			}
			for i, in := range tc.reads {
				p.DataReceived([]byte(in))
				if partial := i == 0; codec.HasDecoder(p) != partial {
					t.Errorf("after read %q: holds a decoder %v, want %v", in, codec.HasDecoder(p), partial)
				}
			}
			if !slices.Equal(h.frames, tc.want) {
				t.Errorf("frames %q, want %q", h.frames, tc.want)
			}
		})
	}
}

// TestProtocolSetCodecIsPerConnection: connections built from one Codec
// value share its box; SetCodec on one of them changes only its own framing,
// in both directions, while the others keep the codec they were built with.
func TestProtocolSetCodecIsPerConnection(t *testing.T) {
	var c codec.Codec = codec.Line{Delimiter: []byte("\n")}
	trA, trB, trC := &fakeTransport{}, &fakeTransport{}, &fakeTransport{}
	recA, recB, recC := &recorder{}, &recorder{}, &recorder{}
	pA, pB := start(c, recA, trA), start(c, recB, trB)
	recA.tr.SetCodec(codec.Netstring{})
	start(c, recC, trC) // built after the switch
	for _, r := range []*recorder{recA, recB, recC} {
		if err := r.tr.SendFrame([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	pA.DataReceived([]byte("1:a,"))
	pB.DataReceived([]byte("b\n1:c,\n"))
	if got, want := trA.written(), "1:x,"; got != want {
		t.Errorf("switched connection wrote %q, want %q", got, want)
	}
	if got, want := trB.written(), "x\n"; got != want {
		t.Errorf("other connection wrote %q, want %q", got, want)
	}
	if got, want := trC.written(), "x\n"; got != want {
		t.Errorf("connection built after the switch wrote %q, want %q", got, want)
	}
	if !slices.Equal(recA.frames, []string{"a"}) || !slices.Equal(recB.frames, []string{"b", "1:c,"}) {
		t.Errorf("frames: switched %q, other %q", recA.frames, recB.frames)
	}
}

// TestProtocolNilCodec: a nil Codec is a configuration error reported at
// ConnectionMade, never a panic, also when frames are sent or data arrives.
func TestProtocolNilCodec(t *testing.T) {
	tr := &fakeTransport{}
	rec := &recorder{}
	p := start(nil, rec, tr)
	if err := rec.tr.SendFrame([]byte("x")); err == nil {
		t.Error("SendFrame with a nil Codec succeeded")
	}
	p.DataReceived([]byte("data"))
	p.ConnectionLost(nil)
	if !errors.Is(rec.reason, codec.ErrConfig) || len(rec.frames) != 0 {
		t.Errorf("ConnectionLost(%v) after frames %q, want ErrConfig and none", rec.reason, rec.frames)
	}
	if !tr.lost && !tr.aborted {
		t.Error("the connection was not closed")
	}
}

// wrappers are the codec's Transports, each made over inner.
var wrappers = []struct {
	name string
	tr   func(inner weft.Transport) weft.Transport
}{
	{"FrameTransport", func(inner weft.Transport) weft.Transport {
		rec := &recorder{}
		start(codec.Line{}, rec, inner)
		return rec.tr
	}},
	{"LineReceiver", func(inner weft.Transport) weft.Transport {
		r := codec.NewLineReceiver(&lineRec{})
		r.ConnectionMade(inner)
		return r.Transport()
	}},
}

// The codec's Transports pass Post through to the runtime's, so that
// posted work (weft.Gate's marker) is serialized with the callbacks; over a
// Transport without Post it runs at once.
func TestTransportsPassPostThrough(t *testing.T) {
	type poster interface{ Post(func()) }
	for _, tc := range wrappers {
		t.Run(tc.name, func(t *testing.T) {
			pt := &postTransport{}
			p, ok := tc.tr(pt).(poster)
			if !ok {
				t.Fatal("no Post")
			}
			ran := 0
			p.Post(func() { ran++ })
			if ran != 0 {
				t.Fatal("ran before the runtime's posted work ran")
			}
			pt.runPosted()
			if ran != 1 {
				t.Fatalf("ran %d times after runPosted", ran)
			}
			tc.tr(&fakeTransport{}).(poster).Post(func() { ran++ })
			if ran != 2 {
				t.Fatal("over a Transport without Post, fn did not run at once")
			}
		})
	}
}

// The codec's Transports pass WriteRoom through (for weft.Gate.WriteAll);
// over a Transport that cannot tell, any size is taken.
func TestTransportsPassWriteRoomThrough(t *testing.T) {
	for _, tc := range wrappers {
		t.Run(tc.name, func(t *testing.T) {
			inner := &testenv.LateTransport{Max: 100}
			tr := tc.tr(inner)
			room := func() int { return tr.(weft.WriteRoomer).WriteRoom() }
			if r := room(); r != math.MaxInt {
				t.Errorf("empty: room %d, want MaxInt", r)
			}
			tr.Write(make([]byte, 30))
			if r := room(); r != 70 {
				t.Errorf("30 of 100 bytes queued: room %d, want 70", r)
			}
			if r := tc.tr(&fakeTransport{}).(weft.WriteRoomer).WriteRoom(); r != math.MaxInt {
				t.Errorf("over a Transport without WriteRoom: room %d, want MaxInt", r)
			}
		})
	}
}

// TestResumeDeliversHeldFramesFirst: after ResumeReading, the frames held
// while paused come before anything the transport reads once resumed — more
// bytes, and the end of the connection, which drops whatever is still held.
// The transport here delivers both the moment it is resumed, as the runtime's
// reader may on its own goroutine when ResumeReading comes from another one.
func TestResumeDeliversHeldFramesFirst(t *testing.T) {
	type adapter struct {
		// make connects a protocol to tr whose handler pauses after the
		// frame "a" and records what it gets in *got.
		make func(tr weft.Transport, got *[]string) (weft.Protocol, weft.Transport)
	}
	adapters := map[string]adapter{
		"NewProtocol": {func(tr weft.Transport, got *[]string) (weft.Protocol, weft.Transport) {
			rec := &recorder{hook: func(r *recorder, f []byte) {
				*got = append(*got, string(f))
				if string(f) == "a" {
					r.tr.PauseReading()
				}
			}}
			p := start(codec.Line{}, rec, tr)
			return endRecorder{p, got}, rec.tr
		}},
		"LineReceiver": {func(tr weft.Transport, got *[]string) (weft.Protocol, weft.Transport) {
			h := &lineRec{onLine: func(h *lineRec, l []byte) {
				*got = append(*got, string(l))
				if string(l) == "a" {
					h.r.Transport().PauseReading()
				}
			}}
			r := codec.NewLineReceiver(h)
			r.ConnectionMade(tr)
			return endRecorder{r, got}, r.Transport()
		}},
	}
	for name, a := range adapters {
		t.Run(name, func(t *testing.T) {
			tr := &racingTransport{}
			var got []string
			p, pt := a.make(tr, &got)
			p.DataReceived([]byte("a\nb\n"))
			if !slices.Equal(got, []string{"a"}) {
				t.Fatalf("before resume: %q", got)
			}
			tr.onResume = func() {
				p.DataReceived([]byte("c\n"))
				p.ConnectionLost(nil)
			}
			pt.ResumeReading() // as from another goroutine: outside the callbacks
			for len(tr.posted) > 0 {
				tr.runPosted()
			}
			if want := []string{"a", "b", "c", "lost"}; !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// endRecorder records ConnectionLost as "lost" in *got.
type endRecorder struct {
	weft.Protocol
	got *[]string
}

func (e endRecorder) ConnectionLost(reason error) {
	e.Protocol.ConnectionLost(reason)
	*e.got = append(*e.got, "lost")
}

// TestPauseAfterResumeStaysPaused: a goroutine calls ResumeReading, then
// PauseReading. The function ResumeReading posted runs on the connection's
// goroutine, and the PauseReading may come between its check and its call to
// the transport's ResumeReading; the transport must end up paused (the
// caller's last word), not reading into the adapter's buffer while the
// handler believes it paused.
func TestPauseAfterResumeStaysPaused(t *testing.T) {
	adapters := map[string]func(tr weft.Transport) weft.Transport{
		"NewProtocol": func(tr weft.Transport) weft.Transport {
			rec := &recorder{}
			start(codec.Line{}, rec, tr)
			return rec.tr
		},
		"LineReceiver": func(tr weft.Transport) weft.Transport {
			r := codec.NewLineReceiver(&lineRec{})
			r.ConnectionMade(tr)
			return r.Transport()
		},
	}
	for name, mk := range adapters {
		t.Run(name, func(t *testing.T) {
			tr := &lateResumeTransport{}
			pt := mk(tr)
			pt.PauseReading()
			pt.ResumeReading()
			tr.beforeResume = pt.PauseReading // the goroutine's next call
			for len(tr.posted) > 0 {
				tr.runPosted()
			}
			if !tr.isPaused() {
				t.Errorf("transport reading after ResumeReading then PauseReading")
			}
		})
	}
}
