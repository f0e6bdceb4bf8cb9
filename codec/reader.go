package codec

import (
	"bufio"
	"fmt"
	"io"
)

// minRead is the smallest free space FrameReader reads into.
const minRead = 4 << 10

// FrameReader reads frames from an io.Reader, for blocking-style code. It
// buffers what it reads: a frame that never ends makes it hold at most about
// 1.25 times the codec's limit, plus one 4 KiB read, before the decoder
// refuses it.
type FrameReader struct {
	r          io.Reader
	dec        Decoder
	buf        []byte
	start, end int
	err        error // sticky read error (or truncation)
	decErr     error // sticky decode error: nothing is decoded after it
}

// NewFrameReader returns a FrameReader decoding r with c.
func NewFrameReader(r io.Reader, c Codec) *FrameReader {
	return &FrameReader{r: r, dec: decoderFor(c)}
}

// SetCodec switches the framing between two frames; bytes already buffered
// are decoded with c.
func (fr *FrameReader) SetCodec(c Codec) { fr.dec = decoderFor(c) }

// Buffered returns the bytes read and not yet decoded (valid until the next
// ReadFrame).
func (fr *FrameReader) Buffered() []byte { return fr.buf[fr.start:fr.end] }

// ReadFrame returns the next frame. The frame is valid until the next call.
// At the end of the stream it returns io.EOF, or an error matching
// ErrTruncated and io.ErrUnexpectedEOF when the stream ended inside a frame.
// Decode errors match ErrFrameTooLarge or ErrMalformed, and an invalid codec
// or a nil reader ErrConfig; every error is returned again by later calls.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	if fr.decErr != nil {
		return nil, fr.decErr
	}
	if fr.dec == nil || fr.r == nil {
		return nil, errNoReader
	}
	for {
		if fr.start < fr.end {
			adv, frame, err := fr.dec.Decode(fr.buf[fr.start:fr.end])
			if err != nil {
				fr.decErr = err
				return nil, err
			}
			if adv > 0 {
				fr.start += adv
				return frame, nil
			}
		}
		if fr.err != nil {
			if fr.err == io.EOF && fr.start < fr.end {
				fr.err = truncated(fr.end - fr.start)
			}
			return nil, fr.err
		}
		fr.fill()
	}
}

// errNoReader is ReadFrame's error for a FrameReader without a reader (a nil
// io.Reader, or a zero FrameReader not made by NewFrameReader).
var errNoReader = fmt.Errorf("%w: FrameReader without an io.Reader (nil, or not made by NewFrameReader)", ErrConfig)

// fill reads more bytes, compacting or growing the buffer as needed.
func (fr *FrameReader) fill() {
	if fr.start == fr.end {
		fr.start, fr.end = 0, 0
	}
	if len(fr.buf)-fr.end < minRead {
		live := fr.end - fr.start
		if fr.start > 0 && len(fr.buf)-live >= minRead && fr.start >= live {
			copy(fr.buf, fr.buf[fr.start:fr.end])
		} else {
			// Grow by a quarter (at least minRead): the copies stay
			// linear in total, and a peer that never ends its frame
			// makes the buffer reach about 1.25 times the codec's
			// limit, not twice it.
			nb := make([]byte, live+max(minRead, live/4))
			copy(nb, fr.buf[fr.start:fr.end])
			fr.buf = nb
		}
		fr.start, fr.end = 0, live
	}
	for range 100 {
		n, err := fr.r.Read(fr.buf[fr.end:])
		fr.end += n
		if err != nil {
			fr.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	fr.err = io.ErrNoProgress
}

// FrameWriter writes frames to an io.Writer, one Write per frame.
type FrameWriter struct {
	w       io.Writer
	c       Codec
	scratch []byte
}

// NewFrameWriter returns a FrameWriter encoding with c.
func NewFrameWriter(w io.Writer, c Codec) *FrameWriter { return &FrameWriter{w: w, c: c} }

// SetCodec switches the framing of later frames.
func (fw *FrameWriter) SetCodec(c Codec) { fw.c = c }

// WriteFrame encodes p and writes it with one Write. It returns the codec's
// refusal (nothing written; an invalid codec or a nil writer is ErrConfig) or
// the writer's error; a Write that accepts
// only part of the frame without an error is io.ErrShortWrite.
func (fw *FrameWriter) WriteFrame(p []byte) error {
	if err := Validate(fw.c); err != nil {
		return err
	}
	if fw.w == nil {
		return fmt.Errorf("%w: FrameWriter without an io.Writer", ErrConfig)
	}
	out, err := fw.c.AppendFrame(fw.scratch[:0], p)
	if err != nil {
		return err
	}
	if cap(out) <= 64<<10 {
		fw.scratch = out
	}
	n, err := fw.w.Write(out)
	if err == nil && n < len(out) {
		err = io.ErrShortWrite
	}
	return err
}

// SplitFunc returns a bufio.SplitFunc that splits with c, for bufio.Scanner.
// Each SplitFunc holds one decoder: use it with one Scanner. Remember that a
// Scanner refuses tokens over its buffer size (64 KiB unless Scanner.Buffer
// says otherwise). A stream ending inside a frame is ErrTruncated.
func SplitFunc(c Codec) bufio.SplitFunc {
	dec := decoderFor(c)
	return func(data []byte, atEOF bool) (int, []byte, error) {
		adv, frame, err := dec.Decode(data)
		switch {
		case err != nil:
			return 0, nil, err
		case adv > 0:
			if frame == nil {
				frame = data[:0] // an empty frame is a token, not "need more"
			}
			return adv, frame, nil
		case atEOF && len(data) > 0:
			return 0, nil, truncated(len(data))
		}
		return 0, nil, nil
	}
}
