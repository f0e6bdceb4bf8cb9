package endpoint

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Every error returned by ParseServer, ParseClient, Listen and
// Dial for a bad description is an *Error that wraps one of these.
var (
	// ErrSyntax: the description cannot be tokenized (a trailing lone
	// backslash, a keyword name that is not ASCII) or is empty.
	ErrSyntax = errors.New("endpoint: syntax error")
	// ErrUnknownType: the first positional names no known endpoint type.
	ErrUnknownType = errors.New("endpoint: unknown endpoint type")
	// ErrUnknownKeyword: a keyword the endpoint type does not take.
	ErrUnknownKeyword = errors.New("endpoint: unknown keyword")
	// ErrArguments: missing or extra positional arguments, a needed
	// keyword missing (a tls server's privateKey=, the certificate= of a
	// client's privateKey=), or the same argument given
	// twice: as a positional and a keyword, as a keyword and its alias
	// (key= and privateKey=), or two sources of trusted CAs.
	ErrArguments = errors.New("endpoint: wrong arguments")
	// ErrInvalidValue: a keyword or positional has a malformed value (not an
	// integer, not an IP address, out of range...).
	ErrInvalidValue = errors.New("endpoint: invalid value")
	// ErrTLSConfig: a certificate, key or CA file (or a CA directory)
	// cannot be loaded; the error names the file and what is wrong with it.
	ErrTLSConfig = errors.New("endpoint: TLS configuration")
	// ErrAddressInUse: a unix socket path is in use by a live listener or
	// by a file that is not a socket, or its lock file is held by another
	// listener, or is not a regular file (a symbolic link, as Twisted's
	// lock is, is never followed).
	ErrAddressInUse = errors.New("endpoint: address in use")
	// ErrUnsupported: the option is not supported on this platform.
	ErrUnsupported = errors.New("endpoint: not supported on this platform")
)

// Error is the error returned for a bad description: it names the
// description, the part of it at fault (a keyword, "port", "type"...) and
// wraps the reason, which matches one of the sentinel errors.
type Error struct {
	Desc string // the whole description
	Part string // the keyword or argument at fault; may be empty
	Err  error  // the reason; matches a sentinel error with errors.Is
}

// Error formats as "endpoint: DESC: PART: REASON".
func (e *Error) Error() string {
	if e == nil {
		return "endpoint: <nil *Error>"
	}
	var b strings.Builder
	b.WriteString("endpoint: ")
	b.WriteString(e.Desc)
	if e.Part != "" {
		b.WriteString(": ")
		b.WriteString(e.Part)
	}
	b.WriteString(": ")
	if e.Err == nil {
		b.WriteString("<nil reason>")
	} else {
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "endpoint: "))
	}
	return b.String()
}

// Unwrap returns the reason.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// args is a tokenized description.
type args struct {
	pos []string          // positionals, the type first
	kw  map[string]string // keywords; a repeated key keeps its last value
	seq []string          // keyword names in order of appearance
}

// tokenize splits desc with Twisted's rules (_tokenize/_parse): ':' separates
// arguments; after ':' both ':' and '=' are operators, after '=' only ':' is
// (so '=' inside a value is literal); '\' escapes the next character.
func tokenize(desc string) (args, error) {
	a := args{kw: map[string]string{}}
	var err error // a non-ASCII keyword name (Twisted rejects it too)
	var cur strings.Builder
	var key string
	inValue := false // an '=' was seen in this segment
	flush := func() {
		if inValue {
			if !isASCII(key) && err == nil {
				err = fmt.Errorf("%w: keyword %q is not ASCII", ErrSyntax, key)
			}
			if _, dup := a.kw[key]; !dup {
				a.seq = append(a.seq, key)
			}
			a.kw[key] = cur.String()
		} else {
			a.pos = append(a.pos, cur.String())
		}
		cur.Reset()
		inValue = false
	}
	for i := 0; i < len(desc); i++ {
		switch c := desc[i]; {
		case c == '\\':
			if i+1 == len(desc) {
				return a, errTrailing
			}
			i++
			cur.WriteByte(desc[i])
		case c == ':':
			flush()
		case c == '=' && !inValue:
			key = cur.String()
			cur.Reset()
			inValue = true
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return a, err
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// errTrailing is the reason for a description that ends with a lone
// backslash (Twisted crashes there).
var errTrailing = fmt.Errorf("%w: trailing backslash", ErrSyntax)

// Quote escapes s so that it is read back as one argument, positional or
// keyword value: '\' becomes "\\", ':' becomes "\:" and '=' becomes "\=".
// It is Twisted's quoteStringArgument, which leaves '=' alone (safe only in a
// keyword value), made safe for positionals too.
func Quote(s string) string {
	return quoter.Replace(s)
}

var quoter = strings.NewReplacer(`\`, `\\`, `:`, `\:`, `=`, `\=`)

// parser reads typed values out of a tokenized description, remembering the
// first error and which keywords were used.
type parser struct {
	desc string
	a    args
	used map[string]bool
	err  error
}

func newParser(desc string) (*parser, error) {
	a, err := tokenize(desc)
	if err != nil {
		return nil, &Error{Desc: desc, Err: err}
	}
	if len(a.pos) == 1 && a.pos[0] == "" && len(a.kw) == 0 {
		return nil, &Error{Desc: desc, Part: "type", Err: fmt.Errorf("%w: empty description", ErrSyntax)}
	}
	if len(a.pos) == 0 { // keywords only, such as "x=y"
		return nil, &Error{Desc: desc, Part: "type", Err: fmt.Errorf("%w: missing endpoint type (the first positional argument)", ErrArguments)}
	}
	return &parser{desc: desc, a: a, used: map[string]bool{}}, nil
}

// fail records the first error, about part.
func (p *parser) fail(part string, err error) {
	if p.err == nil {
		p.err = &Error{Desc: p.desc, Part: part, Err: err}
	}
}

// invalid records an ErrInvalidValue about part.
func (p *parser) invalid(part, format string, v ...any) {
	p.fail(part, fmt.Errorf("%w: "+format, append([]any{ErrInvalidValue}, v...)...))
}

// kw returns keyword key and whether it was given.
func (p *parser) kw(key string) (string, bool) {
	v, ok := p.a.kw[key]
	if ok {
		p.used[key] = true
	}
	return v, ok
}

// alias returns the keyword given as name or as its alias, which of the two
// names was used, and whether either was given; both given is an error.
func (p *parser) alias(name, alias string) (value, used string, ok bool) {
	v, ok := p.kw(name)
	va, aok := p.kw(alias)
	switch {
	case ok && aok:
		p.fail(alias, fmt.Errorf("%w: %s= is another name for %s=, given too", ErrArguments, alias, name))
		return v, name, true
	case aok:
		return va, alias, true
	}
	return v, name, ok
}

// str returns keyword key or def.
func (p *parser) str(key, def string) string {
	if v, ok := p.kw(key); ok {
		return v
	}
	return def
}

// integer parses keyword key as a decimal integer in [lo, hi], or returns def.
func (p *parser) integer(key string, def, lo, hi int) int {
	v, ok := p.kw(key)
	if !ok {
		return def
	}
	return p.parseInt(key, v, 10, lo, hi)
}

func (p *parser) parseInt(part, v string, base, lo, hi int) int {
	n, err := strconv.ParseInt(v, base, 64)
	if errors.Is(err, strconv.ErrRange) { // a valid number, too large for 64 bits
		if base == 8 {
			p.invalid(part, "%s out of range [%o, %o]", strings.TrimLeft(v, "+"), lo, hi)
		} else {
			p.invalid(part, "%s out of range [%d, %d]", strings.TrimLeft(v, "+"), lo, hi)
		}
		return 0
	}
	if err != nil {
		what := "invalid integer"
		if base == 8 {
			what = "invalid octal integer"
		}
		p.invalid(part, "%s %q", what, v)
		return 0
	}
	if n < int64(lo) || n > int64(hi) {
		if base == 8 { // as written: mode=1000 is 1000, not 512
			p.invalid(part, "%o out of range [%o, %o]", n, lo, hi)
		} else {
			p.invalid(part, "%d out of range [%d, %d]", n, lo, hi)
		}
		return 0
	}
	return int(n)
}

// boolean parses keyword key: 1/0, yes/no, true/false, on/off.
func (p *parser) boolean(key string, def bool) bool {
	v, ok := p.kw(key)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "yes", "true", "on", "y":
		return true
	case "0", "no", "false", "off", "n":
		return false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n != 0 // any integer, as Twisted's bool(int(v)) ("lockfile=2")
	}
	p.invalid(key, "invalid boolean %q (want yes/no, true/false, or an integer: 0 is false)", v)
	return false
}

// port parses a TCP port number.
func (p *parser) port(part, v string) int {
	return p.parseInt(part, v, 10, 0, 65535)
}

// duration parses keyword key as seconds ("30", "2.5") or a Go duration
// ("1500ms"); it must be positive.
func (p *parser) duration(key string, def time.Duration) time.Duration {
	v, ok := p.kw(key)
	if !ok {
		return def
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if !(f > 0) || f > maxTimeoutSeconds {
			p.invalid(key, "%q must be in (0, %d] seconds", v, maxTimeoutSeconds)
			return 0
		}
		d := time.Duration(f * float64(time.Second))
		if d <= 0 { // under 1ns; zero would mean the default
			p.invalid(key, "%q is shorter than 1ns", v)
			return 0
		}
		return d
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.invalid(key, "invalid duration %q (want seconds or a Go duration)", v)
		return 0
	}
	if d <= 0 {
		p.invalid(key, "%q must be positive", v)
		return 0
	}
	return d
}

const maxTimeoutSeconds = 1 << 30

// done reports the first error, or an unknown keyword.
func (p *parser) done() error {
	if p.err != nil {
		return p.err
	}
	for _, k := range p.a.seq {
		if k == "" && !p.used[k] { // "=v": name the '=' rather than nothing
			return &Error{Desc: p.desc, Part: "=" + p.a.kw[k], Err: fmt.Errorf(`%w: empty keyword name (a literal '=' is written \=)`, ErrUnknownKeyword)}
		}
		if !p.used[k] {
			return &Error{Desc: p.desc, Part: k, Err: ErrUnknownKeyword}
		}
	}
	return nil
}
