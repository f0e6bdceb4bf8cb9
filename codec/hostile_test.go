package codec_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/codectest"
)

// TestLengthPrefixHostileHeaders: every size, byte order and IncludesHeader
// setting refuses an all-ones length field (2^64-1 on 8 bytes) with
// ErrFrameTooLarge, also with MaxLength math.MaxInt, and a length smaller
// than the header it includes with ErrMalformed; one-byte reads give the
// same errors, and the messages name the offset.
func TestLengthPrefixHostileHeaders(t *testing.T) {
	for _, size := range []int{1, 2, 3, 4, 8} {
		for _, little := range []bool{false, true} {
			for _, incl := range []bool{false, true} {
				for _, max := range []int{0, 100, math.MaxInt} {
					c := codec.LengthPrefix{Size: size, LittleEndian: little, IncludesHeader: incl, MaxLength: max}
					ones := append(bytes.Repeat([]byte{0xff}, size), "payload"...)
					wantOnes := codec.ErrFrameTooLarge
					v := uint64(math.MaxUint64) >> (64 - 8*size)
					if incl {
						v -= uint64(size)
					}
					if v <= uint64(c.Limit()) {
						wantOnes = nil // the largest expressible length is accepted: waits for it
					}
					for _, chunk := range []int{len(ones), 1} {
						r := codectest.Decode(c, codectest.Chunks(ones, chunk, nil))
						if !errors.Is(r.Err, wantOnes) || (wantOnes == nil && r.Err != nil) {
							t.Errorf("%+v all-ones header, reads of %d: err %v, want %v", c, chunk, r.Err, wantOnes)
						}
						if r.Err != nil && !strings.Contains(r.Err.Error(), "stream offset 0") {
							t.Errorf("%+v: message %q does not name the offset", c, r.Err)
						}
					}
					if !incl {
						continue
					}
					var field [8]byte
					binary.BigEndian.PutUint64(field[:], uint64(size-1))
					hdr := field[8-size:]
					if little {
						slices.Reverse(hdr)
					}
					if r := codectest.Decode(c, [][]byte{hdr}); !errors.Is(r.Err, codec.ErrMalformed) {
						t.Errorf("%+v length %d: err %v, want ErrMalformed", c, size-1, r.Err)
					}
				}
			}
		}
	}
	// 8 bytes announcing exactly math.MaxInt with the header counted:
	// accepted by a MaxInt limit, so the decoder waits (no overflow).
	c := codec.LengthPrefix{Size: 8, IncludesHeader: true, MaxLength: math.MaxInt}
	hdr := binary.BigEndian.AppendUint64(nil, uint64(math.MaxInt)+8)
	if r := codectest.Decode(c, [][]byte{hdr, []byte("abc")}); r.Err != nil || len(r.Frames) != 0 || r.Rest != 11 {
		t.Errorf("MaxInt+8 with IncludesHeader: %+v, want waiting for the payload", r)
	}
	hdr = binary.BigEndian.AppendUint64(nil, uint64(math.MaxInt)+9)
	if r := codectest.Decode(c, [][]byte{hdr}); !errors.Is(r.Err, codec.ErrFrameTooLarge) {
		t.Errorf("MaxInt+9 with IncludesHeader: err %v, want ErrFrameTooLarge", r.Err)
	}
}

// TestNetstringHostileLengths: leading zeros, digit strings far beyond int64,
// a missing comma and signs are refused with the documented sentinel, whole
// and one byte at a time.
func TestNetstringHostileLengths(t *testing.T) {
	for _, tc := range []struct {
		c    codec.Netstring
		wire string
		want error
	}{
		{codec.Netstring{}, "00:,", codec.ErrMalformed},
		{codec.Netstring{}, "01:a,", codec.ErrMalformed},
		{codec.Netstring{}, "0", nil},
		{codec.Netstring{MaxLength: math.MaxInt}, strings.Repeat("9", 200) + ":", codec.ErrFrameTooLarge},
		{codec.Netstring{MaxLength: math.MaxInt}, "9223372036854775808:", codec.ErrFrameTooLarge},
		{codec.Netstring{MaxLength: math.MaxInt}, "9223372036854775807:", nil},
		{codec.Netstring{}, "3:abcX", codec.ErrMalformed},
		{codec.Netstring{}, "3:abc;3:abc,", codec.ErrMalformed},
		{codec.Netstring{}, "+3:abc,", codec.ErrMalformed},
		{codec.Netstring{}, " 3:abc,", codec.ErrMalformed},
		{codec.Netstring{}, ":", codec.ErrMalformed},
	} {
		for _, chunk := range []int{len(tc.wire), 1} {
			r := codectest.Decode(tc.c, codectest.Chunks([]byte(tc.wire), chunk, nil))
			if !errors.Is(r.Err, tc.want) || (tc.want == nil && r.Err != nil) {
				t.Errorf("%q (reads of %d): err %v, want %v", tc.wire, chunk, r.Err, tc.want)
			}
		}
	}
}

// TestDelimiterSplitAtEveryPosition: a LineReceiver with a multi-byte,
// self-overlapping delimiter gives the same lines whatever read boundary
// falls inside the delimiter, lines of exactly MaxLength included, and
// refuses MaxLength+1.
func TestDelimiterSplitAtEveryPosition(t *testing.T) {
	for _, delim := range []string{"\r\n", "abab", "\r\n\r\n", "aab"} {
		line := strings.Repeat("x", 8) // MaxLength
		stream := []byte("a" + delim + line + delim + "b" + delim)
		want := []string{"line:a", "line:" + line, "line:b"}
		for i := 0; i <= len(stream); i++ {
			for _, piece := range []int{0, 1} {
				h := &lineRec{}
				r := codec.NewLineReceiver(h)
				r.Delimiter, r.MaxLength = []byte(delim), 8
				codec.SetMinPiece(r, piece)
				tr := &fakeTransport{}
				r.ConnectionMade(tr)
				r.DataReceived(stream[:i])
				r.DataReceived(stream[i:])
				if !slices.Equal(h.events, want) || tr.lost {
					t.Fatalf("delim %q split at %d: events %q closed %v, want %q", delim, i, h.events, tr.lost, want)
				}
			}
		}
		long := []byte(strings.Repeat("x", 9) + delim)
		for i := 0; i <= len(long); i++ {
			h := &lineRec{}
			r := codec.NewLineReceiver(h)
			r.Delimiter, r.MaxLength = []byte(delim), 8
			r.ConnectionMade(&fakeTransport{})
			r.DataReceived(long[:i])
			r.DataReceived(long[i:])
			r.ConnectionLost(nil)
			if len(h.events) != 0 || !errors.Is(h.reason, codec.ErrFrameTooLarge) {
				t.Fatalf("delim %q, 9-byte line split at %d: events %q reason %v", delim, i, h.events, h.reason)
			}
		}
	}
}

// TestPartialFrameMemoryBound: a peer that never completes a frame makes
// the adapter hold at most about the limit plus one read, for every codec
// (the line codecs refuse before, the length codecs wait for the announced
// limit).
func TestPartialFrameMemoryBound(t *testing.T) {
	const limit, read = 256 << 10, 64 << 10
	for _, c := range []codec.Codec{
		codec.Line{MaxLength: limit},
		codec.Line{MaxLength: limit, Delimiter: []byte("\r\n")},
		codec.Netstring{MaxLength: limit},
		codec.LengthPrefix{Size: 8, MaxLength: limit},
	} {
		wire, _ := c.AppendFrame(nil, bytes.Repeat([]byte("x"), limit))
		wire = wire[:len(wire)-2] // never completed (Line: no line end)
		rec := &recorder{}
		p := start(c, rec, &fakeTransport{})
		most := 0
		for len(wire) > 0 {
			n := min(read-7, len(wire)) // reads not aligned with anything
			p.DataReceived(wire[:n])
			wire = wire[n:]
			most = max(most, codec.BufCap(p))
		}
		if most > limit+read+64 {
			t.Errorf("%T: held a %d-byte buffer for a frame limited to %d bytes read %d at a time", c, most, limit, read)
		}
		p.ConnectionLost(nil)
	}
}

// endlessX is a reader of endless 'x' bytes, n per Read.
type endlessX struct{ n int }

func (e *endlessX) Read(p []byte) (int, error) {
	n := min(len(p), e.n)
	for i := range p[:n] {
		p[i] = 'x'
	}
	return n, nil
}

// TestFrameReaderPartialFrameMemoryBound: FrameReader over a peer that never
// ends its frame holds about the limit plus a read, not twice the limit
// (its buffer used to double, so a frame one byte over 1 MiB held 2 MiB).
func TestFrameReaderPartialFrameMemoryBound(t *testing.T) {
	const limit = 1 << 20
	for _, c := range []codec.Codec{codec.Line{MaxLength: limit}, codec.Netstring{MaxLength: limit}} {
		var r io.Reader = &endlessX{n: 4096}
		if _, ok := c.(codec.Netstring); ok {
			r = io.MultiReader(strings.NewReader("1048576:"), r)
		}
		fr := codec.NewFrameReader(r, c)
		if _, err := fr.ReadFrame(); err == nil {
			t.Fatalf("%T: no error", c)
		}
		if n := cap(fr.Buffered()); n > limit+limit/4+16<<10 {
			t.Errorf("%T: a %d-byte buffer for a frame limited to %d bytes", c, n, limit)
		}
	}
}
