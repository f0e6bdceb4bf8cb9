package frameconn_test

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/frameconn"
)

// A decoder is broken after a decode error until Reset, and Reset forgets
// the error (codec.Decoder's contract); a configuration error stays.
func TestLengthFieldResetClearsDecodeError(t *testing.T) {
	d := frameconn.LengthField{Decoder: frameconn.DecoderConfig{LengthFieldLength: 1, MaxFrameLength: 10}}.NewDecoder()
	if _, _, err := d.Decode([]byte{0xff}); !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
	if _, _, err := d.Decode([]byte{0xff}); err == nil {
		t.Fatal("decoder not broken after an error")
	}
	d.Reset()
	if n, f, err := d.Decode([]byte{2, 'h', 'i'}); err != nil || n != 3 || string(f) != "\x02hi" {
		t.Fatalf("after Reset: %d %q %v", n, f, err)
	}
	bad := frameconn.LengthField{Decoder: frameconn.DecoderConfig{LengthFieldLength: 5}}.NewDecoder()
	bad.Reset()
	if _, _, err := bad.Decode([]byte("123456")); !errors.Is(err, codec.ErrConfig) {
		t.Fatalf("invalid config after Reset: %v", err)
	}
}

// Configurations under which no frame can fit the limit are refused: they
// used to buffer without bound (offset beyond the limit), overflow int and
// panic (offset near MaxInt) or misreport an overflowing adjustment.
func TestLengthFieldConfigBeyondLimit(t *testing.T) {
	tests := []struct {
		name string
		cfg  frameconn.DecoderConfig
	}{
		{"offset beyond limit", frameconn.DecoderConfig{LengthFieldLength: 4, LengthFieldOffset: 1 << 30}},
		{"offset near MaxInt", frameconn.DecoderConfig{LengthFieldLength: 4, LengthFieldOffset: math.MaxInt - 2, MaxFrameLength: math.MaxInt}},
		{"header over explicit limit", frameconn.DecoderConfig{LengthFieldLength: 8, LengthFieldOffset: 3, MaxFrameLength: 10}},
		{"adjustment beyond limit", frameconn.DecoderConfig{LengthFieldLength: 4, LengthAdjustment: math.MaxInt}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := frameconn.LengthField{Decoder: tc.cfg}.NewDecoder()
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				if _, _, err := d.Decode(make([]byte, 16)); !errors.Is(err, codec.ErrConfig) {
					t.Fatalf("err %v, want ErrConfig", err)
				}
			}()
		})
	}
}

// nativeLE is a little-endian ByteOrder other than binary.LittleEndian (as
// binary.NativeEndian is on most machines).
type nativeLE struct{ binary.ByteOrder }

// A 3-byte field follows the configured byte order, whatever its type.
func TestLengthField3ByteOrder(t *testing.T) {
	le := nativeLE{binary.LittleEndian}
	c := frameconn.LengthField{
		Encoder: frameconn.EncoderConfig{ByteOrder: le, LengthFieldLength: 3},
		Decoder: frameconn.DecoderConfig{ByteOrder: le, LengthFieldLength: 3, InitialBytesToStrip: 3},
	}
	wire, err := c.AppendFrame(nil, []byte("a"))
	if err != nil || string(wire) != "\x01\x00\x00a" {
		t.Fatalf("encoded %q, %v", wire, err)
	}
	n, f, err := c.NewDecoder().Decode([]byte("\x01\x00\x00a"))
	if err != nil || n != 4 || string(f) != "a" {
		t.Fatalf("decoded %d %q %v", n, f, err)
	}
}

// An adjustment that overflows the encoder's arithmetic is a frame too
// large, not a negative length.
func TestLengthFieldEncoderAdjustmentOverflow(t *testing.T) {
	c := frameconn.LengthField{Encoder: frameconn.EncoderConfig{LengthFieldLength: 8, LengthAdjustment: math.MaxInt, LengthIncludesLengthFieldLength: true}}
	if _, err := c.AppendFrame(nil, []byte("x")); !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Fatalf("err %v, want ErrFrameTooLarge", err)
	}
}

// Frames survive any read boundaries; a clean end is io.EOF, an end inside
// a frame (even inside its header) io.ErrUnexpectedEOF. The stream is cut
// at every byte: the frames that end before the cut are read, and the error
// depends on whether the cut is a frame boundary.
func TestReadBoundariesAndEOF(t *testing.T) {
	lf := frameconn.LengthField{
		Encoder: frameconn.EncoderConfig{LengthFieldLength: 2, LengthIncludesLengthFieldLength: true},
		Decoder: frameconn.DecoderConfig{LengthFieldOffset: 2, LengthFieldLength: 2, LengthAdjustment: -2, InitialBytesToStrip: 4, MaxFrameLength: 64},
	}
	tests := []struct {
		name string
		c    codec.Codec
		wire string
		want []string
		ends []int // where each frame of want ends in wire
	}{
		{"offset and strip", lf, "HH\x00\x02HH\x00\x05abcHH\x00\x03x", []string{"", "abc", "x"}, []int{4, 11, 16}},
		{"fixed", frameconn.Fixed{Length: 2}, "abcdef", []string{"ab", "cd", "ef"}, []int{2, 4, 6}},
		{"zero-length frames", frameconn.LengthField{Decoder: frameconn.DecoderConfig{LengthFieldLength: 1, InitialBytesToStrip: 1}}, "\x00\x00\x01z\x00", []string{"", "", "z", ""}, []int{1, 2, 4, 5}},
	}
	wraps := map[string]func(io.Reader) io.Reader{
		"whole": func(r io.Reader) io.Reader { return r }, "one byte": iotest.OneByteReader,
		"half": iotest.HalfReader, "data+EOF": iotest.DataErrReader,
	}
	for _, tc := range tests {
		if len(tc.ends) != len(tc.want) || tc.ends[len(tc.ends)-1] != len(tc.wire) {
			t.Fatalf("%s: bad test case: ends %v for %d frames of %d bytes", tc.name, tc.ends, len(tc.want), len(tc.wire))
		}
		for wn, wrap := range wraps {
			t.Run(tc.name+"/"+wn, func(t *testing.T) {
				for cut := 0; cut <= len(tc.wire); cut++ {
					complete := 0 // frames that end at or before the cut
					for complete < len(tc.ends) && tc.ends[complete] <= cut {
						complete++
					}
					clean := cut == 0 || tc.ends[max(complete-1, 0)] == cut
					fr := codec.NewFrameReader(wrap(strings.NewReader(tc.wire[:cut])), tc.c)
					var got []string
					var err error
					for range 100 {
						var f []byte
						if f, err = fr.ReadFrame(); err != nil {
							break
						}
						got = append(got, string(f))
					}
					if !slices.Equal(got, tc.want[:complete]) {
						t.Fatalf("cut %d: frames %q, want %q", cut, got, tc.want[:complete])
					}
					if clean && err != io.EOF || !clean && !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("cut %d (clean %v): err %v after %q", cut, clean, err, got)
					}
				}
			})
		}
	}
}

// With a limit near MaxInt, a valid adjustment plus the header overflowed
// int64: the frame length came out negative and was reported as a frame of
// "-9223372036854775807 bytes" shorter than InitialBytesToStrip
// (ErrMalformed) instead of a frame over the limit.
func TestLengthFieldAdjustmentOverflow(t *testing.T) {
	for _, v := range []byte{0, 1, 200} {
		d := frameconn.LengthField{Decoder: frameconn.DecoderConfig{
			LengthFieldLength: 1, LengthFieldOffset: 2, LengthAdjustment: math.MaxInt, MaxFrameLength: math.MaxInt,
		}}.NewDecoder()
		_, _, err := d.Decode([]byte{0, 0, v, 0})
		if !errors.Is(err, codec.ErrFrameTooLarge) || strings.Contains(err.Error(), "-") {
			t.Fatalf("field %d: err %v, want ErrFrameTooLarge with a sensible length", v, err)
		}
	}
}
