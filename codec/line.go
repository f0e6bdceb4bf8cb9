package codec

import (
	"bytes"
	"fmt"
)

// Line frames text lines.
//
// With no Delimiter (the zero value), an input line ends at "\n" and one "\r"
// just before it is stripped, as bufio.ScanLines and Netty do; output lines
// end in "\r\n". With a Delimiter, framing is strict both ways: a line ends at
// the first occurrence of Delimiter, nothing else is stripped, and output
// lines end in Delimiter (Twisted's LineReceiver.delimiter).
type Line struct {
	// Delimiter, if not empty, is the exact byte string that ends a line in
	// both directions. Empty means lenient input ("\n" or "\r\n") and "\r\n"
	// output.
	Delimiter []byte
	// MaxLength is the longest line accepted, in bytes, not counting the
	// delimiter (Twisted's MAX_LENGTH: a line of exactly MaxLength bytes is
	// accepted). Zero means DefaultMaxLineLength (16 KiB). A longer line, or
	// an unterminated buffer that can no longer become an acceptable line,
	// fails with ErrFrameTooLarge.
	MaxLength int
}

var crlf = []byte("\r\n")

// Validate reports an invalid field.
func (c Line) Validate() error {
	if c.MaxLength < 0 {
		return fmt.Errorf("%w: Line.MaxLength %d is negative", ErrConfig, c.MaxLength)
	}
	return nil
}

func (c Line) limit() int {
	if c.MaxLength == 0 {
		return DefaultMaxLineLength
	}
	return c.MaxLength
}

// NewDecoder returns a line decoder.
func (c Line) NewDecoder() Decoder {
	if err := c.Validate(); err != nil {
		return errDecoder{err}
	}
	if len(c.Delimiter) == 0 {
		return &lineDecoder{max: c.limit()}
	}
	return &strictLineDecoder{lineDecoder{max: c.limit()}, bytes.Clone(c.Delimiter)}
}

// AppendFrame appends payload and the line ending. It refuses a payload longer
// than MaxLength (ErrFrameTooLarge) and one the decoder would split: one
// containing "\n" (lenient mode) or the Delimiter, including a Delimiter that
// would start inside the payload's tail (ErrDelimiter).
func (c Line) AppendFrame(dst, payload []byte) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return dst, err
	}
	if len(payload) > c.limit() {
		return dst, fmt.Errorf("%w: line of %d bytes, MaxLength is %d", ErrFrameTooLarge, len(payload), c.limit())
	}
	if len(c.Delimiter) == 0 {
		if i := bytes.IndexByte(payload, '\n'); i >= 0 {
			return dst, fmt.Errorf("%w: \"\\n\" at byte %d", ErrDelimiter, i)
		}
		return append(append(dst, payload...), crlf...), nil
	}
	start := len(dst)
	out := append(append(dst, payload...), c.Delimiter...)
	if i := bytes.Index(out[start:], c.Delimiter); i != len(payload) {
		return out[:start], fmt.Errorf("%w: delimiter %q at byte %d", ErrDelimiter, c.Delimiter, i)
	}
	return out, nil
}

// lineDecoder decodes lenient lines; strictLineDecoder, lines with a
// Delimiter. They are two types so that the default one stays small.
type lineDecoder struct {
	max     int
	from    int // first position of buf not yet searched
	scanned int64
	off     int64 // stream offset of buf[0]
	broken  bool  // a line was too long (at off); the error is rebuilt
}

func (d *lineDecoder) Reset()              { d.from, d.broken, d.scanned, d.off = 0, false, 0, 0 }
func (d *lineDecoder) BytesScanned() int64 { return d.scanned }

// decoderIn configures the decoder of c in st at stream offset off
// (framed.decoderIn); c is valid and has no Delimiter.
func (c Line) decoderIn(st *span, off int64) Decoder {
	st.lines = lineDecoder{max: c.limit(), off: off}
	return &st.lines
}

type strictLineDecoder struct {
	lineDecoder
	delim []byte
}

// begin returns the error of a broken decoder.
func (d *lineDecoder) begin(buf []byte) error {
	if d.broken {
		return d.tooLong()
	}
	if d.from > len(buf) {
		d.from = 0 // the caller broke the contract; rescan rather than misbehave
	}
	return nil
}

func (d *lineDecoder) Decode(buf []byte) (int, []byte, error) {
	if err := d.begin(buf); err != nil {
		return 0, nil, err
	}
	d.scanned += int64(len(buf) - d.from)
	i := bytes.IndexByte(buf[d.from:], '\n')
	if i < 0 {
		d.from = len(buf)
		// An unterminated line may still end with "\r" then "\n".
		if n := len(buf) - 1; n > d.max || (n == d.max && buf[n] != '\r') { // no overflow near MaxInt
			return 0, nil, d.fail()
		}
		return 0, nil, nil
	}
	end := d.from + i
	d.scanned -= int64(len(buf) - end - 1)
	line := buf[:end]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) > d.max {
		return 0, nil, d.fail()
	}
	return d.frame(end+1, line)
}

func (d *strictLineDecoder) Decode(buf []byte) (int, []byte, error) {
	if err := d.begin(buf); err != nil {
		return 0, nil, err
	}
	start := d.from
	i := bytes.Index(buf[start:], d.delim)
	if i < 0 {
		d.from = max(start, len(buf)-len(d.delim)+1)
		d.scanned += int64(len(buf) - start)
		// Twisted's rule: MaxLength bytes plus a partial delimiter may wait.
		if len(buf)-len(d.delim) >= d.max { // no overflow near MaxInt
			return 0, nil, d.fail()
		}
		return 0, nil, nil
	}
	end := start + i
	d.scanned += int64(end + len(d.delim) - start)
	if end > d.max {
		return 0, nil, d.fail()
	}
	return d.frame(end+len(d.delim), buf[:end])
}

func (d *lineDecoder) frame(adv int, line []byte) (int, []byte, error) {
	d.from = 0
	d.off += int64(adv)
	return adv, line, nil
}

// fail records a too-long line.
func (d *lineDecoder) fail() error {
	d.broken = true
	return d.tooLong()
}

// tooLong is the error of a broken decoder (kept as a flag, not an error
// value, to keep the decoder small). The message does not depend on how the
// input was chunked.
func (d *lineDecoder) tooLong() error {
	return fmt.Errorf("%w: line at stream offset %d is longer than MaxLength %d", ErrFrameTooLarge, d.off, d.max)
}

// frameInto checks payload as AppendFrame does and writes the bytes that go
// before it into hdr[:n]; tail goes after it. ok is false when the frame
// cannot be split that way (AppendFrame is used then). See builtinParts.
func (c *Line) frameInto(hdr *[24]byte, payload []byte) (n int, tail []byte, ok bool, err error) {
	if len(c.Delimiter) != 0 {
		return 0, nil, false, nil // the strict check needs the joined frame
	}
	if err := c.Validate(); err != nil {
		return 0, nil, false, err
	}
	if len(payload) > c.limit() {
		return 0, nil, false, fmt.Errorf("%w: line of %d bytes, MaxLength is %d", ErrFrameTooLarge, len(payload), c.limit())
	}
	if i := bytes.IndexByte(payload, '\n'); i >= 0 {
		return 0, nil, false, fmt.Errorf("%w: \"\\n\" at byte %d", ErrDelimiter, i)
	}
	return 0, crlf, true, nil
}
