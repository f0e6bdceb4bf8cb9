// Package wire is the minimal framing shared by the benchmark's peer servers
// (gnet and the in-file weft echo): Next splits one frame off a buffer,
// Append encodes one. Codecs: "line" (a line ending in "\n", an optional "\r"
// stripped; written with "\r\n"), "netstring" and "int32" (4-byte big-endian
// length). Frames are limited to MaxFrame bytes.
package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// MaxFrame is the largest payload accepted.
const MaxFrame = 1 << 20

// ErrFrame reports a malformed or oversized frame.
var ErrFrame = errors.New("wire: bad frame")

// Check reports whether codec is known.
func Check(codec string) error {
	switch codec {
	case "line", "netstring", "int32":
		return nil
	}
	return fmt.Errorf("%w: unknown codec %q (want line, netstring or int32)", ErrFrame, codec)
}

// Next returns the first complete frame's payload in buf and the bytes it
// takes, or n == 0 when buf holds no complete frame yet.
func Next(codec string, buf []byte) (payload []byte, n int, err error) {
	switch codec {
	case "line":
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			if len(buf) > MaxFrame {
				return nil, 0, fmt.Errorf("%w: line longer than %d", ErrFrame, MaxFrame)
			}
			return nil, 0, nil
		}
		p := buf[:i]
		if len(p) > 0 && p[len(p)-1] == '\r' {
			p = p[:len(p)-1]
		}
		return p, i + 1, nil
	case "netstring":
		i := bytes.IndexByte(buf[:min(len(buf), 8)], ':')
		if i < 0 {
			if len(buf) >= 8 {
				return nil, 0, fmt.Errorf("%w: netstring length too long", ErrFrame)
			}
			return nil, 0, nil
		}
		size, perr := strconv.Atoi(string(buf[:i]))
		if perr != nil || size < 0 || size > MaxFrame || (i > 1 && buf[0] == '0') {
			return nil, 0, fmt.Errorf("%w: netstring length %q", ErrFrame, buf[:i])
		}
		end := i + 1 + size
		if len(buf) <= end {
			return nil, 0, nil
		}
		if buf[end] != ',' {
			return nil, 0, fmt.Errorf("%w: netstring without ','", ErrFrame)
		}
		return buf[i+1 : end], end + 1, nil
	case "int32":
		if len(buf) < 4 {
			return nil, 0, nil
		}
		size := binary.BigEndian.Uint32(buf)
		if size > MaxFrame {
			return nil, 0, fmt.Errorf("%w: length %d over %d", ErrFrame, size, MaxFrame)
		}
		end := 4 + int(size)
		if len(buf) < end {
			return nil, 0, nil
		}
		return buf[4:end], end, nil
	}
	return nil, 0, Check(codec)
}

// Append appends payload encoded as one frame.
func Append(codec string, dst, payload []byte) []byte {
	switch codec {
	case "line":
		dst = append(dst, payload...)
		return append(dst, '\r', '\n')
	case "netstring":
		dst = strconv.AppendInt(dst, int64(len(payload)), 10)
		dst = append(dst, ':')
		dst = append(dst, payload...)
		return append(dst, ',')
	default:
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
		return append(dst, payload...)
	}
}
