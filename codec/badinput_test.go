package codec_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// TestBadInputCodec: every package-level entry point given a nil, nil-pointer
// or invalid codec returns an error matching ErrConfig (before the fix a nil
// *Line made Validate, FrameReader, FrameWriter and SplitFunc panic with
// "value method ... called using nil *Line pointer"); valid but extreme
// configurations work without a panic.
func TestBadInputCodec(t *testing.T) {
	const cfg = "err: codec: invalid configuration"
	codecs := []struct {
		name string
		c    codec.Codec
		want string
	}{
		{"nil", nil, cfg},
		{"nil *Line", (*codec.Line)(nil), cfg},
		{"nil *Netstring", (*codec.Netstring)(nil), cfg},
		{"nil *LengthPrefix", (*codec.LengthPrefix)(nil), cfg},
		{"Line neg max", codec.Line{MaxLength: -1}, cfg},
		{"Netstring neg", codec.Netstring{MaxLength: -1}, cfg},
		{"LP size 0 (means 4)", codec.LengthPrefix{}, ""},
		{"LP size 5", codec.LengthPrefix{Size: 5}, cfg},
		{"LP size -1", codec.LengthPrefix{Size: -1}, cfg},
		{"LP neg max", codec.LengthPrefix{Size: 4, MaxLength: -1}, cfg},
		{"Line huge max", codec.Line{MaxLength: math.MaxInt}, ""},
		{"Line empty delim", codec.Line{Delimiter: []byte{}}, ""},
		{"Netstring huge", codec.Netstring{MaxLength: math.MaxInt}, ""},
		{"LP huge max", codec.LengthPrefix{Size: 8, MaxLength: math.MaxInt}, ""},
		{"LP1 incl", codec.LengthPrefix{Size: 1, IncludesHeader: true}, ""},
		{"LP8 incl huge", codec.LengthPrefix{Size: 8, IncludesHeader: true, MaxLength: math.MaxInt}, ""},
		{"Raw", codec.Raw{}, ""},
	}
	var cases []biCase
	for _, cc := range codecs {
		c, want := cc.c, cc.want
		okWant := want // Validate and AppendFrame succeed on a valid codec
		if want == "" {
			okWant = "ok"
		}
		cases = append(cases,
			biCase{cc.name + "/Validate", func() error { return codec.Validate(c) }, okWant},
			biCase{cc.name + "/FrameReader", func() error {
				_, err := codec.NewFrameReader(strings.NewReader("3:abc,\n\xff\xff\xff\xff\xff\xff\xff\xffx"), c).ReadFrame()
				return err
			}, want},
			biCase{cc.name + "/FrameWriter", func() error { return codec.NewFrameWriter(&bytes.Buffer{}, c).WriteFrame([]byte("x")) }, want},
			biCase{cc.name + "/SplitFunc", func() error {
				s := bufio.NewScanner(strings.NewReader("3:abc,\n"))
				s.Split(codec.SplitFunc(c))
				for s.Scan() {
				}
				return s.Err()
			}, want},
		)
		if c != nil && !strings.HasPrefix(cc.name, "nil") { // a nil receiver is the caller's panic
			cases = append(cases,
				biCase{cc.name + "/Decode", func() error {
					d := c.NewDecoder()
					_, _, err := d.Decode([]byte("\xff\xff\xff\xff\xff\xff\xff\xff9999999999:abc\n"))
					d.Reset()
					if _, _, err2 := d.Decode(nil); err == nil {
						err = err2
					}
					return err
				}, want},
				biCase{cc.name + "/AppendFrame", func() error { _, err := c.AppendFrame(nil, nil); return err }, okWant},
			)
		}
	}
	testenv.RunBadInput(t, cases)
}

type biLineHandler struct{}

func (biLineHandler) ConnectionMade(*codec.LineReceiver) {}
func (biLineHandler) LineReceived([]byte)                {}
func (biLineHandler) ConnectionLost(error)               {}

// TestBadInputCodecUsage: readers and writers without their io.Reader or
// io.Writer, and adapters without a handler. Before the fix each panicked
// with "runtime error: invalid memory address or nil pointer dereference"
// (the handler ones only later, inside ConnectionMade).
func TestBadInputCodecUsage(t *testing.T) {
	const cfg = "err: codec: invalid configuration"
	testenv.RunBadInput(t, []biCase{
		{"FrameReader nil reader", func() error { _, err := codec.NewFrameReader(nil, codec.Line{}).ReadFrame(); return err }, cfg},
		{"FrameReader zero", func() error { var fr codec.FrameReader; _, err := fr.ReadFrame(); return err }, cfg},
		{"FrameReader zero Buffered", func() error {
			var fr codec.FrameReader
			if b := fr.Buffered(); len(b) != 0 {
				return fmt.Errorf("Buffered = %q", b)
			}
			return nil
		}, "ok"},
		{"FrameReader SetCodec nil", func() error {
			fr := codec.NewFrameReader(strings.NewReader("a\n"), codec.Line{})
			fr.SetCodec(nil)
			_, err := fr.ReadFrame()
			return err
		}, cfg},
		{"FrameWriter nil writer", func() error { return codec.NewFrameWriter(nil, codec.Line{}).WriteFrame([]byte("x")) }, cfg},
		{"FrameWriter zero", func() error { var fw codec.FrameWriter; return fw.WriteFrame([]byte("x")) }, cfg},
		{"NewProtocol nil handler", func() error { codec.NewProtocol(codec.Line{}, nil); return nil }, "panic: codec: NewProtocol: nil FrameHandler"},
		{"NewLineReceiver nil handler", func() error { codec.NewLineReceiver(nil); return nil }, "panic: codec: NewLineReceiver: nil LineHandler"},
		{"SendLine before ConnectionMade", func() error {
			err := codec.NewLineReceiver(biLineHandler{}).SendLine([]byte("x"))
			if !errors.Is(err, weft.ErrClosed) {
				return fmt.Errorf("not ErrClosed: %w", err)
			}
			return err
		}, "err: codec: SendLine before ConnectionMade"},
		{"Transport before ConnectionMade", func() error {
			if tr := codec.NewLineReceiver(biLineHandler{}).Transport(); tr != nil {
				return fmt.Errorf("Transport = %v, want nil", tr)
			}
			return nil
		}, "ok"},
		{"Int8 payload over 255", func() error { _, err := codec.Int8().AppendFrame(nil, make([]byte, 300)); return err }, "err: codec: frame too large"},
	})
}
