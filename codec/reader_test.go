package codec_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/weftkit/weft/codec"
)

func readAll(t *testing.T, fr *codec.FrameReader) ([]string, error) {
	t.Helper()
	var got []string
	for range 10000 {
		f, err := fr.ReadFrame()
		if err != nil {
			return got, err
		}
		got = append(got, string(f))
	}
	t.Fatal("ReadFrame never ended")
	return nil, nil
}

func TestFrameReaderWriterRoundTrip(t *testing.T) {
	codecs := map[string]codec.Codec{
		"line": codec.Line{}, "netstring": codec.Netstring{}, "int32": codec.Int32(),
		"le3": codec.LengthPrefix{Size: 3, LittleEndian: true},
	}
	frames := []string{"", "a", strings.Repeat("b", 10000), "end"}
	for name, c := range codecs {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			fw := codec.NewFrameWriter(&buf, c)
			for _, f := range frames {
				if err := fw.WriteFrame([]byte(f)); err != nil {
					t.Fatal(err)
				}
			}
			for _, wrap := range []func(io.Reader) io.Reader{
				func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader,
			} {
				got, err := readAll(t, codec.NewFrameReader(wrap(bytes.NewReader(buf.Bytes())), c))
				if err != io.EOF || !slices.Equal(got, frames) {
					t.Fatalf("frames %d, err %v", len(got), err)
				}
			}
		})
	}
}

func TestFrameReaderErrors(t *testing.T) {
	tests := []struct {
		name string
		c    codec.Codec
		in   string
		want []error
	}{
		{"truncated", codec.Netstring{}, "1:a,3:ab", []error{codec.ErrTruncated, io.ErrUnexpectedEOF}},
		{"malformed", codec.Netstring{}, "1:a,1:ab", []error{codec.ErrMalformed}},
		{"too large", codec.Int32(), "\x7f\xff\xff\xff", []error{codec.ErrFrameTooLarge}},
		{"invalid codec", codec.LengthPrefix{Size: 7}, "x", []error{codec.ErrConfig}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := codec.NewFrameReader(strings.NewReader(tc.in), tc.c)
			_, err := readAll(t, fr)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Fatalf("error %v, want %v", err, w)
				}
			}
			if _, err2 := fr.ReadFrame(); err2 != err {
				t.Fatalf("error not sticky: %v then %v", err, err2)
			}
		})
	}
}

func TestFrameReaderSetCodec(t *testing.T) {
	fr := codec.NewFrameReader(strings.NewReader("HELLO\r\n\x00\x03abc"), codec.Line{})
	f, err := fr.ReadFrame()
	if err != nil || string(f) != "HELLO" {
		t.Fatalf("%q %v", f, err)
	}
	fr.SetCodec(codec.Int16())
	f, err = fr.ReadFrame()
	if err != nil || string(f) != "abc" {
		t.Fatalf("%q %v", f, err)
	}
}

func TestFrameWriterRefuses(t *testing.T) {
	var buf bytes.Buffer
	fw := codec.NewFrameWriter(&buf, codec.Line{MaxLength: 3})
	if err := fw.WriteFrame([]byte("abcd")); !errors.Is(err, codec.ErrFrameTooLarge) || buf.Len() != 0 {
		t.Fatalf("err %v, wrote %q", err, buf.String())
	}
	fw.SetCodec(codec.LengthPrefix{Size: 9})
	if err := fw.WriteFrame(nil); !errors.Is(err, codec.ErrConfig) {
		t.Fatalf("invalid codec: %v", err)
	}
}

func TestSplitFunc(t *testing.T) {
	tests := []struct {
		name string
		c    codec.Codec
		in   string
		want []string
		err  error
	}{
		{"lines", codec.Line{}, "a\r\n\nb\n", []string{"a", "", "b"}, nil},
		{"netstrings", codec.Netstring{}, "0:,2:hi,", []string{"", "hi"}, nil},
		{"truncated", codec.Netstring{}, "2:hi,3:ab", []string{"hi"}, codec.ErrTruncated},
		{"unterminated line", codec.Line{}, "a\nb", []string{"a"}, codec.ErrTruncated},
		{"truncated header", codec.Int16(), "\x00\x01x\xff", []string{"x"}, codec.ErrTruncated},
		{"malformed", codec.Netstring{}, "1:a,-1", []string{"a"}, codec.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := bufio.NewScanner(iotest.OneByteReader(strings.NewReader(tc.in)))
			sc.Split(codec.SplitFunc(tc.c))
			var got []string
			for sc.Scan() {
				got = append(got, sc.Text())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("tokens %q, want %q", got, tc.want)
			}
			if err := sc.Err(); !errors.Is(err, tc.err) { // errors.Is(nil, nil): a clean end must have no error
				t.Fatalf("Err() = %v, want %v", err, tc.err)
			}
		})
	}
}

// errThenFrames fails once, then decodes one-byte frames: a decoder that does
// not stay broken after an error.
type errThenFrames struct{ failed bool }

func (d *errThenFrames) Decode(buf []byte) (int, []byte, error) {
	if !d.failed {
		d.failed = true
		return 0, nil, codec.ErrMalformed
	}
	return 1, buf[:1], nil
}
func (d *errThenFrames) Reset() {}

type errThenFramesCodec struct{ d *errThenFrames }

func (c errThenFramesCodec) NewDecoder() codec.Decoder { return c.d }
func (c errThenFramesCodec) AppendFrame(dst, p []byte) ([]byte, error) {
	return append(dst, p...), nil
}

// A decode error is returned again by every later ReadFrame, the same value,
// whatever the decoder does afterwards.
func TestFrameReaderDecodeErrorSticky(t *testing.T) {
	tests := []struct {
		name string
		c    codec.Codec
		in   string
	}{
		{"line too long", codec.Line{MaxLength: 2}, "abcdef\n"},
		{"decoder not broken", errThenFramesCodec{&errThenFrames{}}, "abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := codec.NewFrameReader(strings.NewReader(tc.in), tc.c)
			_, err := fr.ReadFrame()
			if err == nil {
				t.Fatal("no error")
			}
			for range 3 {
				if f, err2 := fr.ReadFrame(); err2 != err {
					t.Fatalf("error not sticky: %v then %q, %v", err, f, err2)
				}
			}
		})
	}
}

// shortWriter accepts at most n bytes per Write and, breaking io.Writer's
// contract, reports no error.
type shortWriter struct {
	n   int
	buf bytes.Buffer
}

func (w *shortWriter) Write(p []byte) (int, error) {
	p = p[:min(len(p), w.n)]
	return w.buf.Write(p)
}

func TestFrameWriterShortWrite(t *testing.T) {
	w := &shortWriter{n: 3}
	if err := codec.NewFrameWriter(w, codec.Netstring{}).WriteFrame([]byte("hello")); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write: err %v after writing %q", err, w.buf.String())
	}
}
