package server

import (
	"fmt"
	"net"

	"github.com/weftkit/weft/endpoint"
)

// Listen parses the endpoint description desc (for example
// "tcp:8007:interface=127.0.0.1", "tls:8443:privateKey=k.pem",
// "tcp:8007:proxy=10.0.0.0/8:reuseport=yes") and serves on it, as
// ListenEndpoint.
func (s *Server) Listen(desc string) error {
	ep, err := endpoint.ParseServer(desc)
	if err != nil {
		return err
	}
	return s.ListenEndpoint(ep)
}

// ListenEndpoint opens the endpoint's listener and serves it until Shutdown
// or Close (returning ErrServerClosed). It honours the endpoint's Proxy list
// (PROXY protocol from those sources, see ServeProxy) and TLS: the server
// runs the TLS handshake itself, after any PROXY header, off the accept loop
// (on a goroutine of the connection's own) within HandshakeTimeout.
// SO_REUSEPORT, unix socket modes and the backlog are the endpoint's
// business.
func (s *Server) ListenEndpoint(ep *endpoint.Server) error {
	_, serve, err := s.OpenEndpoint(ep)
	if err != nil {
		return err
	}
	return serve()
}

// OpenEndpoint opens the endpoint's listener as ListenEndpoint does and
// returns it with a function that serves it (blocking, like ListenEndpoint),
// so that a caller can learn the bound address — port 0 — before serving.
func (s *Server) OpenEndpoint(ep *endpoint.Server) (net.Listener, func() error, error) {
	if ep == nil {
		return nil, nil, fmt.Errorf("%w: nil *endpoint.Server", ErrInvalidConfig)
	}
	if err := s.init(); err != nil {
		return nil, nil, err
	}
	raw := *ep
	if raw.Type == "tls" {
		if ep.TLS == nil {
			return nil, nil, fmt.Errorf("%w: endpoint %q: type tls without a TLS configuration", ErrInvalidConfig, ep.Desc)
		}
		raw.Type = "tcp" // the server wraps each connection in TLS itself
	}
	if s.isClosing() {
		// Listening would use the cancelled s.ctx (a unix socket's stale
		// probe then fails with "operation was canceled").
		return nil, nil, ErrServerClosed
	}
	l, err := raw.Listen(s.ctx)
	if err != nil {
		if s.isClosing() { // cut short by Shutdown or Close
			return nil, nil, fmt.Errorf("%w: %w", ErrServerClosed, err)
		}
		return nil, nil, err
	}
	return l, func() error { return s.serve(&listenerState{l: l, proxy: ep.Proxy, tls: ep.TLS}) }, nil
}
