package frameconn_test

import (
	"encoding/binary"
	"math"
	"net"
	"testing"

	"github.com/weftkit/weft/codec/frameconn"
	"github.com/weftkit/weft/internal/testenv"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// TestBadInputFrameConn: nil connections and hostile configurations give
// errors naming the problem. Before the fix a nil net.Conn made ReadFrame,
// WriteFrame and Close panic with "runtime error: invalid memory address or
// nil pointer dereference".
func TestBadInputFrameConn(t *testing.T) {
	pipe := func() (net.Conn, net.Conn) { return net.Pipe() }
	rw := func(fc frameconn.FrameConn, peer net.Conn) error {
		defer peer.Close()
		defer fc.Close()
		go peer.Write([]byte("\x00\x00\x00\x05hello\n"))
		werr := make(chan error, 1)
		go func() { buf := make([]byte, 64); peer.Read(buf); werr <- nil }()
		_, err := fc.ReadFrame()
		if err != nil {
			return err
		}
		return fc.WriteFrame([]byte("abc"))
	}
	huge := frameconn.DecoderConfig{LengthFieldLength: 8, MaxFrameLength: math.MaxInt}
	cases := []biCase{
		{"New nil conn ReadFrame", func() error { _, err := frameconn.New(nil, frameconn.Fixed{Length: 1}).ReadFrame(); return err }, "err: codec: invalid configuration"},
		{"New nil conn WriteFrame", func() error { return frameconn.New(nil, frameconn.Fixed{Length: 1}).WriteFrame([]byte("x")) }, "err: codec: invalid configuration"},
		{"New nil conn Close", func() error { return frameconn.New(nil, frameconn.Fixed{Length: 1}).Close() }, "err: codec: invalid configuration: frameconn: nil net.Conn"},
		{"New nil conn Conn", func() error { _ = frameconn.New(nil, frameconn.Fixed{Length: 1}).Conn(); return nil }, "ok"},
		{"Line nil conn", func() error { _, err := frameconn.NewLineBasedFrameConn(nil).ReadFrame(); return err }, "err: codec: invalid configuration"},
		{"New nil codec", func() error { a, b := pipe(); return rw(frameconn.New(a, nil), b) }, "err: codec: invalid configuration: nil Codec"},
		{"Fixed 0", func() error { a, b := pipe(); return rw(frameconn.NewFixedLengthFrameConn(0, a), b) }, "err: codec: invalid configuration: Fixed.Length"},
		{"Fixed -1", func() error { a, b := pipe(); return rw(frameconn.NewFixedLengthFrameConn(-1, a), b) }, "err: codec: invalid configuration: Fixed.Length"},
		{"Fixed MaxInt", func() error {
			_, _, err := frameconn.Fixed{Length: math.MaxInt}.NewDecoder().Decode([]byte("abc"))
			return err
		}, "ok"},
		{"Fixed 0 Validate", func() error { return frameconn.Fixed{}.Validate() }, "err: codec: invalid configuration: Fixed.Length"},
		{"Fixed 0 AppendFrame", func() error { _, err := frameconn.Fixed{}.AppendFrame(nil, []byte("x")); return err }, "err: codec: invalid configuration: Fixed.Length"},
		{"Fixed 0 Decode", func() error { _, _, err := frameconn.Fixed{}.NewDecoder().Decode([]byte("x")); return err }, "err: codec: invalid configuration: Fixed.Length"},
		{"Fixed -3 Decode", func() error { _, _, err := frameconn.Fixed{Length: -3}.NewDecoder().Decode([]byte("x")); return err }, "err: codec: invalid configuration: Fixed.Length"},
		{"LF zero", func() error {
			a, b := pipe()
			return rw(frameconn.NewLengthFieldBasedFrameConn(frameconn.EncoderConfig{}, frameconn.DecoderConfig{}, a), b)
		}, "err: codec: invalid configuration"},
		{"LF neg offset", func() error {
			a, b := pipe()
			return rw(frameconn.NewLengthFieldBasedFrameConn(frameconn.EncoderConfig{LengthFieldLength: 4}, frameconn.DecoderConfig{LengthFieldLength: 4, LengthFieldOffset: -1}, a), b)
		}, "err: codec: invalid configuration: DecoderConfig.LengthFieldOffset"},
		{"LF neg strip", func() error {
			a, b := pipe()
			return rw(frameconn.NewLengthFieldBasedFrameConn(frameconn.EncoderConfig{LengthFieldLength: 4}, frameconn.DecoderConfig{LengthFieldLength: 4, InitialBytesToStrip: -1}, a), b)
		}, "err: codec: invalid configuration: DecoderConfig.InitialBytesToStrip"},
		{"LF strip huge", func() error {
			a, b := pipe()
			return rw(frameconn.NewLengthFieldBasedFrameConn(frameconn.EncoderConfig{LengthFieldLength: 4}, frameconn.DecoderConfig{LengthFieldLength: 4, InitialBytesToStrip: math.MaxInt}, a), b)
		}, "err: codec: malformed frame"},
		{"LF adj minint", func() error {
			a, b := pipe()
			return rw(frameconn.NewLengthFieldBasedFrameConn(frameconn.EncoderConfig{LengthFieldLength: 4, LengthAdjustment: math.MinInt}, frameconn.DecoderConfig{LengthFieldLength: 4, LengthAdjustment: math.MinInt}, a), b)
		}, "err: codec: malformed frame"},
		{"LF adj maxint", func() error {
			a, b := pipe()
			return rw(frameconn.NewLengthFieldBasedFrameConn(frameconn.EncoderConfig{LengthFieldLength: 4, LengthAdjustment: math.MaxInt}, frameconn.DecoderConfig{LengthFieldLength: 4, LengthAdjustment: math.MaxInt, MaxFrameLength: math.MaxInt}, a), b)
		}, "err: codec: frame too large"},
		{"LF offset maxint", func() error {
			a, b := pipe()
			return rw(frameconn.NewLengthFieldBasedFrameConn(frameconn.EncoderConfig{LengthFieldLength: 4}, frameconn.DecoderConfig{LengthFieldLength: 4, LengthFieldOffset: math.MaxInt, MaxFrameLength: math.MaxInt}, a), b)
		}, "err: codec: invalid configuration"},
		{"LF neg max", func() error {
			a, b := pipe()
			return rw(frameconn.NewLengthFieldBasedFrameConn(frameconn.EncoderConfig{LengthFieldLength: 4}, frameconn.DecoderConfig{LengthFieldLength: 4, MaxFrameLength: -1}, a), b)
		}, "err: codec: invalid configuration: DecoderConfig.MaxFrameLength"},
		{"LF huge 8-byte", func() error {
			_, _, err := frameconn.LengthField{Decoder: huge}.NewDecoder().Decode([]byte("\xff\xff\xff\xff\xff\xff\xff\xffabc"))
			return err
		}, "err: codec: frame too large"},
		{"LF huge 8-byte adj", func() error {
			d := huge
			d.LengthAdjustment = math.MaxInt
			_, _, err := frameconn.LengthField{Decoder: d}.NewDecoder().Decode([]byte("\x7f\xff\xff\xff\xff\xff\xff\xffabc"))
			return err
		}, "err: codec: frame too large"},
		{"LF huge 8-byte neg adj", func() error {
			d := huge
			d.LengthAdjustment = math.MinInt
			_, _, err := frameconn.LengthField{Decoder: d}.NewDecoder().Decode([]byte("\x7f\xff\xff\xff\xff\xff\xff\xffabc"))
			return err
		}, "err: codec: frame too large"},
		{"LF little endian 3", func() error {
			_, err := frameconn.LengthField{Encoder: frameconn.EncoderConfig{ByteOrder: binary.LittleEndian, LengthFieldLength: 3}}.AppendFrame(nil, make([]byte, 1<<24))
			return err
		}, "err: codec: frame too large"},
		{"LF enc adj neg", func() error {
			_, err := frameconn.LengthField{Encoder: frameconn.EncoderConfig{LengthFieldLength: 4, LengthAdjustment: -10}}.AppendFrame(nil, []byte("x"))
			return err
		}, "err: frameconn: adjusted frame length is less than zero"},
		{"LF enc adj maxint", func() error {
			_, err := frameconn.LengthField{Encoder: frameconn.EncoderConfig{LengthFieldLength: 8, LengthAdjustment: math.MaxInt, LengthIncludesLengthFieldLength: true}}.AppendFrame(nil, []byte("x"))
			return err
		}, "err: codec: frame too large"},
		{"Close twice", func() error {
			a, b := pipe()
			defer b.Close()
			fc := frameconn.NewLineBasedFrameConn(a)
			fc.Close()
			return fc.Close()
		}, "ok"},
		{"Read after close", func() error {
			a, b := pipe()
			defer b.Close()
			fc := frameconn.NewLineBasedFrameConn(a)
			fc.Close()
			_, err := fc.ReadFrame()
			return err
		}, "err: io: read/write on closed pipe"},
		{"Delimiter write contains", func() error {
			a, b := pipe()
			defer b.Close()
			fc := frameconn.NewDelimiterBasedFrameConn(0, a)
			defer fc.Close()
			return fc.WriteFrame([]byte("a\x00b"))
		}, "err: codec: payload contains the delimiter"},
	}
	testenv.RunBadInput(t, cases)
}
