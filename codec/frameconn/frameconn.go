// Package frameconn implements smallnest/goframe v1.0.0's FrameConn interface
// on weft codecs, so that a goframe user migrates by changing one import:
// the constructors have goframe's names, arguments and wire formats, and add
// what goframe lacks: a frame-size limit on every decoder, length fields read
// in full however the bytes arrive, the delimiter-based conn returning its
// frames, and a header offset read through the same buffer as the rest.
//
// The pieces:
//
//   - FrameConn: goframe's interface (ReadFrame, WriteFrame, Close, Conn).
//   - NewLineBasedFrameConn, NewDelimiterBasedFrameConn,
//     NewFixedLengthFrameConn, NewLengthFieldBasedFrameConn with
//     EncoderConfig and DecoderConfig: goframe's constructors.
//   - New: a FrameConn over any codec.Codec.
//   - LengthField and Fixed: the codecs behind the length-field-based and
//     fixed-length conns (Netty's LengthFieldBasedFrameDecoder and
//     LengthFieldPrepender semantics).
//   - DefaultMaxFrameLength and the sentinel errors.
//
// docs/codecs.md lists goframe's defects and what this package does instead.
package frameconn

import (
	"errors"
	"fmt"
	"net"

	"github.com/weftkit/weft/codec"
)

// DefaultMaxFrameLength is the frame limit of every FrameConn made by this
// package's goframe-style constructors (goframe has none): 1 MiB.
const DefaultMaxFrameLength = 1 << 20

// Errors, as in goframe (same meaning, weft's "frameconn:" prefix).
var (
	// ErrUnsupportedLength: LengthFieldLength is not 1, 2, 3, 4 or 8.
	ErrUnsupportedLength = errors.New("frameconn: unsupported lengthFieldLength (expected: 1, 2, 3, 4, or 8)")
	// ErrTooLessLength: the adjusted frame length is negative.
	ErrTooLessLength = errors.New("frameconn: adjusted frame length is less than zero")
	// ErrUnexpectedFixedLength: WriteFrame on a fixed-length conn was given a
	// payload whose length is not a multiple of the frame length.
	ErrUnexpectedFixedLength = errors.New("frameconn: unexpected fixed length")
)

// FrameConn is a conn that can send and receive framed data (goframe's
// interface, unchanged).
type FrameConn interface {
	// ReadFrame reads a frame from the connection. Unlike goframe, the frame
	// is valid only until the next ReadFrame (copy what must be kept).
	ReadFrame() ([]byte, error)
	// WriteFrame writes a frame to the connection.
	WriteFrame(p []byte) error
	// Close closes the connection.
	Close() error
	// Conn returns the underlying connection.
	Conn() net.Conn
}

// New returns a FrameConn framing conn with c in both directions. A nil conn
// makes ReadFrame, WriteFrame and Close fail with an error matching
// codec.ErrConfig, as does an invalid c for ReadFrame and WriteFrame.
func New(conn net.Conn, c codec.Codec) FrameConn {
	return &frameConn{c: conn, r: codec.NewFrameReader(conn, c), w: codec.NewFrameWriter(conn, c)}
}

// errNilConn is Close's error for a FrameConn made with a nil net.Conn.
var errNilConn = fmt.Errorf("%w: frameconn: nil net.Conn", codec.ErrConfig)

type frameConn struct {
	c net.Conn
	r *codec.FrameReader
	w *codec.FrameWriter
}

func (fc *frameConn) ReadFrame() ([]byte, error) { return fc.r.ReadFrame() }
func (fc *frameConn) WriteFrame(p []byte) error  { return fc.w.WriteFrame(p) }
func (fc *frameConn) Close() error {
	if fc.c == nil {
		return errNilConn
	}
	return fc.c.Close()
}
func (fc *frameConn) Conn() net.Conn { return fc.c }

// NewLineBasedFrameConn returns a FrameConn of "\n"-terminated lines, as
// goframe's: output lines end in "\n", input lines end at "\n", which is
// stripped (a "\r" before it is kept, as goframe keeps it). Lines are limited
// to DefaultMaxFrameLength.
func NewLineBasedFrameConn(conn net.Conn) FrameConn {
	return New(conn, codec.Line{Delimiter: []byte("\n"), MaxLength: DefaultMaxFrameLength})
}

// NewDelimiterBasedFrameConn returns a FrameConn of frames ending in
// delimiter. WriteFrame appends the delimiter and ReadFrame strips it, so a
// frame round-trips (goframe's ReadFrame returns no data at all). Frames are
// limited to DefaultMaxFrameLength; WriteFrame refuses a payload containing
// the delimiter.
func NewDelimiterBasedFrameConn(delimiter byte, conn net.Conn) FrameConn {
	return New(conn, codec.Line{Delimiter: []byte{delimiter}, MaxLength: DefaultMaxFrameLength})
}

// NewFixedLengthFrameConn returns a FrameConn of frames of frameLength bytes.
// WriteFrame accepts any multiple of frameLength and writes it as that many
// frames, as goframe does.
func NewFixedLengthFrameConn(frameLength int, conn net.Conn) FrameConn {
	return New(conn, Fixed{Length: frameLength})
}

// NewLengthFieldBasedFrameConn returns a FrameConn whose frames carry a
// length field, with goframe's (Netty's) semantics for both configs, plus
// decoderConfig.MaxFrameLength. An invalid configuration makes every
// ReadFrame and WriteFrame fail with an error naming the field.
func NewLengthFieldBasedFrameConn(encoderConfig EncoderConfig, decoderConfig DecoderConfig, conn net.Conn) FrameConn {
	return &frameConn{
		c: conn,
		r: codec.NewFrameReader(conn, LengthField{Decoder: decoderConfig}),
		w: codec.NewFrameWriter(conn, LengthField{Encoder: encoderConfig}),
	}
}
