package codec_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
)

// logTransport records, in order, each Write (as "w:" and its bytes) and
// each call that must come after the output written before it.
type logTransport struct {
	postTransport
	log []string
}

func (l *logTransport) Write(p []byte) (int, error) {
	l.log = append(l.log, "w:"+string(p))
	return l.fakeTransport.Write(p)
}
func (l *logTransport) WriteBuffers(bufs ...[]byte) error {
	l.log = append(l.log, "wb:"+string(bytes.Join(bufs, nil)))
	return l.fakeTransport.WriteBuffers(bufs...)
}
func (l *logTransport) LoseConnection() {
	l.log = append(l.log, "lose")
	l.fakeTransport.LoseConnection()
}
func (l *logTransport) Abort()         { l.log = append(l.log, "abort"); l.fakeTransport.Abort() }
func (l *logTransport) Buffered() int  { l.log = append(l.log, "buffered"); return 0 }
func (l *logTransport) WriteRoom() int { l.log = append(l.log, "room"); return 1 << 20 }

// lines encodes each payload as a CRLF line.
func lines(payloads ...string) string {
	var b strings.Builder
	for _, p := range payloads {
		b.WriteString(p + "\r\n")
	}
	return b.String()
}

// TestCoalescingProtocol checks NewCoalescingProtocol against a recording
// transport: the frames a handler sends while one read is delivered go out
// in one Write after the last frame, and every call that must follow them
// (a Write, WriteRoom, Buffered, a close, an abort) writes them first.
func TestCoalescingProtocol(t *testing.T) {
	big := strings.Repeat("b", 600) // over the 512 bytes gathered
	cases := []struct {
		name string
		in   string
		hook func(tr codec.FrameTransport, frame string)
		want []string
	}{
		{
			name: "one write per read",
			in:   lines("a", "bb", "ccc"),
			hook: func(tr codec.FrameTransport, f string) { _ = tr.SendFrame([]byte(f)) },
			want: []string{"w:" + lines("a", "bb", "ccc")},
		},
		{
			name: "two replies a frame",
			in:   lines("a", "b"),
			hook: func(tr codec.FrameTransport, f string) {
				_ = tr.SendFrame([]byte(f))
				_ = tr.SendFrame([]byte(f + f))
			},
			want: []string{"w:" + lines("a", "aa", "b", "bb")},
		},
		{
			name: "a write comes after the frames before it",
			in:   lines("a", "w", "b"),
			hook: func(tr codec.FrameTransport, f string) {
				if f == "w" {
					_, _ = tr.Write([]byte("raw"))
					return
				}
				_ = tr.SendFrame([]byte(f))
			},
			want: []string{"w:" + lines("a"), "w:raw", "w:" + lines("b")},
		},
		{
			name: "write buffers",
			in:   lines("a", "w", "b"),
			hook: func(tr codec.FrameTransport, f string) {
				if f == "w" {
					_ = tr.WriteBuffers([]byte("r"), []byte("aw"))
					return
				}
				_ = tr.SendFrame([]byte(f))
			},
			want: []string{"w:" + lines("a"), "wb:raw", "w:" + lines("b")},
		},
		{
			name: "room and buffered see the frames",
			in:   lines("a", "r", "b", "u", "c"),
			hook: func(tr codec.FrameTransport, f string) {
				switch f {
				case "r":
					tr.(weft.WriteRoomer).WriteRoom()
				case "u":
					tr.Buffered()
				default:
					_ = tr.SendFrame([]byte(f))
				}
			},
			want: []string{"w:" + lines("a"), "room", "w:" + lines("b"), "buffered", "w:" + lines("c")},
		},
		{
			name: "a close comes after the frames",
			in:   lines("a", "b", "q", "c"),
			hook: sendUntil("q", codec.FrameTransport.LoseConnection),
			want: []string{"w:" + lines("a", "b"), "lose"},
		},
		{
			name: "a close with a reason too",
			in:   lines("a", "q"),
			hook: sendUntil("q", func(tr codec.FrameTransport) { weft.LoseConnectionWithReason(tr, errors.New("bye")) }),
			want: []string{"w:" + lines("a"), "lose"},
		},
		{
			name: "an abort comes after the frames (which the runtime's Abort discards)",
			in:   lines("a", "b", "x", "c"),
			hook: sendUntil("x", codec.FrameTransport.Abort),
			want: []string{"w:" + lines("a", "b"), "abort"},
		},
		{
			name: "a large frame is written at once, after the others",
			in:   lines("a", big, "b"),
			hook: func(tr codec.FrameTransport, f string) { _ = tr.SendFrame([]byte(f)) },
			want: []string{"w:" + lines("a"), "wb:" + lines(big), "w:" + lines("b")},
		},
		{
			name: "a refused frame is reported at once and not gathered",
			in:   lines("a", "n", "b"),
			hook: func(tr codec.FrameTransport, f string) {
				if f == "n" {
					if err := tr.SendFrame([]byte("x\ny")); !errors.Is(err, codec.ErrDelimiter) {
						panic(fmt.Sprintf("SendFrame of a line with a newline: %v", err))
					}
					return
				}
				_ = tr.SendFrame([]byte(f))
			},
			want: []string{"w:" + lines("a", "b")},
		},
		{
			name: "a decode error writes the replies to the frames before it",
			in:   lines("a", "b") + strings.Repeat("z", 40) + "\r\n",
			hook: func(tr codec.FrameTransport, f string) { _ = tr.SendFrame([]byte(f)) },
			want: []string{"w:" + lines("a", "b"), "lose"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lt := &logTransport{}
			r := &recorder{hook: func(r *recorder, f []byte) { tc.hook(r.tr, string(f)) }}
			p := codec.NewCoalescingProtocol(codec.Line{MaxLength: 1000}, r)
			if tc.name == "a decode error writes the replies to the frames before it" {
				p = codec.NewCoalescingProtocol(codec.Line{MaxLength: 32}, r)
			}
			p.ConnectionMade(lt)
			p.DataReceived([]byte(tc.in))
			if got := lt.log; !slices.Equal(got, tc.want) {
				t.Fatalf("calls:\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}

// TestCoalescingOutsideTheLoop: a frame sent outside a delivery loop
// (ConnectionMade, a posted function) is written at once, as by NewProtocol.
func TestCoalescingOutsideTheLoop(t *testing.T) {
	lt := &logTransport{}
	h := &madeSender{}
	p := codec.NewCoalescingProtocol(codec.Line{}, h)
	p.ConnectionMade(lt)
	if want := []string{"wb:" + lines("hello")}; !slices.Equal(lt.log, want) {
		t.Fatalf("after ConnectionMade: %q, want %q", lt.log, want)
	}
	lt.log = nil
	h.tr.(weft.Poster).Post(func() { _ = h.tr.SendFrame([]byte("posted")) })
	lt.runPosted()
	if want := []string{"wb:" + lines("posted")}; !slices.Equal(lt.log, want) {
		t.Fatalf("from a posted function: %q, want %q", lt.log, want)
	}
}

type madeSender struct{ tr codec.FrameTransport }

func (m *madeSender) ConnectionMade(t codec.FrameTransport) {
	m.tr = t
	_ = t.SendFrame([]byte("hello"))
}
func (m *madeSender) FrameReceived([]byte) {}
func (m *madeSender) ConnectionLost(error) {}

// TestCoalescingPanicDiscards: a handler that panics after sending leaves
// nothing gathered behind (the runtime aborts the connection, which
// discards its output), and the loop is over: what is sent next is written
// at once.
func TestCoalescingPanicDiscards(t *testing.T) {
	lt := &logTransport{}
	r := &recorder{hook: func(r *recorder, f []byte) {
		_ = r.tr.SendFrame(f)
		if string(f) == "p" {
			panic("boom")
		}
	}}
	p := codec.NewCoalescingProtocol(codec.Line{}, r)
	p.ConnectionMade(lt)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the handler's panic did not come through")
			}
		}()
		p.DataReceived([]byte(lines("a", "p", "b")))
	}()
	if len(lt.log) != 0 {
		t.Fatalf("written after the panic: %q", lt.log)
	}
	// The loop is over: a frame sent now is written at once.
	_ = r.tr.SendFrame([]byte("after"))
	if want := []string{"wb:" + lines("after")}; !slices.Equal(lt.log, want) {
		t.Fatalf("after the panic: %q, want %q", lt.log, want)
	}
}

// TestCoalescingManyFrames: gathered output is written every 32 KiB or so,
// not held without bound, and nothing is lost or reordered.
func TestCoalescingManyFrames(t *testing.T) {
	lt := &logTransport{}
	r := &recorder{hook: func(r *recorder, f []byte) { _ = r.tr.SendFrame(f) }}
	p := codec.NewCoalescingProtocol(codec.Netstring{}, r)
	p.ConnectionMade(lt)
	var in, want []byte
	for i := range 2000 {
		f := []byte(strings.Repeat(string(rune('a'+i%26)), 1+i%100))
		in, _ = codec.Netstring{}.AppendFrame(in, f)
	}
	want = in
	p.DataReceived(in)
	if got := lt.written(); got != string(want) {
		t.Fatalf("echoed %d bytes, want the %d received", len(got), len(want))
	}
	if n := len(lt.log); n < 3 || n > 5 {
		t.Fatalf("%d writes for %d bytes, want about one per 32 KiB", n, len(want))
	}
	for i, w := range lt.log {
		if n := len(w) - 2; n > 33<<10 {
			t.Fatalf("write %d holds %d bytes", i, n)
		}
	}
}

// coalesceCodecs are the codecs the coalescing comparisons run over: each
// built-in codec, pointer codecs, and LengthPrefix sizes, byte orders and
// limits that refuse some replies.
var coalesceCodecs = []codec.Codec{
	codec.Line{MaxLength: 700}, codec.Netstring{MaxLength: 700}, codec.Int16(), codec.Line{Delimiter: []byte("|"), MaxLength: 700},
	&codec.Line{MaxLength: 300}, codec.Int32(), &codec.LengthPrefix{Size: 1},
	codec.LengthPrefix{Size: 3, LittleEndian: true, IncludesHeader: true, MaxLength: 600},
	codec.LengthPrefix{Size: 8, LittleEndian: true}, codec.LengthPrefix{LittleEndian: true}, codec.LengthPrefix{Size: 2, IncludesHeader: true, MaxLength: 400},
}

// coalesceRun feeds in, cut into reads by splitSeed, to a handler driven
// by script (replies of any size, raw writes, room queries, codec
// refusals, closes, aborts), through NewCoalescingProtocol if coalesce is
// set, else NewProtocol. It returns what the transport was given and how the
// connection ended, SendFrame's errors included.
func coalesceRun(c codec.Codec, in []byte, splitSeed, script uint64, coalesce bool) (string, string) {
	ft := &logTransport{}
	step := 0
	var errs []string // what SendFrame returned, refusals included
	send := func(r *recorder, b []byte) {
		if err := r.tr.SendFrame(b); err != nil {
			errs = append(errs, fmt.Sprintf("%d: %v", step, err))
		}
	}
	h := &recorder{hook: func(r *recorder, f []byte) {
		step++
		switch (script >> (step % 60)) & 7 {
		case 0:
			_, _ = r.tr.Write([]byte("<raw>"))
		case 1:
			r.tr.(weft.WriteRoomer).WriteRoom()
		case 2:
			send(r, bytes.Repeat(f, 2)) // maybe over the limit: refused
		case 3:
			if step == 7 {
				r.tr.LoseConnection()
				return
			}
		case 4:
			send(r, nil)
		case 6:
			send(r, append(bytes.Clone(f), '\n')) // a Line refuses it
		case 5:
			if step == 11 {
				r.tr.Abort()
				return
			}
		}
		send(r, f)
	}}
	var p weft.Protocol
	if coalesce {
		p = codec.NewCoalescingProtocol(c, h)
	} else {
		p = codec.NewProtocol(c, h)
	}
	p.ConnectionMade(ft)
	feedPieces(p, in, rand.New(rand.NewPCG(splitSeed, 8))) // the same splits in both runs
	p.ConnectionLost(nil)
	return ft.written(), fmt.Sprintf("lost %v, aborted %v, %d frames, reason %v, SendFrame errors %q", ft.lost, ft.aborted, len(h.frames), h.reason, errs)
}

// checkCoalesceSame fails t unless both adapters write the same bytes and
// end the same way for in, splitSeed and script (see coalesceRun).
func checkCoalesceSame(t *testing.T, c codec.Codec, in []byte, splitSeed, script uint64, rerun string) {
	t.Helper()
	a, aEnd := coalesceRun(c, in, splitSeed, script, false)
	b, bEnd := coalesceRun(c, in, splitSeed, script, true)
	if a != b || aEnd != bEnd {
		t.Fatalf("%s codec %#v:\n NewProtocol wrote %d bytes, ended %s\n coalescing  wrote %d bytes, ended %s\n first difference at byte %d",
			rerun, c, len(a), aEnd, len(b), bEnd, firstDiff(a, b))
	}
}

// TestPropertyCoalescingSameBytes: for random inputs split at random and
// random handler scripts (see coalesceRun), NewCoalescingProtocol writes
// exactly the bytes NewProtocol writes, in the same order, gets the same
// SendFrame errors, and closes the same way.
func TestPropertyCoalescingSameBytes(t *testing.T) {
	for _, seed := range testenv.Seeds(t, "WEFT_COALESCE_PROP", 300, 50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		c := coalesceCodecs[rng.IntN(len(coalesceCodecs))]
		var in []byte
		for range rng.IntN(40) {
			f := bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, rng.IntN(700))
			in, _ = c.AppendFrame(in, f)
		}
		if rng.IntN(4) == 0 { // a frame the decoder refuses, or a partial one
			in = append(in, bytes.Repeat([]byte("9"), 800)...)
		}
		checkCoalesceSame(t, c, in, seed, rng.Uint64(), fmt.Sprintf("seed %d (rerun: WEFT_COALESCE_PROP_SEED=%d)", seed, seed))
	}
}

// FuzzCoalescingSameBytes is TestPropertyCoalescingSameBytes over any input:
// hostile bytes (malformed frames, over-long ones, partial ones) included.
func FuzzCoalescingSameBytes(f *testing.F) {
	for i, c := range coalesceCodecs {
		var in []byte
		for j := range 5 {
			in, _ = c.AppendFrame(in, bytes.Repeat([]byte{byte('a' + j)}, 10*j+i))
		}
		f.Add(uint8(i), in, uint64(i), uint64(0x9e3779b97f4a7c15)*uint64(i+1))
	}
	f.Add(uint8(1), []byte("3:abc,5:hello,x:"), uint64(3), uint64(7))
	f.Add(uint8(0), []byte("one\r\ntwo\nthree\r\n\r\n"), uint64(9), uint64(1<<40))
	f.Fuzz(func(t *testing.T, ci uint8, in []byte, splitSeed, script uint64) {
		checkCoalesceSame(t, coalesceCodecs[int(ci)%len(coalesceCodecs)], in, splitSeed, script, "")
	})
}

// sendUntil is a hook that sends each frame back, but ends the connection
// with end at the frame stop.
func sendUntil(stop string, end func(codec.FrameTransport)) func(codec.FrameTransport, string) {
	return func(tr codec.FrameTransport, f string) {
		if f == stop {
			end(tr)
			return
		}
		_ = tr.SendFrame([]byte(f))
	}
}

// feedPieces delivers a copy of in to p in reads of random lengths drawn
// from split.
func feedPieces(p weft.Protocol, in []byte, split *rand.Rand) {
	for rest := bytes.Clone(in); len(rest) > 0; {
		n := 1 + split.IntN(len(rest))
		p.DataReceived(rest[:n])
		rest = rest[n:]
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestServeCoalescingEchoCountsFrames: over the runtime, on both engines, a
// coalescing echo answers pipelined frames and counts every frame out.
func TestServeCoalescingEchoCountsFrames(t *testing.T) {
	engines(t, func(t *testing.T, opts weft.Options) {
		e := &echo{lost: make(chan error, 1)}
		var counters weft.Counters
		opts.Counters = &counters
		cl := servePair(t, codec.NewCoalescingProtocol(codec.Line{}, e), &opts)
		var in []byte
		for i := range 300 {
			in = append(in, fmt.Sprintf("line %d\r\n", i)...)
		}
		if _, err := cl.Write(in); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(in))
		if _, err := io.ReadFull(cl, got); err != nil {
			t.Fatalf("read the echoes: %v", err)
		}
		if !bytes.Equal(got, in) {
			t.Fatalf("echoed %q..., want %q...", got[:40], in[:40])
		}
		if in, out := counters.FramesIn.Load(), counters.FramesOut.Load(); in != 300 || out != 300 {
			t.Fatalf("frames counted in %d out %d, want 300 and 300", in, out)
		}
		cl.Close()
		if err := <-e.lost; err != nil {
			t.Fatalf("ConnectionLost(%v) after the client closed, want nil", err)
		}
	})
}

// TestCoalescingStartTLS: the replies gathered before a StartTLS go out in
// clear text, before the handshake, as they do one by one; what is sent
// after it goes over TLS. Both engines.
func TestCoalescingStartTLS(t *testing.T) {
	engines(t, func(t *testing.T, opts weft.Options) {
		srvCfg, cliCfg := testenv.TLSConfigs(t)
		cl := servePair(t, codec.NewCoalescingProtocol(codec.Line{}, &starttlsEcho{cfg: srvCfg, reply: "220 go ahead"}), &opts)
		if _, err := cl.Write([]byte("a\r\nSTARTTLS\r\n")); err != nil {
			t.Fatal(err)
		}
		want := "a\r\n220 go ahead\r\n"
		got := make([]byte, len(want))
		if _, err := io.ReadFull(cl, got); err != nil || string(got) != want {
			t.Fatalf("clear text before the handshake: %q, %v; want %q", got, err, want)
		}
		checkTLSEcho(t, tls.Client(cl, cliCfg))
	})
}

// TestPropertyCoalescingLineReceiver: a LineReceiver with Coalesce writes
// exactly the bytes one without it writes, in the same order, and
// delivers the same events, for random inputs cut into random reads, with
// raw bodies ("RAW n" then n bytes, back to lines with SetLineMode) and
// random handler scripts: replies by SendLine (some refused, some over 512
// bytes), raw writes, room and buffered queries, closes and aborts.
func TestPropertyCoalescingLineReceiver(t *testing.T) {
	for _, seed := range testenv.Seeds(t, "WEFT_COALESCE_LINE_PROP", 300, 50) {
		rng := rand.New(rand.NewPCG(seed, 9))
		delim := []string{"", "|"}[rng.IntN(2)]
		end := "\r\n"
		if delim != "" {
			end = delim
		}
		var in []byte
		for range rng.IntN(30) {
			switch rng.IntN(6) {
			case 0:
				body := bytes.Repeat([]byte{byte('A' + rng.IntN(26))}, rng.IntN(900))
				in = append(in, fmt.Sprintf("RAW %d%s", len(body), end)...)
				in = append(in, body...)
			case 1:
				in = append(in, strings.Repeat("x", 1100)+end...) // over MaxLength
			default:
				in = append(in, strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(700))+end...)
			}
		}
		script := rng.Uint64()
		run := func(coalesce bool) (string, string) {
			ft := &logTransport{}
			need, step := 0, 0
			h := &lineRec{}
			reply := func(h *lineRec, b []byte) {
				step++
				tr := h.r.Transport()
				switch (script >> (step % 60)) & 15 {
				case 0:
					_, _ = tr.Write([]byte("<raw>"))
				case 1:
					tr.(weft.WriteRoomer).WriteRoom()
				case 2:
					tr.Buffered()
				case 3:
					_ = h.r.SendLine(bytes.Repeat(b, 2)) // maybe over the limit: refused
				case 4:
					_ = h.r.SendLine([]byte("a" + end + "b")) // refused: holds the delimiter
				case 5:
					if step == 9 {
						tr.LoseConnection()
						return
					}
				case 6:
					if step == 13 {
						tr.Abort()
						return
					}
				}
				_ = h.r.SendLine(b)
			}
			h.onLine = func(h *lineRec, line []byte) {
				if n, err := fmt.Sscanf(string(line), "RAW %d", &need); n == 1 && err == nil {
					h.r.SetRawMode()
					return
				}
				reply(h, line)
			}
			h.onRaw = func(h *lineRec, data []byte) {
				n := min(need, len(data))
				reply(h, bytes.ToUpper(data[:n]))
				if need -= n; need == 0 {
					h.r.SetLineMode(data[n:])
				}
			}
			r := codec.NewLineReceiver(h)
			r.Delimiter, r.MaxLength, r.Coalesce = []byte(delim), 1000, coalesce
			r.ConnectionMade(ft)
			feedPieces(r, in, rand.New(rand.NewPCG(seed, 10))) // the same reads in both runs
			r.ConnectionLost(nil)
			return ft.written(), fmt.Sprintf("lost %v, aborted %v, events %q, reason %v", ft.lost, ft.aborted, h.events, h.reason)
		}
		a, aEnd := run(false)
		b, bEnd := run(true)
		if a != b || aEnd != bEnd {
			t.Fatalf("seed %d (rerun: WEFT_COALESCE_LINE_PROP_SEED=%d) delimiter %q:\n without Coalesce wrote %d bytes, ended %.300s\n with it         wrote %d bytes, ended %.300s\n first difference at byte %d",
				seed, seed, delim, len(a), aEnd, len(b), bEnd, firstDiff(a, b))
		}
	}
}

// TestServeCoalescingLineReceiver: over the runtime, on both engines, a
// coalescing LineReceiver answers pipelined lines and a raw body, and
// counts every line out.
func TestServeCoalescingLineReceiver(t *testing.T) {
	engines(t, func(t *testing.T, opts weft.Options) {
		var counters weft.Counters
		opts.Counters = &counters
		need := 0
		h := &lineRec{}
		h.onLine = func(h *lineRec, line []byte) {
			if n, _ := fmt.Sscanf(string(line), "RAW %d", &need); n == 1 {
				h.r.SetRawMode()
				return
			}
			_ = h.r.SendLine(line)
		}
		h.onRaw = func(h *lineRec, data []byte) {
			n := min(need, len(data))
			_ = h.r.SendLine(bytes.ToUpper(data[:n]))
			if need -= n; need == 0 {
				h.r.SetLineMode(data[n:])
			}
		}
		r := codec.NewLineReceiver(h)
		r.Coalesce = true
		cl := servePair(t, r, &opts)
		var in, want []byte
		for i := range 200 {
			in = append(in, fmt.Sprintf("line %d\r\n", i)...)
			want = append(want, fmt.Sprintf("line %d\r\n", i)...)
		}
		in = append(in, "RAW 3\r\nabcdone\r\n"...)
		want = append(want, "ABC\r\ndone\r\n"...)
		if _, err := cl.Write(in); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(cl, got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("answers: %q, %v", got, err)
		}
		if out := counters.FramesOut.Load(); out != 202 {
			t.Fatalf("frames counted out %d, want 202", out)
		}
	})
}
