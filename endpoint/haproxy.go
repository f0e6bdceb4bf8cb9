package endpoint

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// proxyAny is proxy=any: every source may send a PROXY header.
var proxyAny = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// haproxyServer parses haproxy:SUB, Twisted's HAProxy endpoint plugin: SUB
// is a server description (its arguments as written after "haproxy:"),
// served with the PROXY protocol from any source, as Twisted's wrapper
// trusts every peer. SUB's own proxy= list, if any, narrows that trust.
func haproxyServer(desc string, a args) (*Server, error) {
	sub := unparse(a.pos[1:], a.kw, a.seq)
	s, err := ParseServer(sub)
	if err != nil {
		var e *Error
		if errors.As(err, &e) { // name the whole description, and the part of SUB at fault
			return nil, &Error{Desc: desc, Part: e.Part, Err: e.Err}
		}
		return nil, err
	}
	fail := func(why string) (*Server, error) {
		return nil, &Error{Desc: desc, Part: "type", Err: fmt.Errorf("%w: haproxy: wraps %s", ErrArguments, why)}
	}
	switch {
	case len(a.pos) > 1 && a.pos[1] == "haproxy":
		return fail("another haproxy: endpoint")
	case s.Network == "unix":
		return fail("a unix socket, whose peers are never trusted to send a PROXY header (use tcp, tcp6, tls or an INET systemd socket)")
	case s.Type == "stdio":
		return fail("stdio:, whose one connection is not read for a PROXY header (use tcp, tcp6, tls or an INET systemd socket)")
	}
	if s.Proxy == nil {
		s.Proxy = slices.Clone(proxyAny)
	}
	s.Desc = desc
	return s, nil
}

// unparse writes positionals and keywords back as a description, as
// Twisted's haproxy parser does (keywords after the positionals), each
// quoted. The keywords keep the order they were first written in (seq),
// where Twisted sorts them: the same description, but an error names the
// unknown keyword the plain description would.
func unparse(pos []string, kw map[string]string, seq []string) string {
	parts := make([]string, 0, len(pos)+len(kw))
	for _, p := range pos {
		parts = append(parts, Quote(p))
	}
	for _, k := range seq {
		parts = append(parts, Quote(k)+"="+Quote(kw[k]))
	}
	return strings.Join(parts, ":")
}
