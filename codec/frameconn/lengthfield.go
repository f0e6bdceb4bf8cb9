package frameconn

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/weftkit/weft/codec"
)

// EncoderConfig configures the length field written before each frame
// (goframe's EncoderConfig, Netty's LengthFieldPrepender).
type EncoderConfig struct {
	// ByteOrder is the byte order of the length field. Nil means big endian
	// (goframe would panic).
	ByteOrder binary.ByteOrder
	// LengthFieldLength is the size of the length field: 1, 2, 3, 4 or 8.
	LengthFieldLength int
	// LengthAdjustment is added to the payload length to form the field's
	// value.
	LengthAdjustment int
	// LengthIncludesLengthFieldLength adds the field's own size to its value.
	LengthIncludesLengthFieldLength bool
}

// DecoderConfig configures how frames are found (goframe's DecoderConfig,
// Netty's LengthFieldBasedFrameDecoder).
type DecoderConfig struct {
	// ByteOrder is the byte order of the length field. Nil means big endian.
	ByteOrder binary.ByteOrder
	// LengthFieldOffset is the number of bytes before the length field.
	LengthFieldOffset int
	// LengthFieldLength is the size of the length field: 1, 2, 3, 4 or 8.
	LengthFieldLength int
	// LengthAdjustment is added to the field's value to give the number of
	// bytes that follow the length field.
	LengthAdjustment int
	// InitialBytesToStrip is the number of bytes removed from the start of
	// the whole frame (header, length field and rest) before it is returned.
	InitialBytesToStrip int
	// MaxFrameLength bounds the whole frame (offset + length field + the
	// bytes after it), checked as soon as the length field has arrived,
	// before anything is allocated. Zero means DefaultMaxFrameLength. Not in
	// goframe, which allocates whatever a peer announces. A configuration
	// under which no frame fits (LengthFieldOffset + LengthFieldLength or
	// LengthAdjustment over the limit) is invalid.
	MaxFrameLength int
}

// LengthField is the codec behind NewLengthFieldBasedFrameConn: it encodes
// with Encoder and decodes with Decoder. Each configuration is checked when
// used: AppendFrame returns the Encoder's error and the decoder fails with
// the Decoder's, naming the field.
type LengthField struct {
	Encoder EncoderConfig // how frames are written
	Decoder DecoderConfig // how frames are read
}

func order(o binary.ByteOrder) binary.ByteOrder {
	if o == nil {
		return binary.BigEndian
	}
	return o
}

func checkSize(field string, n int) error {
	switch n {
	case 1, 2, 3, 4, 8:
		return nil
	}
	return fmt.Errorf("%w: %w: %s %d", codec.ErrConfig, ErrUnsupportedLength, field, n)
}

// validate reports an invalid DecoderConfig field.
func (c DecoderConfig) validate() error {
	if err := checkSize("DecoderConfig.LengthFieldLength", c.LengthFieldLength); err != nil {
		return err
	}
	switch {
	case c.LengthFieldOffset < 0:
		return fmt.Errorf("%w: DecoderConfig.LengthFieldOffset %d is negative", codec.ErrConfig, c.LengthFieldOffset)
	case c.InitialBytesToStrip < 0:
		return fmt.Errorf("%w: DecoderConfig.InitialBytesToStrip %d is negative", codec.ErrConfig, c.InitialBytesToStrip)
	case c.MaxFrameLength < 0:
		return fmt.Errorf("%w: DecoderConfig.MaxFrameLength %d is negative", codec.ErrConfig, c.MaxFrameLength)
	}
	// No frame could fit: refused here rather than after buffering up to
	// the offset (or overflowing int on the way).
	limit := c.limit()
	switch {
	case c.LengthFieldOffset > limit-c.LengthFieldLength:
		return fmt.Errorf("%w: DecoderConfig.LengthFieldOffset %d + LengthFieldLength %d is over the frame limit %d",
			codec.ErrConfig, c.LengthFieldOffset, c.LengthFieldLength, limit)
	case c.LengthAdjustment > limit:
		return fmt.Errorf("%w: DecoderConfig.LengthAdjustment %d is over the frame limit %d",
			codec.ErrConfig, c.LengthAdjustment, limit)
	}
	return nil
}

// limit is MaxFrameLength, or DefaultMaxFrameLength when it is zero.
func (c DecoderConfig) limit() int {
	if c.MaxFrameLength == 0 {
		return DefaultMaxFrameLength
	}
	return c.MaxFrameLength
}

// isLittleEndian reports whether o puts the low byte first, whatever its
// type (binary.NativeEndian is not binary.LittleEndian).
func isLittleEndian(o binary.ByteOrder) bool { return o.Uint16([]byte{1, 0}) == 1 }

// AppendFrame appends the length field and payload, refusing a length that
// does not fit the field (goframe silently truncates a 4-byte one).
func (c LengthField) AppendFrame(dst, payload []byte) ([]byte, error) {
	e := c.Encoder
	n := e.LengthFieldLength
	if err := checkSize("EncoderConfig.LengthFieldLength", n); err != nil {
		return dst, err
	}
	extra := int64(0)
	if e.LengthIncludesLengthFieldLength {
		extra = int64(n)
	}
	if int64(e.LengthAdjustment) > math.MaxInt64-int64(len(payload))-extra {
		return dst, fmt.Errorf("%w: length %d + adjustment %d overflows", codec.ErrFrameTooLarge, len(payload), e.LengthAdjustment)
	}
	length := int64(len(payload)) + int64(e.LengthAdjustment) + extra
	if length < 0 {
		return dst, ErrTooLessLength
	}
	if n < 8 && length >= 1<<(8*n) {
		return dst, fmt.Errorf("%w: length %d does not fit a %d-byte field", codec.ErrFrameTooLarge, length, n)
	}
	var b [8]byte
	o := order(e.ByteOrder)
	switch n {
	case 1:
		b[0] = byte(length)
	case 2:
		o.PutUint16(b[:], uint16(length))
	case 3:
		if isLittleEndian(o) {
			b[0], b[1], b[2] = byte(length), byte(length>>8), byte(length>>16)
		} else {
			b[0], b[1], b[2] = byte(length>>16), byte(length>>8), byte(length)
		}
	case 4:
		o.PutUint32(b[:], uint32(length))
	case 8:
		o.PutUint64(b[:], uint64(length))
	}
	return append(append(dst, b[:n]...), payload...), nil
}

// NewDecoder returns a decoder for Decoder.
func (c LengthField) NewDecoder() codec.Decoder {
	d := c.Decoder
	err := d.validate()
	return &lengthFieldDecoder{cfg: d, cfgErr: err, err: err, max: int64(d.limit())}
}

type lengthFieldDecoder struct {
	cfg     DecoderConfig
	max     int64
	cfgErr  error // invalid configuration: kept by Reset
	err     error // cfgErr or a decode error
	frame   int64 // whole frame length, once known (0: not yet)
	scanned int64
	off     int64
}

func (d *lengthFieldDecoder) Reset()              { d.frame, d.scanned, d.off, d.err = 0, 0, 0, d.cfgErr }
func (d *lengthFieldDecoder) BytesScanned() int64 { return d.scanned }

func (d *lengthFieldDecoder) Decode(buf []byte) (int, []byte, error) {
	if d.err != nil {
		return 0, nil, d.err
	}
	cfg := d.cfg
	if d.frame == 0 {
		hdrEnd := cfg.LengthFieldOffset + cfg.LengthFieldLength
		if len(buf) < hdrEnd {
			return 0, nil, nil
		}
		d.scanned += int64(cfg.LengthFieldLength)
		v := readField(order(cfg.ByteOrder), buf[cfg.LengthFieldOffset:hdrEnd])
		limit := d.max
		if v > math.MaxInt32*4 { // far over any limit; keeps the arithmetic below in range
			return 0, nil, d.fail(fmt.Errorf("%w: length field %d at stream offset %d", codec.ErrFrameTooLarge, v, d.off))
		}
		if int64(cfg.LengthAdjustment) > limit-int64(hdrEnd)-int64(v) { // hdrEnd + v + adjustment > limit, without overflow
			return 0, nil, d.fail(fmt.Errorf("%w: length field %d + adjustment %d at stream offset %d is over MaxFrameLength %d",
				codec.ErrFrameTooLarge, v, cfg.LengthAdjustment, d.off, limit))
		}
		rest := int64(v) + int64(cfg.LengthAdjustment)
		if rest < 0 {
			return 0, nil, d.fail(fmt.Errorf("%w: length field %d + adjustment %d at stream offset %d: %w",
				codec.ErrMalformed, v, cfg.LengthAdjustment, d.off, ErrTooLessLength))
		}
		frame := int64(hdrEnd) + rest
		if frame > limit {
			return 0, nil, d.fail(fmt.Errorf("%w: frame of %d bytes at stream offset %d, MaxFrameLength is %d",
				codec.ErrFrameTooLarge, frame, d.off, limit))
		}
		if int64(cfg.InitialBytesToStrip) > frame {
			return 0, nil, d.fail(fmt.Errorf("%w: frame of %d bytes at stream offset %d is shorter than InitialBytesToStrip %d",
				codec.ErrMalformed, frame, d.off, cfg.InitialBytesToStrip))
		}
		d.frame = frame // at least 1: the length field has a size
	}
	if int64(len(buf)) < d.frame {
		return 0, nil, nil
	}
	n := int(d.frame)
	d.frame = 0
	d.off += int64(n)
	return n, buf[cfg.InitialBytesToStrip:n], nil
}

func (d *lengthFieldDecoder) fail(err error) error {
	d.err = err
	return err
}

func readField(o binary.ByteOrder, b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(o.Uint16(b))
	case 3:
		if isLittleEndian(o) {
			return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16
		}
		return uint64(b[2]) | uint64(b[1])<<8 | uint64(b[0])<<16
	case 4:
		return uint64(o.Uint32(b))
	}
	return o.Uint64(b)
}
