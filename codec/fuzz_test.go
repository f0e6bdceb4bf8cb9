package codec_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/codectest"
)

func seeds(f *testing.F, wires ...string) {
	for i, w := range wires {
		f.Add([]byte(w), uint64(i))
	}
}

// bounded makes the decoders of c check codec.Decoder's memory bound on
// every call: an error comes before the buffered bytes pass the limit plus
// the framing overhead, so a decoder never asks for more bytes once it holds
// as many as the wire form of the largest payload it accepts (largest). A
// violation panics, which fails the fuzz input (codectest.Fuzz has no other
// hook into the decoder).
func bounded(c codec.Codec, largest []byte) func() codec.Codec {
	wire, err := c.AppendFrame(nil, largest)
	if err != nil {
		panic(fmt.Sprintf("bounded: the largest payload is refused: %v", err))
	}
	b := boundedCodec{c, len(wire)}
	return func() codec.Codec { return b }
}

type boundedCodec struct {
	codec.Codec
	maxWire int
}

func (c boundedCodec) NewDecoder() codec.Decoder {
	return &boundedDecoder{c.Codec.NewDecoder(), c.maxWire}
}

type boundedDecoder struct {
	codec.Decoder
	maxWire int
}

func (d *boundedDecoder) Decode(buf []byte) (int, []byte, error) {
	adv, frame, err := d.Decoder.Decode(buf)
	if adv == 0 && err == nil && len(buf) >= d.maxWire {
		panic(fmt.Sprintf("decoder waits for more with %d bytes buffered (%q...); the largest frame it accepts is %d bytes on the wire",
			len(buf), buf[:min(len(buf), 24)], d.maxWire))
	}
	return adv, frame, err
}

func FuzzLine(f *testing.F) {
	seeds(f, "a\nb\r\n\r\r\n", "\n\n", "xxxxxxxxxxxxxxxxx\r", "no end", "\r\n\r")
	codectest.FuzzAgainst(f, bounded(codec.Line{MaxLength: 16}, bytes.Repeat([]byte("x"), 16)), false, refLine(16))
}

func FuzzLineDelimiter(f *testing.F) {
	seeds(f, "abacaba", "ab", "xaabax", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	codectest.FuzzAgainst(f, bounded(codec.Line{Delimiter: []byte("aba"), MaxLength: 16}, bytes.Repeat([]byte("x"), 16)), false, refStrictLine([]byte("aba"), 16))
}

func FuzzNetstring(f *testing.F) {
	seeds(f, "0:,", "1:a,2:bc,", "01:a,", "10000000000:", "3:a", "5:hello,x", "-1:", "1:a;")
	codectest.FuzzAgainst(f, bounded(codec.Netstring{MaxLength: 64}, make([]byte, 64)), false, refNetstring(64))
}

func FuzzInt16(f *testing.F) {
	seeds(f, "\x00\x00", "\x00\x01a\x00\x02bc", "\xff\xff", "\x00\x05hel")
	codectest.FuzzAgainst(f, bounded(codec.LengthPrefix{Size: 2, MaxLength: 64}, make([]byte, 64)), false, refLengthPrefix(codec.LengthPrefix{Size: 2, MaxLength: 64}))
}

func FuzzLengthPrefix8LE(f *testing.F) {
	seeds(f, "\x08\x00\x00\x00\x00\x00\x00\x00", "\x09\x00\x00\x00\x00\x00\x00\x00a", "\x00\x00\x00\x00\x00\x00\x00\x80", "\x01")
	lp := codec.LengthPrefix{Size: 8, LittleEndian: true, IncludesHeader: true, MaxLength: 64}
	codectest.FuzzAgainst(f, bounded(lp, make([]byte, 64)), false, refLengthPrefix(lp))
}

// modeScript is a LineHandler driven by a script: after line i, script byte
// s = script[i%len] decides: s%4 == 0 switches to raw mode for 1+s/4 bytes,
// s%4 == 1 injects "x\n" with SetLineMode (unless the line is such an
// injected "x"), otherwise nothing happens.
type modeScript struct {
	r      *codec.LineReceiver
	script []byte
	lines  int
	need   int
	raw    []byte
	events []string
}

func (h *modeScript) ConnectionMade(r *codec.LineReceiver) { h.r = r }
func (h *modeScript) ConnectionLost(error)                 {}
func (h *modeScript) LineReceived(line []byte) {
	h.events = append(h.events, "line:"+string(line))
	if len(h.script) == 0 {
		return
	}
	s := h.script[h.lines%len(h.script)]
	h.lines++
	switch s % 4 {
	case 0:
		h.need = 1 + int(s/4)
		h.r.SetRawMode()
	case 1:
		if string(line) != "x" { // an injected line injects nothing: no endless loop
			h.r.SetLineMode([]byte("x\n"))
		}
	}
}
func (h *modeScript) RawDataReceived(data []byte) {
	n := min(h.need, len(data))
	h.raw = append(h.raw, data[:n]...)
	h.need -= n
	if h.need == 0 {
		h.events = append(h.events, "raw:"+string(h.raw))
		h.raw = nil
		h.r.SetLineMode(data[n:])
	}
}

func runModes(data, script []byte, chunks [][]byte, piece int) ([]string, bool) {
	h := &modeScript{script: script}
	r := codec.NewLineReceiver(h)
	r.MaxLength = 16
	codec.SetMinPiece(r, piece)
	tr := &fakeTransport{}
	r.ConnectionMade(tr)
	for _, c := range chunks {
		r.DataReceived(c)
	}
	if len(h.raw) > 0 {
		h.events = append(h.events, "partial raw:"+string(h.raw))
	}
	return h.events, tr.lost
}

// FuzzLineReceiverModes: any sequence of mode switches gives the events of
// an independent model (refModes), whatever the chunking of the input.
func FuzzLineReceiverModes(f *testing.F) {
	f.Add([]byte("HEAD\r\n0123\r\n6789TAIL\r\n"), []byte{36}, uint64(1))
	f.Add([]byte("a\nb\nc\nd\ne\n"), []byte{0, 1, 2, 5}, uint64(2))
	f.Add([]byte("a\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\nc\n"), []byte{4}, uint64(3))
	f.Fuzz(func(t *testing.T, data, script []byte, seed uint64) {
		want, closed := runModes(data, script, [][]byte{data}, 0)
		if ref, refClosed := refModes(data, script); !slices.Equal(want, ref) || closed != refClosed {
			t.Fatalf("events %q closed %v; reference model: %q closed %v", want, closed, ref, refClosed)
		}
		for _, chunks := range [][][]byte{
			codectest.Chunks(data, 1, nil),
			codectest.Chunks(data, 0, rand.New(rand.NewPCG(seed, 7))),
		} {
			got, gotClosed := runModes(data, script, chunks, 1+int(seed%5))
			if !slices.Equal(got, want) || gotClosed != closed {
				t.Fatalf("chunks %q:\n got %q closed %v\nwant %q closed %v", chunks, got, gotClosed, want, closed)
			}
		}
	})
}
