package codec

import (
	"fmt"
	"io"
	"reflect"
)

// Codec is a framing: it builds a Decoder for each connection and encodes
// frames. A Codec value is immutable and safe for concurrent use.
type Codec interface {
	// NewDecoder returns a fresh decoder, positioned at a frame boundary.
	NewDecoder() Decoder
	// AppendFrame appends the wire form of payload to dst and returns the
	// extended slice. It refuses (and appends nothing) what the decoder would
	// refuse: a payload over the limit (ErrFrameTooLarge), a payload
	// containing the delimiter (ErrDelimiter), or any payload when the
	// configuration is invalid (ErrConfig).
	AppendFrame(dst, payload []byte) ([]byte, error)
}

// Decoder decodes one stream incrementally. It is used by one goroutine at a
// time.
//
// Decode is given buf, all the bytes received and not yet consumed, starting
// at a frame boundary. It returns one of:
//
//   - advance > 0 and frame: a complete frame was found in buf[:advance];
//     frame (possibly empty, often a sub-slice of buf) stays valid as long as
//     buf does. The caller drops buf[:advance].
//   - advance == 0, err == nil: more bytes are needed. The next call must be
//     given the same bytes followed by more (the caller may move them in
//     memory). The decoder remembers how far it has looked, so the total work
//     stays linear in the stream's length.
//   - err != nil: the stream is invalid (ErrFrameTooLarge, ErrMalformed or
//     ErrConfig, wrapped with the offset and reason). The decoder is then
//     broken: it returns an error again until Reset.
//
// A decoder checks an announced length against its limit as soon as the
// length is known, before anything is allocated or awaited, and returns an
// error before buf grows past the limit plus the framing overhead.
type Decoder interface {
	// Decode looks for the next frame at the start of buf (see above).
	Decode(buf []byte) (advance int, frame []byte, err error)
	// Reset forgets everything, as if the decoder were new. Call it when the
	// bytes given to Decode change other than by appending (for example after
	// dropping buffered input).
	Reset()
}

// ScanCounter is implemented by weft's decoders: BytesScanned reports how
// many bytes Decode has examined since the decoder was made or Reset. The
// conformance tests in codec/codectest use it to check that a frame dripped
// one byte per read costs linear work.
type ScanCounter interface {
	// BytesScanned returns the bytes Decode examined since New or Reset.
	BytesScanned() int64
}

// validator is implemented by codecs with a configuration to check.
type validator interface{ Validate() error }

// Validate returns the configuration error of c, if c has a Validate method
// and its configuration is invalid. A nil c, or a nil pointer such as a nil
// *Line, is an error matching ErrConfig.
func Validate(c Codec) error {
	if err := nilCodec(c); err != nil {
		return err
	}
	if v, ok := c.(validator); ok {
		return v.Validate()
	}
	return nil
}

// nilCodec returns the error for a nil c or a nil pointer in c, whose
// methods would panic.
func nilCodec(c Codec) error {
	if c == nil {
		return fmt.Errorf("%w: nil Codec", ErrConfig)
	}
	if v := reflect.ValueOf(c); v.Kind() == reflect.Pointer && v.IsNil() {
		return fmt.Errorf("%w: nil %T", ErrConfig, c)
	}
	return nil
}

// errDecoder is the Decoder of an invalid codec: it always fails.
type errDecoder struct{ err error }

func (d errDecoder) Decode([]byte) (int, []byte, error) { return 0, nil, d.err }
func (d errDecoder) Reset()                             {}

// truncated returns the error for a stream that ended with n bytes of an
// unfinished frame.
func truncated(n int) error {
	return fmt.Errorf("%w (%d bytes of a frame): %w", ErrTruncated, n, io.ErrUnexpectedEOF)
}

// Defaults shared by the codecs.
const (
	// DefaultMaxLineLength is Line's default MaxLength (Twisted's
	// LineReceiver.MAX_LENGTH).
	DefaultMaxLineLength = 16 << 10
	// DefaultMaxFrameLength is the default limit of Netstring and
	// LengthPrefix payloads.
	DefaultMaxFrameLength = 1 << 20
)
