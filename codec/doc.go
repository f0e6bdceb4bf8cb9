// Package codec turns byte streams into frames and frames into bytes, and
// plugs framing into weft's Protocol contract.
//
// The pieces:
//
//   - Codec and Decoder: the contract. A Decoder is incremental (it scans only
//     the bytes it has not seen), hands out sub-slices of the caller's buffer,
//     and checks an announced length against its limit before anything is
//     allocated or awaited.
//   - Line (with a strict custom Delimiter option), Netstring, LengthPrefix
//     (presets Int8, Int16, Int32 equal Twisted's IntNStringReceiver formats)
//     and Raw: the codecs, with DefaultMaxLineLength and DefaultMaxFrameLength
//     as their default limits and Validate to check a configuration.
//   - ScanCounter: decoders that count the bytes they examine (for linear-cost
//     checks).
//   - NewProtocol, FrameHandler and FrameTransport: a weft.Protocol that
//     decodes frames for a handler, sends frames (SendFrame) and may switch
//     codec between two frames (SetCodec) without losing buffered bytes.
//     Half-close passes through: a handler with ReadConnectionLost (a
//     weft.HalfCloseable) is told of the peer's end of stream after its last
//     frame, and FrameTransport is a weft.HalfCloser (LoseWriteConnection).
//   - LineReceiver and LineHandler: Twisted's LineReceiver (LineReceived,
//     RawDataReceived, SetRawMode, SetLineMode, SendLine, MaxLength,
//     LineLengthExceeded, ClearLineBuffer).
//   - FrameReader, FrameWriter and SplitFunc: blocking-style framing over any
//     io.Reader / io.Writer, and a bufio.SplitFunc for bufio.Scanner.
//   - ErrFrameTooLarge, ErrMalformed, ErrDelimiter, ErrTruncated, ErrConfig:
//     the sentinel errors; decode errors wrap them with the offset and reason.
//
// Subpackages: codec/codectest checks any Codec against these rules (and
// fuzzes it); codec/frameconn implements smallnest/goframe's FrameConn on weft
// codecs. docs/codecs.md describes every wire format.
package codec
