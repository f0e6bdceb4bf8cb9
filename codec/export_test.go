package codec

import "github.com/weftkit/weft"

// SetMinPiece makes the adapter or LineReceiver p extend a buffered partial
// frame by at least n bytes at a time (normally 4 KiB), so that tests with
// small inputs exercise the piecewise copying; n is under 256.
func SetMinPiece(p weft.Protocol, n int) {
	var c *core
	switch p := p.(type) {
	case *framed:
		c = &p.core
	case *LineReceiver:
		c = &p.core
	}
	c.flags.Store(c.flags.Load()&(1<<cPieceShift-1) | uint32(n)<<cPieceShift)
}

// HasDecoder reports whether the adapter p holds a decoder now: a built-in
// codec's lives in the read's span and goes with it when a read leaves
// nothing pending.
func HasDecoder(p weft.Protocol) bool { return p.(*framed).dec != nil }

// BufCap returns the capacity of the buffer the adapter or LineReceiver p
// holds for undecoded bytes (0 when it holds none).
func BufCap(p weft.Protocol) int {
	var c *core
	switch p := p.(type) {
	case *framed:
		c = &p.core
	case *LineReceiver:
		c = &p.core
	}
	if c.st == nil {
		return 0
	}
	return cap(c.st.buf)
}

// The codec adapters' transports are Posters (weft.Poster's doc says so).
var (
	_ weft.Poster = (*frameTransport)(nil)
	_ weft.Poster = (*lineTransport)(nil)
)
