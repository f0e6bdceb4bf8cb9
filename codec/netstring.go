package codec

import (
	"fmt"
	"strconv"
)

// Netstring frames payloads as D. J. Bernstein's netstrings:
// "<len>:<payload>,", where len is the payload's length in ASCII decimal
// digits, with no sign, no spaces and no leading zero (except "0" itself).
// The parser is strict, like Twisted's NetstringReceiver: any deviation is
// ErrMalformed, reported as soon as the offending byte arrives, and a length
// over MaxLength is ErrFrameTooLarge as soon as its digits say so, before the
// colon arrives.
type Netstring struct {
	// MaxLength is the largest payload accepted, in bytes (a payload of
	// exactly MaxLength is accepted). Zero means DefaultMaxFrameLength
	// (1 MiB).
	MaxLength int
}

// Validate reports an invalid field.
func (c Netstring) Validate() error {
	if c.MaxLength < 0 {
		return fmt.Errorf("%w: Netstring.MaxLength %d is negative", ErrConfig, c.MaxLength)
	}
	return nil
}

func (c Netstring) limit() int {
	if c.MaxLength == 0 {
		return DefaultMaxFrameLength
	}
	return c.MaxLength
}

// NewDecoder returns a netstring decoder.
func (c Netstring) NewDecoder() Decoder {
	if err := c.Validate(); err != nil {
		return errDecoder{err}
	}
	return &netstringDecoder{max: c.limit()}
}

// AppendFrame appends "<len>:<payload>,". It refuses a payload longer than
// MaxLength (ErrFrameTooLarge).
func (c Netstring) AppendFrame(dst, payload []byte) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return dst, err
	}
	if len(payload) > c.limit() {
		return dst, fmt.Errorf("%w: netstring of %d bytes, MaxLength is %d", ErrFrameTooLarge, len(payload), c.limit())
	}
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, ':')
	dst = append(dst, payload...)
	return append(dst, ','), nil
}

type netstringDecoder struct {
	max     int
	pos     int  // bytes of the header examined so far
	n       int  // length parsed so far
	colon   bool // header complete: buf[:pos] is "<len>:"
	err     error
	scanned int64
	off     int64 // stream offset of the current frame
}

func (d *netstringDecoder) Reset() {
	*d = netstringDecoder{max: d.max}
}

func (d *netstringDecoder) BytesScanned() int64 { return d.scanned }

// decoderIn configures the decoder of c in st at stream offset off
// (framed.decoderIn); c is valid.
func (c Netstring) decoderIn(st *span, off int64) Decoder {
	st.netstrings = netstringDecoder{max: c.limit(), off: off}
	return &st.netstrings
}

func (d *netstringDecoder) Decode(buf []byte) (int, []byte, error) {
	if d.err != nil {
		return 0, nil, d.err
	}
	if d.pos > len(buf) {
		d.pos, d.n, d.colon = 0, 0, false // contract broken by the caller: start over
	}
	for !d.colon && d.pos < len(buf) {
		b := buf[d.pos]
		d.scanned++
		switch {
		case b == ':' && d.pos > 0:
			d.colon = true
		case b == ':':
			return 0, nil, d.malformed(d.pos, "length expected before ':'")
		case b < '0' || b > '9':
			return 0, nil, d.malformed(d.pos, fmt.Sprintf("byte %q where a digit or ':' was expected", b))
		case d.pos == 1 && buf[0] == '0':
			return 0, nil, d.malformed(d.pos, "leading zero in length")
		default:
			digit := int(b - '0')
			if digit > d.max || d.n > (d.max-digit)/10 { // d.n*10+digit > d.max, without overflow
				d.err = fmt.Errorf("%w: netstring at stream offset %d announces %s+ bytes, MaxLength is %d",
					ErrFrameTooLarge, d.off, buf[:d.pos+1], d.max)
				return 0, nil, d.err
			}
			d.n = d.n*10 + digit
		}
		d.pos++
	}
	if !d.colon {
		return 0, nil, nil
	}
	if len(buf)-d.pos <= d.n { // the comma, at d.pos+d.n, has not arrived (no overflow near MaxInt)
		return 0, nil, nil
	}
	end := d.pos + d.n // index of the comma
	d.scanned++
	if buf[end] != ',' {
		return 0, nil, d.malformed(end, fmt.Sprintf("byte %q where ',' was expected after the payload", buf[end]))
	}
	frame := buf[d.pos:end]
	d.off += int64(end + 1)
	d.pos, d.n, d.colon = 0, 0, false
	return end + 1, frame, nil
}

func (d *netstringDecoder) malformed(i int, why string) error {
	d.err = fmt.Errorf("%w: netstring byte at stream offset %d (byte %d of the frame): %s", ErrMalformed, d.off+int64(i), i, why)
	return d.err
}

var comma = []byte(",")

// frameInto checks payload as AppendFrame does and writes the bytes that go
// before it into hdr[:n]; tail goes after it. ok is false when the frame
// cannot be split that way (AppendFrame is used then). See builtinParts.
func (c *Netstring) frameInto(hdr *[24]byte, payload []byte) (n int, tail []byte, ok bool, err error) {
	if err := c.Validate(); err != nil {
		return 0, nil, false, err
	}
	if len(payload) > c.limit() {
		return 0, nil, false, fmt.Errorf("%w: netstring of %d bytes, MaxLength is %d", ErrFrameTooLarge, len(payload), c.limit())
	}
	head := append(strconv.AppendInt(hdr[:0], int64(len(payload)), 10), ':')
	return len(head), comma, true, nil
}
