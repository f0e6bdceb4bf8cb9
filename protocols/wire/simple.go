package wire

import (
	"net"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// Echo is the Factory of the echo service (RFC 862): every byte received is
// sent back unchanged. The zero value is ready to use.
type Echo struct{}

// BuildProtocol implements weft.Factory.
func (Echo) BuildProtocol(net.Addr) weft.Protocol { return &echo{} }

type echo struct{ t weft.Transport }

func (p *echo) ConnectionMade(t weft.Transport) { p.t = t }
func (p *echo) DataReceived(data []byte)        { _, _ = p.t.Write(data) }
func (p *echo) ConnectionLost(error)            {}

// Discard is the Factory of the discard service (RFC 863): everything
// received is dropped and nothing is ever sent. The zero value is ready to
// use.
type Discard struct{}

// BuildProtocol implements weft.Factory.
func (Discard) BuildProtocol(net.Addr) weft.Protocol { return discard{} }

type discard struct{}

func (discard) ConnectionMade(weft.Transport) {}
func (discard) DataReceived([]byte)           {}
func (discard) ConnectionLost(error)          {}

// FramedEcho is the Factory of a framed echo service: each frame received is
// sent back as one frame of the same codec. A frame the codec refuses
// (too large, malformed) closes the connection with the codec's error.
type FramedEcho struct {
	// Codec is the framing in both directions. Nil means codec.Raw{}, which
	// is plain Echo.
	Codec codec.Codec
}

// BuildProtocol implements weft.Factory.
func (f FramedEcho) BuildProtocol(net.Addr) weft.Protocol {
	c := f.Codec
	if c == nil {
		c = codec.Raw{}
	}
	return codec.NewProtocol(c, &framedEcho{})
}

type framedEcho struct{ t codec.FrameTransport }

func (p *framedEcho) ConnectionMade(t codec.FrameTransport) { p.t = t }
func (p *framedEcho) FrameReceived(frame []byte) {
	if err := p.t.SendFrame(frame); err != nil {
		p.t.LoseConnection()
	}
}
func (p *framedEcho) ConnectionLost(error) {}
