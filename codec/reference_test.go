package codec_test

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"slices"

	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/codectest"
)

// Reference decoders: deliberately naive whole-input decoders of each wire
// format, written from docs/codecs.md and not from the codec's code, for the
// fuzz targets' differential check (codectest.FuzzAgainst).

// refLine decodes lenient lines: "\n" ends a line, one "\r" before it is
// stripped; an unterminated rest that can no longer become a line of at most
// max bytes (max bytes, then "\r\n") is too large.
func refLine(max int) func([]byte) codectest.Result {
	return func(b []byte) (r codectest.Result) {
		for {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				if len(b) > max+1 || (len(b) == max+1 && b[max] != '\r') {
					r.Err = codec.ErrFrameTooLarge
				}
				r.Rest = len(b)
				return r
			}
			line, _ := bytes.CutSuffix(b[:i], []byte("\r"))
			if len(line) > max {
				r.Err = codec.ErrFrameTooLarge
				return r
			}
			r.Frames = append(r.Frames, line)
			b = b[i+1:]
		}
	}
}

// refStrictLine decodes lines ended by delim; an unterminated rest longer
// than max bytes plus a partial delimiter is too large.
func refStrictLine(delim []byte, max int) func([]byte) codectest.Result {
	return func(b []byte) (r codectest.Result) {
		for {
			line, rest, found := bytes.Cut(b, delim)
			if !found {
				if len(b) > max+len(delim)-1 {
					r.Err = codec.ErrFrameTooLarge
				}
				r.Rest = len(b)
				return r
			}
			if len(line) > max {
				r.Err = codec.ErrFrameTooLarge
				return r
			}
			r.Frames = append(r.Frames, line)
			b = rest
		}
	}
}

// refNetstring decodes netstrings with arbitrary-precision lengths: the
// length's digits are judged as they come (the first fault wins).
func refNetstring(max int) func([]byte) codectest.Result {
	return func(b []byte) (r codectest.Result) {
		for len(b) > 0 {
			r.Rest = len(b)
			j := 0
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				if j == 1 && b[0] == '0' {
					r.Err = codec.ErrMalformed
					return r
				}
				if v, _ := new(big.Int).SetString(string(b[:j+1]), 10); v.Cmp(big.NewInt(int64(max))) > 0 {
					r.Err = codec.ErrFrameTooLarge
					return r
				}
				j++
			}
			if j == len(b) {
				return r
			}
			if j == 0 || b[j] != ':' {
				r.Err = codec.ErrMalformed
				return r
			}
			v, _ := new(big.Int).SetString(string(b[:j]), 10)
			n := int(v.Int64())
			if len(b) < j+1+n+1 {
				return r
			}
			if b[j+1+n] != ',' {
				r.Err = codec.ErrMalformed
				return r
			}
			r.Frames = append(r.Frames, b[j+1:j+1+n])
			b = b[j+1+n+1:]
		}
		r.Rest = 0
		return r
	}
}

// refLengthPrefix decodes size-byte length prefixes of c.
func refLengthPrefix(c codec.LengthPrefix) func([]byte) codectest.Result {
	size := c.Size
	return func(b []byte) (r codectest.Result) {
		for len(b) >= size {
			var field [8]byte
			var v uint64
			if c.LittleEndian {
				copy(field[:], b[:size])
				v = binary.LittleEndian.Uint64(field[:])
			} else {
				copy(field[8-size:], b[:size])
				v = binary.BigEndian.Uint64(field[:])
			}
			if c.IncludesHeader {
				if v < uint64(size) {
					r.Err = codec.ErrMalformed
					return r
				}
				v -= uint64(size)
			}
			if v > uint64(c.MaxLength) {
				r.Err = codec.ErrFrameTooLarge
				return r
			}
			if uint64(len(b)-size) < v {
				break
			}
			r.Frames = append(r.Frames, b[size:size+int(v)])
			b = b[size+int(v):]
		}
		r.Rest = len(b)
		return r
	}
}

// refModes is an independent model of runModes on the whole input: the
// events modeScript records and whether the connection was closed (a line
// over 16 bytes, the LineReceiver's MaxLength in runModes).
func refModes(data, script []byte) (events []string, closed bool) {
	const max = 16
	b := slices.Clone(data)
	lines := 0
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			closed = len(b) > max+1 || (len(b) == max+1 && b[max] != '\r')
			return events, closed
		}
		line, _ := bytes.CutSuffix(b[:i], []byte("\r"))
		if len(line) > max {
			return events, true
		}
		events = append(events, "line:"+string(line))
		b = b[i+1:]
		if len(script) == 0 {
			continue
		}
		s := script[lines%len(script)]
		lines++
		switch s % 4 {
		case 0:
			need := 1 + int(s/4)
			if len(b) < need {
				if len(b) > 0 {
					events = append(events, "partial raw:"+string(b))
				}
				return events, false
			}
			events = append(events, "raw:"+string(b[:need]))
			b = b[need:]
		case 1:
			if string(line) != "x" {
				b = append([]byte("x\n"), b...)
			}
		}
	}
}
