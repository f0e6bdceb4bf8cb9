package frameconn

import (
	"fmt"

	"github.com/weftkit/weft/codec"
)

// Fixed is a codec of frames of exactly Length bytes. AppendFrame accepts any
// multiple of Length (goframe's WriteFrame does), so decoding gives it back
// as len(payload)/Length frames; an empty payload writes nothing.
type Fixed struct {
	// Length is the frame size in bytes; it must be positive (no zero value
	// makes sense).
	Length int
}

// Validate reports an invalid field.
func (c Fixed) Validate() error {
	if c.Length <= 0 {
		return fmt.Errorf("%w: Fixed.Length %d is not positive", codec.ErrConfig, c.Length)
	}
	return nil
}

// NewDecoder returns a fixed-length decoder.
func (c Fixed) NewDecoder() codec.Decoder { return &fixedDecoder{n: c.Length, err: c.Validate()} }

// AppendFrame appends payload, whose length must be a multiple of Length.
func (c Fixed) AppendFrame(dst, payload []byte) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return dst, err
	}
	if len(payload)%c.Length != 0 {
		return dst, fmt.Errorf("%w: %d bytes is not a multiple of %d", ErrUnexpectedFixedLength, len(payload), c.Length)
	}
	return append(dst, payload...), nil
}

type fixedDecoder struct {
	n   int
	err error
}

func (d *fixedDecoder) Reset() {}

// BytesScanned is zero: the decoder never examines the bytes.
func (d *fixedDecoder) BytesScanned() int64 { return 0 }

func (d *fixedDecoder) Decode(buf []byte) (int, []byte, error) {
	if d.err != nil {
		return 0, nil, d.err
	}
	if len(buf) < d.n {
		return 0, nil, nil
	}
	return d.n, buf[:d.n], nil
}
