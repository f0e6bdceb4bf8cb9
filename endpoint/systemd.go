package endpoint

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ErrNotInherited: a systemd endpoint's socket is not there to adopt. The
// process was not started by socket activation (LISTEN_PID and LISTEN_FDS),
// the index or name selects no descriptor it was given, the descriptor is not
// a listening stream socket of the endpoint's domain, or it was adopted
// already (an inherited socket is listened on once, as in Twisted).
var ErrNotInherited = errors.New("endpoint: no such inherited socket")

// sdDomains maps systemd's domain= values (Twisted's: a socket module family
// name without its AF_ prefix, case-sensitive) to Server.Network.
var sdDomains = map[string]string{"INET": "tcp4", "INET6": "tcp6", "UNIX": "unix"}

// maxInherited bounds LISTEN_FDS: a larger count is refused rather than
// trusted (an fd number beyond it would not fit any descriptor table here).
const maxInherited = 1 << 16

// systemdServer parses systemd:domain=D:index=N and systemd:domain=D:name=NAME.
func (p *parser) systemdServer(s *Server, rest []string) {
	if len(rest) > 0 {
		p.extra(rest, " (systemd takes keywords only: domain=, index= or name=)")
		return
	}
	d, ok := p.kw("domain")
	if !ok {
		p.fail("domain", fmt.Errorf("%w: missing (domain=INET, INET6 or UNIX)", ErrArguments))
		return
	}
	network, known := sdDomains[d]
	if !known {
		p.invalid("domain", "%q is not INET, INET6 or UNIX", d)
		return
	}
	s.Network = network
	idx, iok := p.kw("index")
	name, nok := p.kw("name")
	switch {
	case iok && nok:
		p.fail("name", fmt.Errorf("%w: give index= or name=, not both", ErrArguments))
	case iok:
		s.FDIndex = p.parseInt("index", idx, 10, 0, maxInherited-1)
	case nok && name == "":
		p.invalid("name", "empty name")
	case nok:
		s.FDName = name
	default:
		p.fail("index", fmt.Errorf("%w: missing (index=N, counting from 0, or name=NAME from LISTEN_FDNAMES)", ErrArguments))
	}
	if network != "unix" { // as for unix:, no PROXY header on a unix socket
		if v, ok := p.kw("proxy"); ok {
			s.Proxy = p.prefixes("proxy", v)
		}
	}
}

// inheritedSet is what a process learnt from socket activation (systemd's
// sd_listen_fds protocol): the descriptors start, start+1, ... with their
// names, and which of them were adopted.
type inheritedSet struct {
	mu     sync.Mutex
	start  int
	n      int
	names  []string // nil when LISTEN_FDNAMES is absent
	badNms string   // why names cannot be used, when LISTEN_FDNAMES is malformed
	taken  []bool
	none   string // why there is no descriptor, when n is 0
}

// readInherited reads the socket-activation variables through getenv for
// process pid, the descriptors counting from start.
func readInherited(getenv func(string) string, pid, start int) *inheritedSet {
	set := &inheritedSet{start: start}
	ps := getenv("LISTEN_PID")
	if ps == "" {
		set.none = "LISTEN_PID is not set: the process was not started by socket activation"
		return set
	}
	if p, err := strconv.Atoi(ps); err != nil || p != pid {
		set.none = fmt.Sprintf("LISTEN_PID is %q, not this process (%d): the sockets were passed to another process", ps, pid)
		return set
	}
	fs := getenv("LISTEN_FDS")
	n, err := strconv.Atoi(fs)
	if err != nil || n < 0 || n > maxInherited {
		set.none = fmt.Sprintf("LISTEN_FDS is %q, not a count of descriptors in [0, %d]", fs, maxInherited)
		return set
	}
	if n == 0 {
		set.none = "LISTEN_FDS is 0: no socket was passed"
		return set
	}
	set.n = n
	set.taken = make([]bool, n)
	if nv := getenv("LISTEN_FDNAMES"); nv != "" {
		names := strings.Split(nv, ":")
		if len(names) == n {
			set.names = names
		} else {
			set.badNms = fmt.Sprintf("LISTEN_FDNAMES has %d names for %d descriptors", len(names), n)
		}
	}
	return set
}

// pick returns the position of the descriptor s selects (FDIndex or
// FDName), or why there is none.
func (set *inheritedSet) pick(s *Server) (int, error) {
	if set.n == 0 {
		return 0, errors.New(set.none)
	}
	if s.FDName == "" {
		if s.FDIndex < 0 || s.FDIndex >= set.n {
			return 0, fmt.Errorf("index %d, but %d descriptor(s) were passed (index counts from 0)", s.FDIndex, set.n)
		}
		return s.FDIndex, nil
	}
	switch {
	case set.badNms != "":
		return 0, errors.New(set.badNms)
	case set.names == nil:
		return 0, errors.New("LISTEN_FDNAMES is not set: no descriptor has a name (use index=)")
	}
	at := -1
	for i, nm := range set.names {
		if nm != s.FDName {
			continue
		}
		if at >= 0 {
			return 0, fmt.Errorf("name %q is given to descriptors %d and %d: use index=", s.FDName, set.start+at, set.start+i)
		}
		at = i
	}
	if at < 0 {
		return 0, fmt.Errorf("no descriptor is named %q (LISTEN_FDNAMES: %s)", s.FDName, strings.Join(set.names, ", "))
	}
	return at, nil
}

// adopt turns the descriptor s selects into a listener, once: the
// descriptor is duplicated, the duplicate checked (a listening stream
// socket of s.Network's family) and made a listener, and the original
// closed.
func (set *inheritedSet) adopt(s *Server) (net.Listener, error) {
	set.mu.Lock()
	defer set.mu.Unlock()
	i, err := set.pick(s)
	if err != nil {
		return nil, err
	}
	fd := set.start + i
	if set.taken[i] {
		return nil, fmt.Errorf("descriptor %d (index %d) was adopted already: an inherited socket is listened on once", fd, i)
	}
	// The listener is made from a duplicate, checked before it is used:
	// the socket checked is the one adopted, and a failure (EMFILE) leaves
	// the inherited descriptor open and not adopted, for a later try.
	ln, err := adoptFD(fd, s.Network)
	if err != nil {
		return nil, err
	}
	set.taken[i] = true
	closeInherited(fd)
	return ln, nil
}

var (
	sdOnce sync.Once
	sdSet  *inheritedSet
)

// systemdSockets returns the process's inherited sockets, reading the
// environment on first use. As sd_listen_fds(1) and Twisted do, it then
// unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, and marks the
// descriptors close-on-exec, so that child processes inherit neither.
func systemdSockets() *inheritedSet {
	sdOnce.Do(func() {
		sdSet = readInherited(os.Getenv, os.Getpid(), listenFDsStart)
		if sdSet.n > 0 {
			for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
				os.Unsetenv(k)
			}
			for i := range sdSet.n {
				closeOnExec(sdSet.start + i)
			}
		}
	})
	return sdSet
}

// listenFDsStart is the first descriptor socket activation passes
// (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// listenSystemd adopts the inherited socket s names.
func (s *Server) listenSystemd() (net.Listener, error) {
	switch {
	case s.ReusePort:
		return nil, s.errorf("reuseport", fmt.Errorf("%w: an inherited socket is bound already", ErrInvalidValue))
	case s.Lockfile || s.Mode != 0:
		return nil, s.errorf("mode", fmt.Errorf("%w: an inherited unix socket's file is made by whoever passed it (no mode or lock file)", ErrInvalidValue))
	case s.TLS != nil:
		return nil, s.errorf("TLS", fmt.Errorf("%w: TLS on an inherited socket", ErrUnsupported))
	}
	if _, ok := networkDomain(s.Network); !ok {
		return nil, s.errorf("network", fmt.Errorf("%w: network %q is not tcp4, tcp6 or unix", ErrInvalidValue, s.Network))
	}
	if !systemdSupported {
		return nil, s.errorf("type", ErrUnsupported)
	}
	ln, err := systemdSockets().adopt(s)
	if err != nil {
		part := "index"
		if s.FDName != "" {
			part = "name"
		}
		return nil, s.errorf(part, fmt.Errorf("%w: %w", ErrNotInherited, err))
	}
	if s.Backlog > 0 {
		if err := setBacklog(ln, s.Backlog); err != nil {
			ln.Close()
			return nil, s.errorf("backlog", err)
		}
	}
	return ln, nil
}

// networkDomain returns the domain= name of a systemd Server's Network.
func networkDomain(network string) (string, bool) {
	for d, n := range sdDomains {
		if n == network {
			return d, true
		}
	}
	return "", false
}
