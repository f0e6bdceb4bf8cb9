package codec

import "errors"

// Sentinel errors. Decode and encode errors wrap one of them with context
// (the stream offset and the reason); match them with errors.Is.
var (
	// ErrFrameTooLarge: a frame (or an announced length) exceeds the codec's
	// limit, or the encoder was given a payload over the limit.
	ErrFrameTooLarge = errors.New("codec: frame too large")
	// ErrMalformed: the bytes received do not follow the wire format.
	ErrMalformed = errors.New("codec: malformed frame")
	// ErrDelimiter: the encoder was given a payload that contains the
	// delimiter, so the decoder would split it.
	ErrDelimiter = errors.New("codec: payload contains the delimiter")
	// ErrTruncated: the stream ended in the middle of a frame. It also
	// matches io.ErrUnexpectedEOF.
	ErrTruncated = errors.New("codec: stream ended inside a frame")
	// ErrConfig: a codec's configuration is invalid; the message names the
	// field.
	ErrConfig = errors.New("codec: invalid configuration")
)
