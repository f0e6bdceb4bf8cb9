package endpoint

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// DefaultUnixMode is the permission given to a unix socket file when the
// description has no mode= keyword (Twisted's default, 0666).
const DefaultUnixMode os.FileMode = 0o666

// Server is a parsed server description. ParseServer fills it; it may also be
// built directly, and its zero value is not listenable (Type is required).
type Server struct {
	// Type is "tcp", "tcp6", "unix", "tls" ("ssl" is read as "tls"),
	// "systemd" (a listening socket passed by socket activation) or "stdio"
	// (one connection over standard input and output).
	Type string
	// Network is the network for net.Listen: "tcp4", "tcp6" or "unix". For
	// tcp and tls it is "tcp4" unless interface= is an IPv6 address. Empty
	// (a Server built directly): "tcp6" for tcp6, else "tcp" (the family
	// of Address); unix always listens on "unix". For tcp, tcp6 and tls,
	// Listen refuses a Network other than "tcp", "tcp4" or "tcp6"
	// (ErrInvalidValue). For systemd it is the family the inherited socket
	// must have: "tcp4" (domain=INET), "tcp6" (INET6) or "unix" (UNIX).
	// ParseServer sets "stdio" for stdio, which does not read it.
	Network string
	// Address is host:port for tcp, tcp6 and tls (host empty: all IPv4
	// interfaces for tcp and tls, "::" for tcp6), or the socket path for unix
	// (a leading '@' names a Linux abstract socket). A socket path must fit
	// sun_path (at most 107 bytes on Linux, 103 on the BSDs and macOS; an
	// abstract name 108) and hold no NUL byte: ErrInvalidValue otherwise.
	Address string
	// Backlog is the listen queue length (backlog=). Zero means the system
	// default (somaxconn), not Twisted's 50. Honoured on unix-like systems.
	// Negative is an error (ErrInvalidValue).
	Backlog int
	// Mode is the permission of a unix socket file (mode=, octal). Zero means
	// DefaultUnixMode; bits beyond os.ModePerm are an error (ErrInvalidValue).
	// An abstract socket has no file: Listen refuses a Mode other than zero
	// or DefaultUnixMode for it (ErrInvalidValue), as ParseServer refuses
	// mode=.
	Mode os.FileMode
	// Lockfile (lockfile=1, the default for unix, as in Twisted) holds an
	// exclusive lock on PATH.lock while listening, so that two servers never
	// share one socket path.
	Lockfile bool
	// ReusePort (reuseport=yes) sets SO_REUSEPORT so that several processes
	// can listen on the same port; Listen fails with ErrUnsupported where the
	// platform lacks it.
	ReusePort bool
	// Proxy lists the source networks trusted to send a PROXY protocol header
	// (proxy=127.0.0.1/32,10.0.0.0/8; a bare address means that host; "any"
	// trusts everyone). Empty: PROXY protocol off. Listen does not handle the
	// header; the server reads it on each connection.
	Proxy []netip.Prefix
	// TLS is non-nil for tls: the certificate from privateKey= and certKey=,
	// TLS 1.2 at least (or the one version sslmethod= pins).
	TLS *tls.Config
	// FDIndex selects, for systemd, the inherited socket by its position
	// among those passed (index=N: descriptor 3+N), unless FDName is set.
	FDIndex int
	// FDName selects, for systemd, the inherited socket by its name in
	// LISTEN_FDNAMES (name=NAME; systemd's FileDescriptorName=).
	FDName string
	// Desc is the description this Server was parsed from.
	Desc string
}

// ParseServer parses a server description (Twisted's serverFromString
// grammar):
//
//	tcp:PORT[:interface=IP][:backlog=N][:reuseport=yes][:proxy=CIDR,...]
//	tcp6:PORT[:interface=IPV6][:backlog=N][:reuseport=yes][:proxy=CIDR,...]
//	unix:PATH[:mode=OCTAL][:lockfile=1|0][:backlog=N]       (or address=PATH)
//	tls:PORT:privateKey=KEY.pem[:certKey=CERT.pem][:extraCertChain=CHAIN.pem]
//	    [:sslmethod=TLSv1_2_METHOD][:dhParameters=DH.pem][...tcp options]
//	systemd:domain=INET|INET6|UNIX:index=N[:proxy=CIDR,...]   (or name=NAME)
//	haproxy:DESCRIPTION      (DESCRIPTION with the PROXY protocol from any source)
//	stdio:                   (one connection: standard input and output)
//
// PORT may also be given as port=PORT. Types are lowercase and
// case-sensitive. certKey defaults to privateKey (one PEM file holding both).
// extraCertChain's certificates are sent after certKey's. sslmethod (a
// pyOpenSSL method name, as in Twisted) pins the TLS version; without it,
// or with SSLv23_METHOD or TLS_METHOD, TLS 1.2 and 1.3 are offered.
// dhParameters is read, then unused: crypto/tls has no finite-field DHE.
//
// systemd adopts a listening socket passed by socket activation (Linux):
// index=N is descriptor 3+N of the LISTEN_FDS passed to this process
// (LISTEN_PID), name=NAME the one LISTEN_FDNAMES names so, and domain= the
// family it must have. Listen checks that it is a listening stream socket of
// that family, adopts it once (a second Listen is ErrNotInherited) and closes
// the inherited descriptor (a failed adoption leaves it open, not adopted,
// for another try); on first use it unsets the three variables and
// marks every inherited descriptor close-on-exec, so that child processes
// inherit neither. A unix socket's file is left in place at Close.
//
// haproxy: (Twisted's HAProxy endpoint plugin) wraps another description,
// written after it, and reads a PROXY protocol header (v1 or v2) from every
// source, as Twisted does: its Server is that description's with Proxy set
// to every address (or to the description's own proxy= list). It suits a
// port that only the proxy can reach; a client that can reach it can claim
// any address. A unix socket is refused: its peers are never trusted; so
// is stdio:, whose connection is not read for a PROXY header.
//
// stdio: (Twisted's StandardIOEndpoint, on Unix; ErrUnsupported on Solaris
// and illumos) is a listener whose one connection is the process's standard
// input and output, as inetd runs a server: its first Accept returns it,
// later ones wait for Close. When
// both are one socket (inetd, systemd's Accept=yes, socat's EXEC), the
// connection is that socket, with its addresses (and half-close);
// otherwise it reads standard input and writes standard output, with
// StdioAddr as both addresses, after making them non-blocking as Twisted
// does (blocking again when the connection closes: the flag is shared with
// the parent's terminal or pipes). Descriptors 0 and 1 then point at
// /dev/null, so that closing the connection ends the stream for the peer. A
// listening or datagram socket on them is refused (ErrInvalidValue). One
// stdio: listener per process (ErrAddressInUse).
func ParseServer(desc string) (*Server, error) {
	p, err := newParser(desc)
	if err != nil {
		return nil, err
	}
	if p.a.pos[0] == "haproxy" {
		return haproxyServer(desc, p.a)
	}
	s := &Server{Type: p.a.pos[0], Desc: desc}
	rest := p.a.pos[1:]
	switch s.Type {
	case "tcp", "tcp6":
		p.tcpServer(s, rest)
	case "tls", "ssl":
		s.Type = "tls"
		p.tcpServer(s, rest)
		if p.err == nil {
			p.serverTLS(s)
		}
	case "unix":
		p.unixServer(s, rest)
	case "systemd":
		p.systemdServer(s, rest)
	case "stdio":
		if len(rest) > 0 && rest[0] == "" { // "stdio:" has one empty positional
			rest = rest[1:]
		}
		if len(rest) > 0 {
			p.extra(rest, " (stdio takes no arguments)")
		}
		s.Network = "stdio"
	default:
		return nil, &Error{Desc: desc, Part: "type", Err: fmt.Errorf("%w %q (server types: tcp, tcp6, unix, tls, systemd, haproxy, stdio)", ErrUnknownType, s.Type)}
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	return s, nil
}

// onePositional returns the single positional or keyword key.
func (p *parser) onePositional(rest []string, key string) (string, bool) {
	v, ok := p.kw(key)
	switch {
	case len(rest) == 1 && ok:
		p.fail(key, fmt.Errorf("%w: %s given both as a positional and as %s=", ErrArguments, key, key))
	case len(rest) == 1:
		return rest[0], true
	case len(rest) > 1:
		p.extra(rest[1:], "")
	case !ok:
		p.fail(key, fmt.Errorf("%w: missing", ErrArguments))
	}
	return v, ok
}

// extra records an ErrArguments about the unexpected positionals rest, named
// by their text or, when that is empty (a stray ':'), as an empty positional.
func (p *parser) extra(rest []string, why string) {
	part := strings.Join(rest, ":")
	what := "unexpected positional argument"
	if part == "" {
		part, what = "positional", "unexpected empty positional argument (a stray ':'?)"
	}
	if looksLikeIPv6(p.desc) {
		why += ` (if it is part of an IPv6 address, escape its colons: \:\:1)`
	}
	p.fail(part, fmt.Errorf("%w: %s%s", ErrArguments, what, why))
}

// looksLikeIPv6 reports whether desc holds an unescaped "::" followed by a
// hex digit, as an IPv6 address written without escaping its colons does
// (which then splits into extra positionals).
func looksLikeIPv6(desc string) bool {
	for i := 0; i+2 < len(desc); i++ {
		switch {
		case desc[i] == '\\':
			i++
		case desc[i] == ':' && desc[i+1] == ':' && strings.IndexByte("0123456789abcdefABCDEF", desc[i+2]) >= 0:
			return true
		}
	}
	return false
}

func (p *parser) tcpServer(s *Server, rest []string) {
	portS, _ := p.onePositional(rest, "port")
	port := p.port("port", portS)
	iface := p.str("interface", "")
	s.Network = "tcp4"
	if s.Type == "tcp6" {
		s.Network = "tcp6"
		if iface == "" {
			iface = "::"
		}
	}
	if iface != "" {
		ip, err := netip.ParseAddr(strings.Trim(iface, "[]"))
		switch {
		case err != nil:
			p.invalid("interface", "%q is not an IP address", iface)
		case s.Type == "tcp6" && ip.Is4():
			p.invalid("interface", "tcp6 needs an IPv6 address, not %s", iface)
		case s.Type == "tcp6" && ip.Is4In6(): // Go's tcp6 refuses to bind it
			p.invalid("interface", "tcp6 needs an IPv6 address, not the IPv4-mapped %s (use tcp:PORT:interface=%s)", iface, ip.Unmap())
		case ip.Is6() && !ip.Is4In6():
			s.Network = "tcp6"
		}
		iface = ip.String()
	}
	s.Address = net.JoinHostPort(iface, strconv.Itoa(port))
	s.Backlog = p.integer("backlog", 0, 0, 65535)
	s.ReusePort = p.boolean("reuseport", false)
	if v, ok := p.kw("proxy"); ok {
		s.Proxy = p.prefixes("proxy", v)
	}
}

// prefixes parses a comma-separated list of CIDR prefixes or addresses.
func (p *parser) prefixes(key, v string) []netip.Prefix {
	if strings.EqualFold(v, "any") {
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	var out []netip.Prefix
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if pf, err := netip.ParsePrefix(item); err == nil {
			out = append(out, pf.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(item); err == nil && ip.Zone() == "" {
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		p.invalid(key, "%q is not a CIDR prefix or IP address (list separator is ',')", item)
		return nil
	}
	return out
}

func (p *parser) unixServer(s *Server, rest []string) {
	path, _ := p.onePositional(rest, "address")
	if p.err == nil {
		if err := checkUnixPath(path); err != nil {
			p.fail("address", err)
		}
	}
	s.Network = "unix"
	s.Address = path
	// mode=0 is refused: Mode 0 means DefaultUnixMode, so it would give a
	// world-writable socket to someone who asked for none.
	s.Mode = os.FileMode(p.integer8("mode", int(DefaultUnixMode), 1, 0o777))
	if _, ok := p.kw("mode"); ok && p.err == nil && isAbstract(path) {
		p.fail("mode", errAbstractMode)
	}
	s.Lockfile = p.boolean("lockfile", true)
	s.Backlog = p.integer("backlog", 0, 0, 65535)
}

// integer8 parses keyword key as an octal integer in [lo, hi], or returns
// def. A 0o prefix is allowed, as in Python's int(v, 8), which Twisted uses.
func (p *parser) integer8(key string, def, lo, hi int) int {
	v, ok := p.kw(key)
	if !ok {
		return def
	}
	digits := v
	if len(v) > 2 && (v[:2] == "0o" || v[:2] == "0O") && v[2] != '+' && v[2] != '-' {
		digits = v[2:]
	}
	if digits != v {
		if _, err := strconv.ParseInt(digits, 8, 64); errors.Is(err, strconv.ErrSyntax) {
			digits = v // report the value as written
		}
	}
	return p.parseInt(key, digits, 8, lo, hi)
}

func (p *parser) serverTLS(s *Server) {
	keyFile, keyName, ok := p.alias("privateKey", "key")
	if !ok || keyFile == "" {
		if p.err == nil {
			p.fail("privateKey", fmt.Errorf("%w: missing (tls needs privateKey=KEY.pem)", ErrArguments))
		}
		return
	}
	certFile, certName, ok := p.alias("certKey", "cert")
	if p.err != nil {
		return
	}
	if !ok {
		certFile, certName = keyFile, "certKey"
	}
	cert, part, err := loadKeyPair(certFile, keyFile, certName, keyName)
	if err != nil {
		p.fail(part, err)
		return
	}
	if chain, ok := p.kw("extraCertChain"); ok {
		// The intermediates that link the certificate to a root (Twisted's
		// extraCertChain), sent after it.
		b, err := readPEM(chain)
		if err == nil {
			var certs []*x509.Certificate
			if certs, err = parseCertsPEM(chain, b, ""); err == nil {
				for _, c := range certs {
					cert.Certificate = append(cert.Certificate, c.Raw)
				}
			}
		}
		if err != nil {
			p.fail("extraCertChain", err)
			return
		}
	}
	if dh, ok := p.kw("dhParameters"); ok {
		// Finite-field Diffie-Hellman parameters for DHE ciphers, which
		// crypto/tls does not offer (its key exchanges are ECDHE and
		// X25519MLKEM768): the file is checked, then not used.
		if _, err := readPEM(dh); err != nil {
			p.fail("dhParameters", err)
			return
		}
	}
	s.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if m, ok := p.kw("sslmethod"); ok {
		v, known := sslMethods[m]
		switch {
		case !known:
			p.invalid("sslmethod", "%q is not one of SSLv23_METHOD, TLS_METHOD, TLSv1_METHOD, TLSv1_1_METHOD, TLSv1_2_METHOD", m)
		case v == 0: // any version crypto/tls offers, from TLS 1.2 by default
		default:
			s.TLS.MinVersion, s.TLS.MaxVersion = v, v
		}
	}
}

// sslMethods maps Twisted's sslmethod= values (pyOpenSSL method names) to
// the one TLS version they allow; 0 is every version (SSLv23_METHOD and
// TLS_METHOD negotiate the highest both sides speak). SSLv2 and SSLv3 are
// not offered by crypto/tls: they are unknown here.
var sslMethods = map[string]uint16{
	"SSLv23_METHOD":  0,
	"TLS_METHOD":     0,
	"TLSv1_METHOD":   tls.VersionTLS10,
	"TLSv1_1_METHOD": tls.VersionTLS11,
	"TLSv1_2_METHOD": tls.VersionTLS12,
}

// Listen opens the listener. For tls it returns tls.NewListener(...): the
// handshake happens lazily, on the first Read or Write of each connection (a
// server should run it with a timeout). For unix it first removes a stale
// socket file, but only when nothing accepts connections on it.
func (s *Server) Listen(ctx context.Context) (net.Listener, error) {
	if s == nil {
		return nil, &Error{Part: "Server", Err: fmt.Errorf("%w: nil *Server", ErrArguments)}
	}
	if s.Backlog < 0 {
		return nil, s.errorf("backlog", fmt.Errorf("%w: %d is negative", ErrInvalidValue, s.Backlog))
	}
	var lc net.ListenConfig
	if s.ReusePort {
		if !reusePortSupported {
			return nil, s.errorf("reuseport", ErrUnsupported)
		}
		lc.Control = reusePortControl
	}
	var ln net.Listener
	var err error
	switch s.Type {
	case "unix":
		ln, err = s.listenUnix(ctx, &lc)
	case "systemd":
		// Its errors are *Error values already: returned as they are.
		return s.listenSystemd()
	case "stdio":
		return s.listenStdio()
	case "tcp", "tcp6", "tls":
		network := s.Network
		if network == "" {
			network = "tcp"
			if s.Type == "tcp6" {
				network = "tcp6"
			}
		}
		if err := checkTCPNetwork(network); err != nil {
			return nil, s.errorf("network", err)
		}
		ln, err = lc.Listen(ctx, network, s.Address)
	default:
		return nil, s.errorf("type", fmt.Errorf("%w %q", ErrUnknownType, s.Type))
	}
	if err != nil {
		return nil, fmt.Errorf("endpoint: %s: listen: %w", s.Desc, err)
	}
	if s.Backlog > 0 {
		if err := setBacklog(ln, s.Backlog); err != nil {
			ln.Close()
			return nil, fmt.Errorf("endpoint: %s: backlog: %w", s.Desc, err)
		}
	}
	if s.Type == "tls" {
		if s.TLS == nil {
			ln.Close()
			return nil, s.errorf("TLS", fmt.Errorf("%w: Server.TLS is nil", ErrTLSConfig))
		}
		ln = tls.NewListener(ln, s.TLS)
	}
	return ln, nil
}

// checkTCPNetwork refuses a Network that is not TCP for a tcp or tls
// endpoint (a Server or Client built directly): net would listen or dial
// it without a word, a UDP or unix socket in place of the TCP one asked for.
func checkTCPNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return fmt.Errorf("%w: network %q is not tcp, tcp4 or tcp6", ErrInvalidValue, network)
}

func (s *Server) errorf(part string, err error) error {
	return &Error{Desc: s.Desc, Part: part, Err: err}
}

// Listen parses desc and opens its listener.
func Listen(ctx context.Context, desc string) (net.Listener, *Server, error) {
	s, err := ParseServer(desc)
	if err != nil {
		return nil, nil, err
	}
	ln, err := s.Listen(ctx)
	if err != nil {
		return nil, nil, err
	}
	return ln, s, nil
}
