package endpoint

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/weftkit/weft/internal/eofmark"
)

// DefaultTimeout is the connect timeout when the description has no
// timeout= keyword (Twisted's default, 30 s).
const DefaultTimeout = 30 * time.Second

// ErrTimeout: the connect (and, for tls, the handshake) did not complete
// within the Client's Timeout.
var ErrTimeout = errors.New("endpoint: connect timeout")

// Client is a parsed client description. ParseClient fills it; it may also be
// built directly.
type Client struct {
	// Type is "tcp", "unix" or "tls" (case-insensitive in the description;
	// "ssl" is read as "tls", "tcp4" and "tcp6" as "tcp").
	Type string
	// Network is the network for net.Dial: "tcp", "tcp4", "tcp6" or "unix".
	// For tcp and tls, Dial refuses any other than the first three
	// (ErrInvalidValue); empty means "tcp". For unix it is not used.
	Network string
	// Host is the host name or IP address (tcp, tls). ParseClient gives an
	// internationalised name in its ASCII (IDNA, "xn--") form, as does
	// hostname= for the TLS server name; Dial converts one set directly.
	Host string
	// Port is the port (tcp, tls): Dial refuses one outside [1, 65535]
	// (ErrInvalidValue).
	Port int
	// Path is the socket path (unix), checked as Server.Address: a path too
	// long for sun_path or holding a NUL byte (the kernel would stop there
	// and connect to another socket) gives ErrInvalidValue.
	Path string
	// Timeout bounds the connect and the TLS handshake (timeout=, seconds
	// or a Go duration). Zero means DefaultTimeout; negative is an error
	// (ErrInvalidValue), as ParseClient refuses it.
	Timeout time.Duration
	// BindAddress is the local IP address to connect from (bindAddress=).
	// Empty: chosen by the system.
	BindAddress string
	// TLS is non-nil for tls: TLS 1.2 at least, ServerName set to Host (or
	// hostname=), trusting caCerts= (or the directory of caCertsDir= or
	// trustRoots=) or the system roots.
	TLS *tls.Config
	// Via, for tls, is the client endpoint the TLS connection runs over
	// (Twisted's endpoint=, a nested description: a unix socket, another
	// TLS connection...); Host and Port then only name the server for
	// certificate verification, and BindAddress is Via's. Nil: TCP to
	// Host:Port. Its own timeout bounds its connect, Timeout the whole.
	// Dial refuses Via for another Type (ErrInvalidValue), and with a
	// BindAddress of its own (ErrArguments).
	Via *Client
	// Desc is the description this Client was parsed from.
	Desc string
}

// ParseClient parses a client description (Twisted's clientFromString
// grammar):
//
//	tcp:HOST:PORT[:timeout=S][:bindAddress=IP]      (or host=H:port=P, mixed)
//	unix:PATH[:timeout=S]                           (or path=PATH; lockfile= is accepted and ignored)
//	tls:HOST:PORT[:timeout=S][:bindAddress=IP][:caCerts=CA.pem][:hostname=NAME]
//	    [:certificate=CERT.pem[:privateKey=KEY.pem]][:insecure=yes][:endpoint=DESC]
//
// With a single positional after tcp, it is the port if host= was given and
// the host otherwise. Types are case-insensitive. caCerts replaces the system
// roots; insecure=yes skips verification (tests only); certificate= and
// privateKey= present a client certificate (privateKey defaults to
// certificate). Twisted's names are read too: certKey= for certificate=, and
// caCertsDir= or trustRoots= for a directory of *.pem CA files in place of
// caCerts=. endpoint=DESC (Twisted's, for tls) runs the TLS connection
// over the client description DESC, its colons escaped
// (tls:example.com:443:endpoint=unix\:/run/tunnel.sock): HOST then only
// names the server for verification.
func ParseClient(desc string) (*Client, error) {
	p, err := newParser(desc)
	if err != nil {
		return nil, err
	}
	c := &Client{Type: strings.ToLower(p.a.pos[0]), Desc: desc}
	rest := p.a.pos[1:]
	switch c.Type {
	case "tcp", "tcp4", "tcp6":
		c.Network, c.Type = c.Type, "tcp"
		p.hostPort(c, rest)
	case "tls", "ssl":
		c.Network, c.Type = "tcp", "tls"
		p.hostPort(c, rest)
		if p.err == nil {
			p.clientTLS(c)
		}
		if v, ok := p.kw("endpoint"); ok && p.err == nil {
			p.via(c, v)
		}
	case "unix":
		c.Network = "unix"
		c.Path, _ = p.onePositional(rest, "path")
		if p.err == nil {
			if err := checkUnixPath(c.Path); err != nil {
				p.fail("path", err)
			}
		}
		p.boolean("lockfile", false)
	default:
		return nil, &Error{Desc: desc, Part: "type", Err: fmt.Errorf("%w %q (client types: tcp, unix, tls)", ErrUnknownType, p.a.pos[0])}
	}
	c.Timeout = p.duration("timeout", DefaultTimeout)
	if err := p.done(); err != nil {
		return nil, err
	}
	return c, nil
}

func (p *parser) hostPort(c *Client, rest []string) {
	host, hasHost := p.kw("host")
	portS, hasPort := p.kw("port")
	switch {
	case len(rest) == 1 && hasHost && hasPort:
		p.extra(rest, " (host= and port= given)")
	case len(rest) == 1 && hasHost:
		portS, hasPort = rest[0], true
	case len(rest) == 1 && hasPort:
		host, hasHost = rest[0], true
	case len(rest) == 1:
		host, hasHost = rest[0], true
	case len(rest) == 2 && (hasHost || hasPort):
		p.fail(strings.Join(rest, ":"), fmt.Errorf("%w: host and port given both as positionals and keywords", ErrArguments))
	case len(rest) == 2:
		host, portS, hasHost, hasPort = rest[0], rest[1], true, true
	case len(rest) > 2:
		p.extra(rest[2:], "")
	}
	if p.err != nil {
		return
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	switch {
	case !hasHost || host == "":
		p.fail("host", fmt.Errorf("%w: missing", ErrArguments))
	case !hasPort:
		p.fail("port", fmt.Errorf("%w: missing", ErrArguments))
	}
	if p.err == nil {
		// An internationalised name is dialled, and verified, in its
		// ASCII form, as Twisted's _idnaBytes makes it.
		if a, err := hostASCII(host); err != nil {
			p.fail("host", err)
		} else {
			host = a
		}
	}
	c.Host = host
	if p.err == nil {
		c.Port = p.parseInt("port", portS, 10, 1, 65535)
	}
	if v, ok := p.kw("bindAddress"); ok {
		if _, err := netip.ParseAddr(v); err != nil {
			p.invalid("bindAddress", "%q is not an IP address", v)
		}
		c.BindAddress = v
	}
}

// via parses endpoint=, the description a TLS client runs over.
func (p *parser) via(c *Client, desc string) {
	if c.BindAddress != "" {
		p.fail("bindAddress", fmt.Errorf("%w: with endpoint=, bindAddress= belongs in its description", ErrArguments))
		return
	}
	v, err := ParseClient(desc)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			err = nestedError{e}
		}
		p.fail("endpoint", err)
		return
	}
	c.Via = v
}

// nestedError is a nested description's error inside its outer one's:
// "DESC: PART: REASON", without a second "endpoint: ", still matching the
// nested error's sentinel.
type nestedError struct{ e *Error }

func (n nestedError) Error() string { return strings.TrimPrefix(n.e.Error(), "endpoint: ") }
func (n nestedError) Unwrap() error { return n.e }

func (p *parser) clientTLS(c *Client) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.Host}
	if v, ok := p.kw("hostname"); ok {
		a, err := hostASCII(v)
		if err != nil {
			p.fail("hostname", err)
		}
		cfg.ServerName = a
	}
	// The trusted CAs: weft's caCerts= (one PEM file), or Twisted's
	// directory of *.pem files (caCertsDir= of ssl:, trustRoots= of tls:).
	rootsKey := ""
	for _, k := range []string{"caCerts", "caCertsDir", "trustRoots"} {
		v, ok := p.kw(k)
		if !ok {
			continue
		}
		if rootsKey != "" {
			p.fail(k, fmt.Errorf("%w: %s= and %s= both name the trusted CAs; give one", ErrArguments, rootsKey, k))
			break
		}
		rootsKey = k
		load := loadCertPool
		if k != "caCerts" {
			load = loadCertDir
		}
		pool, err := load(v)
		if err != nil {
			p.fail(k, err)
		}
		cfg.RootCAs = pool
	}
	cfg.InsecureSkipVerify = p.boolean("insecure", false)
	if certFile, certName, ok := p.alias("certificate", "certKey"); ok {
		keyFile := p.str("privateKey", certFile)
		cert, part, err := loadKeyPair(certFile, keyFile, certName, "privateKey")
		if err != nil {
			p.fail(part, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	} else if _, ok := p.kw("privateKey"); ok {
		if p.err == nil {
			p.fail("privateKey", fmt.Errorf("%w: privateKey= needs certificate=", ErrArguments))
		}
	}
	c.TLS = cfg
}

// Dial connects, honouring ctx and Timeout (which covers the TLS handshake
// too). A connect that times out returns an error matching ErrTimeout; one
// cancelled by ctx returns an error matching ctx.Err().
func (c *Client) Dial(ctx context.Context) (net.Conn, error) {
	if c == nil {
		return nil, &Error{Part: "Client", Err: fmt.Errorf("%w: nil *Client", ErrArguments)}
	}
	if c.Timeout < 0 {
		return nil, &Error{Desc: c.Desc, Part: "timeout", Err: fmt.Errorf("%w: %v is negative", ErrInvalidValue, c.Timeout)}
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	dctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()
	var d net.Dialer
	if c.BindAddress != "" {
		ip, err := netip.ParseAddr(c.BindAddress)
		if err != nil {
			return nil, &Error{Desc: c.Desc, Part: "bindAddress", Err: fmt.Errorf("%w: %q is not an IP address", ErrInvalidValue, c.BindAddress)}
		}
		d.LocalAddr = &net.TCPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	}
	switch {
	case c.Via != nil && (c.Type == "tcp" || c.Type == "unix"):
		return nil, &Error{Desc: c.Desc, Part: "Via", Err: fmt.Errorf("%w: a %s endpoint cannot run over another (Via is for tls)", ErrInvalidValue, c.Type)}
	case c.Via != nil && c.BindAddress != "":
		return nil, &Error{Desc: c.Desc, Part: "bindAddress", Err: fmt.Errorf("%w: with Via, the local address belongs to Via", ErrArguments)}
	}
	var conn net.Conn
	var err error
	switch c.Type {
	case "unix":
		if err := checkUnixPath(c.Path); err != nil {
			return nil, &Error{Desc: c.Desc, Part: "path", Err: err}
		}
		conn, err = d.DialContext(dctx, "unix", c.Path)
	case "tcp", "tls":
		network := c.Network
		if network == "" {
			network = "tcp"
		}
		if err := checkTCPNetwork(network); err != nil {
			return nil, &Error{Desc: c.Desc, Part: "network", Err: err}
		}
		if c.Port < 1 || c.Port > 65535 {
			return nil, &Error{Desc: c.Desc, Part: "port", Err: fmt.Errorf("%w: %d out of range [1, 65535]", ErrInvalidValue, c.Port)}
		}
		host, herr := hostASCII(c.Host)
		if herr != nil {
			return nil, &Error{Desc: c.Desc, Part: "host", Err: herr}
		}
		addr := net.JoinHostPort(host, strconv.Itoa(c.Port))
		if c.Type == "tls" && c.Via != nil {
			conn, err = c.dialVia(dctx, host)
		} else if c.Type == "tls" {
			cfg := c.TLS
			if cfg == nil {
				cfg = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
			}
			conn, err = dialTLS(dctx, &d, network, addr, host, cfg)
		} else {
			conn, err = d.DialContext(dctx, network, addr)
		}
	default:
		return nil, &Error{Desc: c.Desc, Part: "type", Err: fmt.Errorf("%w %q", ErrUnknownType, c.Type)}
	}
	if err != nil {
		if ctx.Err() == nil && errors.Is(context.Cause(dctx), ErrTimeout) {
			return nil, fmt.Errorf("%w: dial %s after %v: %w", ErrTimeout, c.Desc, timeout, err)
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return nil, fmt.Errorf("endpoint: dial %s: %w", c.Desc, err)
	}
	return conn, nil
}

// dialTLS connects to addr and runs the TLS handshake for host, within
// ctx, as tls.Dialer does, but with the stream under TLS marked
// (eofmark), so that the runtime tells a server's close_notify from a cut
// stream (weft.ErrTLSTruncated).
func dialTLS(ctx context.Context, d *net.Dialer, network, addr, host string, cfg *tls.Config) (net.Conn, error) {
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return tlsOver(ctx, raw, host, cfg)
}

// tlsOver runs the client side of a TLS handshake over raw for host (the
// server name when cfg has none, as tls.Dialer does), within ctx, with the
// stream under TLS marked (eofmark); raw is closed if it fails.
func tlsOver(ctx context.Context, raw net.Conn, host string, cfg *tls.Config) (net.Conn, error) {
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(eofmark.Wrap(raw), cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}

// maxVia bounds the chain of Client.Via that Dial follows.
const maxVia = 8

// dialVia connects through c.Via, then runs the TLS handshake over it
// for host (c.Host in ASCII form).
func (c *Client) dialVia(ctx context.Context, host string) (net.Conn, error) {
	depth := 0
	for v := c.Via; v != nil; v = v.Via {
		if depth++; depth > maxVia {
			return nil, fmt.Errorf("%w: more than %d endpoints nested in Client.Via (a loop?)", ErrInvalidValue, maxVia)
		}
	}
	raw, err := c.Via.Dial(ctx)
	if err != nil {
		return nil, err
	}
	cfg := c.TLS
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return tlsOver(ctx, raw, host, cfg)
}

// Dial parses desc and connects.
func Dial(ctx context.Context, desc string) (net.Conn, error) {
	c, err := ParseClient(desc)
	if err != nil {
		return nil, err
	}
	return c.Dial(ctx)
}
