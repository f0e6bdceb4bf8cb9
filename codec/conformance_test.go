package codec_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/codectest"
)

// payloads returns sample payloads up to max bytes, ending with one of max.
func payloads(max int) [][]byte {
	var out [][]byte
	for _, p := range [][]byte{
		{}, []byte("a"), []byte("hello world"), []byte("with\rcarriage\rreturns\r"),
		bytes.Repeat([]byte("x"), 200), bytes.Repeat([]byte("x"), 1000),
	} {
		if len(p) < max {
			out = append(out, p)
		}
	}
	return append(out, bytes.Repeat([]byte("y"), max))
}

func TestConformanceLine(t *testing.T) {
	const max = 16 << 10
	long := bytes.Repeat([]byte("z"), max+1)
	codectest.Run(t, func() codec.Codec { return codec.Line{} }, codectest.Samples{
		Frames: payloads(max),
		Refused: []codectest.Refusal{
			{Name: "too long", Payload: long, Err: codec.ErrFrameTooLarge},
			{Name: "newline inside", Payload: []byte("a\nb"), Err: codec.ErrDelimiter},
		},
		Invalid: []codectest.Invalid{
			{Name: "long line", Wire: append(long, '\n'), Err: codec.ErrFrameTooLarge},
			{Name: "long unterminated", Wire: append(long, 'z'), Err: codec.ErrFrameTooLarge},
			{Name: "long line with CR", Wire: append(append(bytes.Clone(long), '\r'), '\n'), Err: codec.ErrFrameTooLarge},
		},
	})
}

func TestConformanceLineDelimiter(t *testing.T) {
	c := codec.Line{Delimiter: []byte("\r\n"), MaxLength: 100}
	codectest.Run(t, func() codec.Codec { return c }, codectest.Samples{
		Frames: [][]byte{{}, []byte("a"), []byte("lone\nnewline"), []byte("cr at end\r"), bytes.Repeat([]byte("q"), 100)},
		Refused: []codectest.Refusal{
			{Name: "too long", Payload: bytes.Repeat([]byte("q"), 101), Err: codec.ErrFrameTooLarge},
			{Name: "delimiter inside", Payload: []byte("a\r\nb"), Err: codec.ErrDelimiter},
		},
		Invalid: []codectest.Invalid{
			{Name: "long line", Wire: []byte(strings.Repeat("q", 101) + "\r\n"), Err: codec.ErrFrameTooLarge},
			{Name: "long unterminated", Wire: []byte(strings.Repeat("q", 102)), Err: codec.ErrFrameTooLarge},
		},
	})
}

func TestConformanceLineOverlappingDelimiter(t *testing.T) {
	c := codec.Line{Delimiter: []byte("aba"), MaxLength: 64}
	codectest.Run(t, func() codec.Codec { return c }, codectest.Samples{
		Frames: [][]byte{{}, []byte("a"), []byte("xa"), []byte("abb"), []byte("bbbb")},
		Refused: []codectest.Refusal{
			{Name: "delimiter inside", Payload: []byte("xabax"), Err: codec.ErrDelimiter},
			{Name: "delimiter across the end", Payload: []byte("xab"), Err: codec.ErrDelimiter},
		},
	})
}

func TestConformanceNetstring(t *testing.T) {
	const max = 1 << 20
	codectest.Run(t, func() codec.Codec { return codec.Netstring{} }, codectest.Samples{
		Frames: append(payloads(max), []byte("1:a,"), []byte(":,")),
		Refused: []codectest.Refusal{
			{Name: "too long", Payload: make([]byte, max+1), Err: codec.ErrFrameTooLarge},
		},
		Invalid: []codectest.Invalid{
			{Name: "10 GB announced", Wire: []byte("10000000000:"), Err: codec.ErrFrameTooLarge},
			{Name: "over limit before colon", Wire: []byte("1048577"), Err: codec.ErrFrameTooLarge},
			{Name: "huge digits", Wire: []byte(strings.Repeat("9", 40)), Err: codec.ErrFrameTooLarge},
			{Name: "leading zero", Wire: []byte("01:a,"), Err: codec.ErrMalformed},
			{Name: "double zero", Wire: []byte("00"), Err: codec.ErrMalformed},
			{Name: "sign", Wire: []byte("+1:a,"), Err: codec.ErrMalformed},
			{Name: "minus", Wire: []byte("-1:a,"), Err: codec.ErrMalformed},
			{Name: "space", Wire: []byte(" 1:a,"), Err: codec.ErrMalformed},
			{Name: "no length", Wire: []byte(":a,"), Err: codec.ErrMalformed},
			{Name: "no comma", Wire: []byte("1:ab"), Err: codec.ErrMalformed},
			{Name: "letters", Wire: []byte("abc"), Err: codec.ErrMalformed},
			{Name: "arabic digit", Wire: []byte("\xd9\xa1:a,"), Err: codec.ErrMalformed},
			{Name: "newline after length", Wire: []byte("1\n"), Err: codec.ErrMalformed},
			{Name: "error after a good frame", Wire: []byte("1:a,x"), Err: codec.ErrMalformed},
		},
	})
}

func TestConformanceLengthPrefix(t *testing.T) {
	cases := []struct {
		name string
		c    codec.LengthPrefix
		max  int
		bad  []codectest.Invalid
	}{
		{"Int8", codec.Int8(), 255, nil},
		{"Int16 limited", codec.LengthPrefix{Size: 2, MaxLength: 1000}, 1000, nil},
		{"Int16", codec.Int16(), 65535, nil},
		{"Int32", codec.Int32(), 1 << 20, []codectest.Invalid{
			{Name: "over limit", Wire: []byte{0, 0x10, 0, 1}, Err: codec.ErrFrameTooLarge},
			{Name: "4 GB announced", Wire: []byte{0xff, 0xff, 0xff, 0xff}, Err: codec.ErrFrameTooLarge},
		}},
		{"3 bytes little endian", codec.LengthPrefix{Size: 3, LittleEndian: true, MaxLength: 5000}, 5000, []codectest.Invalid{
			{Name: "over limit", Wire: []byte{0x89, 0x13, 0}, Err: codec.ErrFrameTooLarge},
		}},
		{"8 bytes", codec.LengthPrefix{Size: 8}, 1 << 20, []codectest.Invalid{
			{Name: "10 GB announced", Wire: []byte{0, 0, 0, 2, 0x54, 0x0b, 0xe4, 0}, Err: codec.ErrFrameTooLarge},
			{Name: "2^64-1 announced", Wire: bytes.Repeat([]byte{0xff}, 8), Err: codec.ErrFrameTooLarge},
		}},
		{"2 bytes includes header", codec.LengthPrefix{Size: 2, IncludesHeader: true}, 65533, []codectest.Invalid{
			{Name: "length below header", Wire: []byte{0, 1}, Err: codec.ErrMalformed},
		}},
		{"8 bytes LE includes header", codec.LengthPrefix{Size: 8, LittleEndian: true, IncludesHeader: true, MaxLength: 100}, 100, []codectest.Invalid{
			{Name: "length below header", Wire: []byte{7, 0, 0, 0, 0, 0, 0, 0}, Err: codec.ErrMalformed},
			{Name: "10 GB announced", Wire: []byte{0, 0xe4, 0x0b, 0x54, 2, 0, 0, 0}, Err: codec.ErrFrameTooLarge},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Limit(); got != tc.max {
				t.Fatalf("Limit() = %d, want %d", got, tc.max)
			}
			codectest.Run(t, func() codec.Codec { return tc.c }, codectest.Samples{
				Frames:  payloads(tc.max),
				Refused: []codectest.Refusal{{Name: "over limit", Payload: make([]byte, tc.max+1), Err: codec.ErrFrameTooLarge}},
				Invalid: tc.bad,
			})
		})
	}
}

func TestConformanceRaw(t *testing.T) {
	codectest.Run(t, func() codec.Codec { return codec.Raw{} }, codectest.Samples{
		Frames: [][]byte{[]byte("a"), []byte("raw bytes\n\r\x00"), bytes.Repeat([]byte{0xff}, 70000)},
		Stream: true,
	})
}
