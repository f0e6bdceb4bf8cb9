package gen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// Codec names the wire framing of echo frames.
type Codec string

// The codecs the generator speaks.
const (
	Line      Codec = "line"      // payload + "\r\n"
	Netstring Codec = "netstring" // "<len>:" payload ","
	Int32     Codec = "int32"     // 4-byte big-endian length, then payload
)

// ErrBadConfig reports an invalid generator configuration.
var ErrBadConfig = errors.New("gen: bad configuration")

// MinPayload is the smallest payload: it holds the 16 hex digits of the
// frame's tag (connection and sequence number).
const MinPayload = 16

const alphabet = "abcdefghijklmnopqrstuvwxyz"

// Framer builds and verifies the frames of one codec and payload size. A frame's
// payload is a tag in 16 hex digits — the connection's number in the high 32
// bits, XORed with the sequence number — followed by a run of the alphabet
// starting at an offset derived from the sequence number and the connection,
// so every byte of an echoed frame can be checked without storing what was
// sent, and no two connections' frames of the same sequence number are alike
// (the alphabet's offset alone repeats every 26 connections).
type Framer struct {
	codec   Codec
	size    int    // payload bytes
	prefix  []byte // codec header (fixed, since the size is fixed)
	suffix  []byte // codec trailer
	pattern []byte // alphabet repeated, len size+26
}

// NewFramer returns a Framer for codec c and payloads of size bytes.
func NewFramer(c Codec, size int) (*Framer, error) {
	if size < MinPayload {
		return nil, fmt.Errorf("%w: payload size %d below %d", ErrBadConfig, size, MinPayload)
	}
	if size > 16<<20 {
		return nil, fmt.Errorf("%w: payload size %d above 16 MiB", ErrBadConfig, size)
	}
	f := &Framer{codec: c, size: size}
	switch c {
	case Line:
		f.suffix = []byte("\r\n")
	case Netstring:
		f.prefix = []byte(strconv.Itoa(size) + ":")
		f.suffix = []byte(",")
	case Int32:
		f.prefix = binary.BigEndian.AppendUint32(nil, uint32(size))
	default:
		return nil, fmt.Errorf("%w: codec %q (want line, netstring or int32)", ErrBadConfig, c)
	}
	f.pattern = make([]byte, size+len(alphabet))
	for i := range f.pattern {
		f.pattern[i] = alphabet[i%len(alphabet)]
	}
	return f, nil
}

// WireSize is the size of one frame on the wire.
func (f *Framer) WireSize() int { return len(f.prefix) + f.size + len(f.suffix) }

// PayloadSize is the payload size of one frame.
func (f *Framer) PayloadSize() int { return f.size }

func (f *Framer) fill(conn int, seq uint64) []byte {
	off := int((seq + uint64(conn)) % uint64(len(alphabet)))
	return f.pattern[off : off+f.size-MinPayload]
}

// tag is the 16-hex-digit header of frame (conn, seq).
func tag(conn int, seq uint64) uint64 { return uint64(uint32(conn))<<32 ^ seq }

// Append appends the frame (conn, seq) to dst without allocating when dst has
// room.
func (f *Framer) Append(dst []byte, conn int, seq uint64) []byte {
	var h [16]byte
	putHex(&h, tag(conn, seq))
	dst = append(dst, f.prefix...)
	dst = append(dst, h[:]...)
	dst = append(dst, f.fill(conn, seq)...)
	return append(dst, f.suffix...)
}

// Verify reports whether w (exactly WireSize bytes) is frame (conn, seq).
func (f *Framer) Verify(w []byte, conn int, seq uint64) bool {
	if len(w) != f.WireSize() {
		return false
	}
	p := len(f.prefix)
	if !bytes.Equal(w[:p], f.prefix) {
		return false
	}
	return f.VerifyPayload(w[p:p+f.size], conn, seq) && bytes.Equal(w[p+f.size:], f.suffix)
}

// VerifyPayload reports whether p is the payload of frame (conn, seq).
func (f *Framer) VerifyPayload(p []byte, conn int, seq uint64) bool {
	if len(p) != f.size {
		return false
	}
	var h [16]byte
	putHex(&h, tag(conn, seq))
	if string(p[:MinPayload]) != string(h[:]) {
		return false
	}
	return bytes.Equal(p[MinPayload:], f.fill(conn, seq))
}

const hexDigits = "0123456789abcdef"

// putHex writes v as 16 lowercase hex digits.
func putHex(h *[16]byte, v uint64) {
	for i := 15; i >= 0; i-- {
		h[i] = hexDigits[v&15]
		v >>= 4
	}
}

func appendHex(dst []byte, v uint64) []byte {
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, hexDigits[(v>>uint(i))&15])
	}
	return dst
}

// parseHex parses exactly 16 lowercase hex digits.
func parseHex(b []byte) (uint64, bool) {
	if len(b) != 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
