package codec_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/codectest"
)

func decodeString(c codec.Codec, in string) ([]string, error) {
	r := codectest.Decode(c, [][]byte{[]byte(in)})
	var out []string
	for _, f := range r.Frames {
		out = append(out, string(f))
	}
	return out, r.Err
}

func TestLineDecode(t *testing.T) {
	tests := []struct {
		name string
		c    codec.Line
		in   string
		want []string
		err  error
	}{
		{"LF and CRLF", codec.Line{}, "a\nb\r\n\r\n\n", []string{"a", "b", "", ""}, nil},
		{"only one CR stripped", codec.Line{}, "a\r\r\n", []string{"a\r"}, nil},
		{"lone CR kept", codec.Line{}, "a\rb\n", []string{"a\rb"}, nil},
		{"at limit", codec.Line{MaxLength: 3}, "abc\r\nabc\n", []string{"abc", "abc"}, nil},
		{"over limit", codec.Line{MaxLength: 3}, "abcd\n", nil, codec.ErrFrameTooLarge},
		{"at limit waiting for LF", codec.Line{MaxLength: 3}, "abc\r", nil, nil},
		{"over limit unterminated", codec.Line{MaxLength: 3}, "abcd", nil, codec.ErrFrameTooLarge},
		{"strict CRLF keeps LF", codec.Line{Delimiter: []byte("\r\n")}, "a\nb\r\n", []string{"a\nb"}, nil},
		{"strict NUL", codec.Line{Delimiter: []byte{0}}, "a\x00\x00b", []string{"a", ""}, nil},
		{"strict partial delimiter tolerated", codec.Line{Delimiter: []byte("\r\n"), MaxLength: 2}, "ab\r", nil, nil},
		{"strict over", codec.Line{Delimiter: []byte("\r\n"), MaxLength: 2}, "abc\r", nil, codec.ErrFrameTooLarge},
		{"invalid", codec.Line{MaxLength: -1}, "a\n", nil, codec.ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeString(tc.c, tc.in)
			if !slices.Equal(got, tc.want) || !errors.Is(err, tc.err) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestNetstringErrorsNameOffsetAndReason(t *testing.T) {
	tests := []struct {
		in   string
		err  error
		text string
	}{
		{"1:a,01:", codec.ErrMalformed, "stream offset 5 (byte 1 of the frame): leading zero"},
		{"1:a,1:bc", codec.ErrMalformed, "stream offset 7 (byte 3 of the frame): byte 'c' where ',' was expected"},
		{"x", codec.ErrMalformed, "stream offset 0 (byte 0 of the frame): byte 'x' where a digit or ':' was expected"},
		{":", codec.ErrMalformed, "length expected before ':'"},
		{"2:ab,1000001:", codec.ErrFrameTooLarge, "netstring at stream offset 5 announces 1000001+ bytes, MaxLength is 1048576"},
	}
	for _, tc := range tests {
		_, err := decodeString(codec.Netstring{MaxLength: 1 << 20}, tc.in)
		if tc.err == codec.ErrFrameTooLarge {
			_, err = decodeString(codec.Netstring{MaxLength: 1000000}, tc.in)
			tc.text = strings.Replace(tc.text, "1048576", "1000000", 1)
		}
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%q: %v, want %v containing %q", tc.in, err, tc.err, tc.text)
		}
	}
}

// Twisted's NetstringReceiver rejects an over-limit length before the colon:
// with MAX_LENGTH 99999, "100000" fails at once and "99999:" is accepted.
func TestNetstringEarlyRejection(t *testing.T) {
	c := codec.Netstring{MaxLength: 99999}
	if _, err := decodeString(c, "100000"); !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Fatalf("100000: %v", err)
	}
	if _, err := decodeString(c, "99999:"); err != nil {
		t.Fatalf("99999: %v", err)
	}
	if _, err := decodeString(c, "0"); err != nil {
		t.Fatalf("a lone 0 must wait: %v", err)
	}
}

// A MaxLength below 9 must refuse a one-digit length above it: "7:" with
// MaxLength 5 is ErrFrameTooLarge (Twisted: int(digits) > MAX_LENGTH), at
// once, before the payload arrives.
func TestNetstringSmallMaxLength(t *testing.T) {
	for max := 1; max <= 9; max++ {
		c := codec.Netstring{MaxLength: max}
		for d := 0; d <= 9; d++ {
			payload := strings.Repeat("x", d)
			for _, in := range []string{fmt.Sprint(d), fmt.Sprintf("%d:%s,", d, payload)} {
				got, err := decodeString(c, in)
				if d > max {
					if !errors.Is(err, codec.ErrFrameTooLarge) || len(got) != 0 {
						t.Errorf("MaxLength %d, %q: frames %q, %v; want ErrFrameTooLarge", max, in, got, err)
					}
					continue
				}
				if err != nil || (len(in) > 1 && !slices.Equal(got, []string{payload})) {
					t.Errorf("MaxLength %d, %q: frames %q, %v", max, in, got, err)
				}
			}
		}
	}
}

// A MaxLength near math.MaxInt ("no practical limit") must not overflow:
// partial lines wait, and a huge announced length waits for its payload
// (never a panic, never a spurious ErrFrameTooLarge).
func TestHugeMaxLengthNoOverflow(t *testing.T) {
	tests := []struct {
		name string
		c    codec.Codec
		in   string
		want []string
	}{
		{"line", codec.Line{MaxLength: math.MaxInt}, "ab\ncd", []string{"ab"}},
		{"line at MaxInt-1", codec.Line{MaxLength: math.MaxInt - 1}, "ab\ncd\r", []string{"ab"}},
		{"strict line", codec.Line{Delimiter: []byte("\r\n"), MaxLength: math.MaxInt}, "ab\r\ncd\r", []string{"ab"}},
		{"netstring", codec.Netstring{MaxLength: math.MaxInt}, "2:ab,9223372036854775807:ab", []string{"ab"}},
		{"netstring near MaxInt", codec.Netstring{MaxLength: math.MaxInt}, "9223372036854775800:ab", nil},
		{"length prefix 8", codec.LengthPrefix{Size: 8, MaxLength: math.MaxInt}, "\x7f\xff\xff\xff\xff\xff\xff\xffab", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
					}
				}()
				got, err = decodeString(tc.c, tc.in)
			}()
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("frames %q, %v; want %q and no error", got, err, tc.want)
			}
		})
	}
}

func TestLengthPrefixWireFormat(t *testing.T) {
	tests := []struct {
		c    codec.LengthPrefix
		wire string
	}{
		{codec.Int8(), "\x02hi"},
		{codec.Int16(), "\x00\x02hi"},
		{codec.Int32(), "\x00\x00\x00\x02hi"},
		{codec.LengthPrefix{Size: 3}, "\x00\x00\x02hi"},
		{codec.LengthPrefix{Size: 3, LittleEndian: true}, "\x02\x00\x00hi"},
		{codec.LengthPrefix{Size: 8, LittleEndian: true}, "\x02\x00\x00\x00\x00\x00\x00\x00hi"},
		{codec.LengthPrefix{Size: 2, IncludesHeader: true}, "\x00\x04hi"},
	}
	for _, tc := range tests {
		out, err := tc.c.AppendFrame(nil, []byte("hi"))
		if err != nil || string(out) != tc.wire {
			t.Errorf("%+v: %q, %v; want %q", tc.c, out, err, tc.wire)
		}
	}
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		c     codec.Codec
		field string
	}{
		{codec.Line{MaxLength: -1}, "Line.MaxLength"},
		{codec.Netstring{MaxLength: -5}, "Netstring.MaxLength"},
		{codec.LengthPrefix{Size: 5}, "LengthPrefix.Size"},
		{codec.LengthPrefix{MaxLength: -1}, "LengthPrefix.MaxLength"},
		{nil, "nil Codec"},
	}
	for _, tc := range tests {
		err := codec.Validate(tc.c)
		if !errors.Is(err, codec.ErrConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%#v: %v, want ErrConfig naming %s", tc.c, err, tc.field)
		}
		if tc.c == nil {
			continue
		}
		if _, err := tc.c.AppendFrame(nil, nil); !errors.Is(err, codec.ErrConfig) {
			t.Errorf("%#v: AppendFrame %v", tc.c, err)
		}
	}
	for _, c := range []codec.Codec{codec.Line{}, codec.Netstring{}, codec.LengthPrefix{}, codec.Raw{}} {
		if err := codec.Validate(c); err != nil {
			t.Errorf("zero value %T: %v", c, err)
		}
	}
}
