package codec

import (
	"encoding/binary"
	"fmt"
)

// LengthPrefix frames a payload behind a fixed-size unsigned length: Size
// bytes, big endian unless LittleEndian, then the payload. The zero value is
// a 4-byte big-endian length with a 1 MiB limit: Twisted's Int32StringReceiver
// format.
type LengthPrefix struct {
	// Size is the length field's size in bytes: 1, 2, 3, 4 or 8. Zero means 4.
	Size int
	// LittleEndian selects little-endian length fields. False (the zero value)
	// means big endian (network byte order, as Twisted uses).
	LittleEndian bool
	// IncludesHeader means the length counts the length field itself as well
	// as the payload (a length smaller than Size is then ErrMalformed). False
	// (the zero value) means the length is the payload's length alone.
	IncludesHeader bool
	// MaxLength is the largest payload accepted, in bytes. Zero means
	// DefaultMaxFrameLength (1 MiB), and the limit never exceeds what Size
	// bytes can express (255 payload bytes for Size 1).
	MaxLength int
}

// Int8 is Twisted's Int8StringReceiver format: a 1-byte unsigned length.
func Int8() LengthPrefix { return LengthPrefix{Size: 1} }

// Int16 is Twisted's Int16StringReceiver format: a 2-byte unsigned big-endian
// length.
func Int16() LengthPrefix { return LengthPrefix{Size: 2} }

// Int32 is Twisted's Int32StringReceiver format: a 4-byte unsigned big-endian
// length.
func Int32() LengthPrefix { return LengthPrefix{Size: 4} }

// Validate reports an invalid field.
func (c LengthPrefix) Validate() error {
	switch c.Size {
	case 0, 1, 2, 3, 4, 8:
	default:
		return fmt.Errorf("%w: LengthPrefix.Size %d is not 1, 2, 3, 4 or 8", ErrConfig, c.Size)
	}
	if c.MaxLength < 0 {
		return fmt.Errorf("%w: LengthPrefix.MaxLength %d is negative", ErrConfig, c.MaxLength)
	}
	return nil
}

func (c LengthPrefix) size() int {
	if c.Size == 0 {
		return 4
	}
	return c.Size
}

// Limit returns the effective payload limit: MaxLength (or its default),
// capped at what the length field can express.
func (c LengthPrefix) Limit() int {
	n := c.size()
	limit := uint64(c.MaxLength)
	if limit == 0 {
		limit = DefaultMaxFrameLength
	}
	if n < 8 {
		expressible := uint64(1)<<(8*n) - 1
		if c.IncludesHeader {
			expressible -= uint64(n)
		}
		limit = min(limit, expressible)
	}
	return int(limit)
}

// NewDecoder returns a length-prefix decoder.
func (c LengthPrefix) NewDecoder() Decoder {
	if err := c.Validate(); err != nil {
		return errDecoder{err}
	}
	return &lengthDecoder{size: c.size(), little: c.LittleEndian, incl: c.IncludesHeader, max: c.Limit()}
}

// AppendFrame appends the length field and payload. It refuses a payload over
// Limit() (ErrFrameTooLarge).
func (c LengthPrefix) AppendFrame(dst, payload []byte) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return dst, err
	}
	if len(payload) > c.Limit() {
		return dst, fmt.Errorf("%w: payload of %d bytes, limit is %d", ErrFrameTooLarge, len(payload), c.Limit())
	}
	return append(c.appendHeader(dst, len(payload)), payload...), nil
}

// appendHeader appends the header of a frame with a payload of n bytes.
func (c LengthPrefix) appendHeader(dst []byte, n int) []byte {
	size := c.size()
	v := uint64(n)
	if c.IncludesHeader {
		v += uint64(size)
	}
	var hdr [8]byte
	if c.LittleEndian {
		binary.LittleEndian.PutUint64(hdr[:], v)
		return append(dst, hdr[:size]...)
	}
	binary.BigEndian.PutUint64(hdr[:], v)
	return append(dst, hdr[8-size:]...)
}

type lengthDecoder struct {
	size    int
	little  bool
	incl    bool
	max     int
	n       int // payload length, valid when known
	known   bool
	err     error
	scanned int64
	off     int64
}

func (d *lengthDecoder) Reset() {
	d.known, d.err, d.scanned, d.off = false, nil, 0, 0
}

func (d *lengthDecoder) BytesScanned() int64 { return d.scanned }

// decoderIn configures the decoder of c in st at stream offset off
// (framed.decoderIn); c is valid.
func (c LengthPrefix) decoderIn(st *span, off int64) Decoder {
	st.lengths = lengthDecoder{size: c.size(), little: c.LittleEndian, incl: c.IncludesHeader, max: c.Limit(), off: off}
	return &st.lengths
}

func (d *lengthDecoder) Decode(buf []byte) (int, []byte, error) {
	if d.err != nil {
		return 0, nil, d.err
	}
	if !d.known {
		if len(buf) < d.size {
			return 0, nil, nil
		}
		d.scanned += int64(d.size)
		v := readUint(buf[:d.size], d.little)
		if d.incl {
			if v < uint64(d.size) {
				d.err = fmt.Errorf("%w: length %d at stream offset %d is smaller than the %d-byte header it includes",
					ErrMalformed, v, d.off, d.size)
				return 0, nil, d.err
			}
			v -= uint64(d.size)
		}
		if v > uint64(d.max) {
			d.err = fmt.Errorf("%w: length prefix at stream offset %d announces %d bytes, limit is %d",
				ErrFrameTooLarge, d.off, v, d.max)
			return 0, nil, d.err
		}
		d.n, d.known = int(v), true
	}
	if len(buf)-d.size < d.n { // no overflow when d.n is near MaxInt
		return 0, nil, nil
	}
	end := d.size + d.n
	d.known = false
	d.off += int64(end)
	return end, buf[d.size:end], nil
}

// readUint decodes an unsigned integer of len(b) (1 to 8) bytes.
func readUint(b []byte, little bool) uint64 {
	var v uint64
	if little {
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v
	}
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// frameInto checks payload as AppendFrame does and writes the bytes that go
// before it into hdr[:n]; tail goes after it. ok is false when the frame
// cannot be split that way (AppendFrame is used then). See builtinParts.
func (c *LengthPrefix) frameInto(hdr *[24]byte, payload []byte) (n int, tail []byte, ok bool, err error) {
	if err := c.Validate(); err != nil {
		return 0, nil, false, err
	}
	if len(payload) > c.Limit() {
		return 0, nil, false, fmt.Errorf("%w: payload of %d bytes, limit is %d", ErrFrameTooLarge, len(payload), c.Limit())
	}
	return len(c.appendHeader(hdr[:0], len(payload))), nil, true, nil
}
