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

// parseInterspersed parses args allowing flags before, between and after the
// positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitError{0}
			}
			return nil, exitError{2} // the flag package named the flag
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// codecNames lists the values of --codec.
const codecNames = "raw, line, netstring, int8, int16, int32"

// parseCodec returns the codec named by --codec, with maxFrame (0: the
// codec's default) as its frame limit.
func parseCodec(name string, maxFrame int) (codec.Codec, error) {
	if maxFrame < 0 {
		return nil, fmt.Errorf("%w: --max-frame %d is negative", errUsage, maxFrame)
	}
	switch name {
	case "raw", "":
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
		return c, nil
	}
	return nil, fmt.Errorf("%w: --codec %q: want one of %s", errUsage, name, codecNames)
}
