package codec

import (
	"bytes"
	"crypto/tls"

	"github.com/weftkit/weft"
)

// takePending removes the bytes received and not yet decoded (a copy: they
// may live in the runtime's read buffer) and resets the decoder.
func (c *core) takePending() []byte {
	rest := bytes.Clone(c.undecoded())
	c.drop()
	c.resetDecoder()
	return rest
}

// startTLS upgrades the connection, handing the bytes received after the
// current frame (the start of the peer's TLS handshake) to TLS rather than
// decoding them as clear text. On failure they are put back.
func (c *core) startTLS(cfg *tls.Config) error {
	rest := c.takePending()
	if err := weft.StartTLS(c.t, cfg, rest); err != nil {
		c.unread(rest)
		return err
	}
	return nil
}

// StartTLS upgrades the connection to TLS; called from FrameReceived (for
// example after a STARTTLS command frame), the bytes already received after
// that frame go to TLS, never to the decoder.
func (t *frameTransport) StartTLS(cfg *tls.Config) error {
	t.settle() // what a coalescing handler gathered goes in clear text
	return t.startTLS(cfg)
}

// StartTLS: see frameTransport.StartTLS.
func (t *lineTransport) StartTLS(cfg *tls.Config) error {
	t.core.settle()
	return t.core.startTLS(cfg)
}
