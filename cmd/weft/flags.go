package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/weftkit/weft/codec"
)

// strList is a repeatable string flag.
type strList []string

func (s *strList) String() string     { return strings.Join(*s, ",") }
func (s *strList) Set(v string) error { *s = append(*s, v); return nil }

// newFlagSet returns a FlagSet that reports its errors to stderr and lets
// run turn them into exit status 2.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("weft "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// counter counts the times a flag is set (see givenTwice).
type counter struct {
	n    int
	bool bool
}

func (c *counter) String() string   { return "" }
func (c *counter) Set(string) error { c.n++; return nil }
func (c *counter) IsBoolFlag() bool { return c.bool }

// givenTwice returns the name of the first flag of fs, other than a
// repeatable strList (--listen, --quote), that args set more than once, or
// "". It parses args with a FlagSet of counters shaped as fs (same names,
// same bool flags), so that "--x 1 --x=2" is found wherever it stands.
func givenTwice(fs *flag.FlagSet, args []string) string {
	shadow := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	shadow.SetOutput(io.Discard)
	counts := map[string]*counter{}
	fs.VisitAll(func(fl *flag.Flag) {
		b, ok := fl.Value.(interface{ IsBoolFlag() bool })
		c := &counter{bool: ok && b.IsBoolFlag()}
		counts[fl.Name] = c
		shadow.Var(c, fl.Name, "")
	})
	for {
		if shadow.Parse(args) != nil || shadow.NArg() == 0 {
			break
		}
		args = shadow.Args()[1:]
	}
	name := ""
	fs.VisitAll(func(fl *flag.Flag) {
		if _, repeatable := fl.Value.(*strList); !repeatable && name == "" && counts[fl.Name].n > 1 {
			name = fl.Name
		}
	})
	return name
}

// parseInterspersed parses args allowing flags before, between and after the
// positional arguments, which it returns. A flag that takes one value
// given twice is a usage error, not a value silently replaced.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	all := args
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitError{0}
			}
			return nil, exitError{2} // the flag package named the flag
		}
		if fs.NArg() == 0 {
			if name := givenTwice(fs, all); name != "" {
				return nil, fmt.Errorf("%w: --%s given twice (only --listen and --quote repeat)", errUsage, name)
			}
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// codecNames lists the values of --codec.
const codecNames = "raw, line, netstring, int8, int16, int32"

// parseCodec returns the codec named by --codec, with maxFrame (0: the
// codec's default) as its frame limit; a maxFrame beyond what an int8, int16
// or int32 prefix can express is an error, as is an empty name.
func parseCodec(name string, maxFrame int) (codec.Codec, error) {
	if maxFrame < 0 {
		return nil, fmt.Errorf("%w: --max-frame %d is negative", errUsage, maxFrame)
	}
	switch name {
	case "raw":
		if maxFrame > 0 {
			return nil, fmt.Errorf("%w: --max-frame %d: the raw codec has no frames (use line, netstring or int8/16/32)", errUsage, maxFrame)
		}
		return codec.Raw{}, nil
	case "line":
		return codec.Line{MaxLength: maxFrame}, nil
	case "netstring":
		return codec.Netstring{MaxLength: maxFrame}, nil
	case "int8", "int16", "int32":
		c := map[string]codec.LengthPrefix{"int8": codec.Int8(), "int16": codec.Int16(), "int32": codec.Int32()}[name]
		c.MaxLength = maxFrame
		if err := codec.Validate(c); err != nil {
			return nil, fmt.Errorf("%w: --max-frame %d: %v", errUsage, maxFrame, err)
		}
		if maxFrame > c.Limit() {
			// The codec would cap it silently.
			return nil, fmt.Errorf("%w: --max-frame %d: %s frames hold at most %d bytes", errUsage, maxFrame, name, c.Limit())
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: --codec %q: want one of %s", errUsage, name, codecNames)
}
