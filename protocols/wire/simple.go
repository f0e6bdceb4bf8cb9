package wire

import (
	"net"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// Echo is the Factory of the echo service (RFC 862): every byte received is
// sent back unchanged. Reading stops while the output waiting for the client
// is above the write buffer's high-water mark and resumes at the low-water
// mark, so a client that sends faster than it reads is slowed down (its
// writes wait), not dropped as a slow consumer, and nothing it sent is lost.
// Each read is echoed in one Write, which may land on output still queued
// up to the high-water mark: this holds when the connection's
// MaxWriteBuffer is at least HighWater plus ReadBufferSize (the defaults,
// 64 KiB + 64 KiB under 1 MiB, are); with less, such a client is dropped
// with weft.ErrSlowConsumer (TestEchoFlowControlTightBuffer, skipped). The
// zero value is ready to use.
type Echo struct{}

// BuildProtocol implements weft.Factory.
func (Echo) BuildProtocol(net.Addr) weft.Protocol { return &echo{} }

type echo struct {
	t         weft.Transport
	throttled bool
}

func (p *echo) ConnectionMade(t weft.Transport) { p.t = t }
func (p *echo) DataReceived(data []byte) {
	p.throttled = throttle(p.t, p.throttled)
	_, _ = p.t.Write(data)
}
func (p *echo) ConnectionLost(error) {}

// throttle registers a readThrottle on t the first time output is found
// waiting for the peer (done tells it already was): a connection whose
// peer keeps up never needs one, and so never pays for the producer's
// state. It reports whether t is throttled.
func throttle(t weft.Transport, done bool) bool {
	if done || t.Buffered() == 0 {
		return done
	}
	t.RegisterProducer(readThrottle{t}) // pauses at once if above HighWater
	return true
}

// readThrottle is the Producer of a service whose output is made of its
// input: the write buffer's water marks pause and resume reading.
type readThrottle struct{ t weft.Transport }

func (r readThrottle) PauseProducing()  { r.t.PauseReading() }
func (r readThrottle) ResumeProducing() { r.t.ResumeReading() }
func (r readThrottle) StopProducing()   {}

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
// (too large, malformed) closes the connection with the codec's error. As
// Echo, it stops reading while its output is above the high-water mark
// (with the same condition on MaxWriteBuffer).
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

type framedEcho struct {
	t         codec.FrameTransport
	throttled bool
}

func (p *framedEcho) ConnectionMade(t codec.FrameTransport) { p.t = t }
func (p *framedEcho) FrameReceived(frame []byte) {
	p.throttled = throttle(p.t, p.throttled)
	if err := p.t.SendFrame(frame); err != nil {
		p.t.LoseConnection()
	}
}
func (p *framedEcho) ConnectionLost(error) {}
