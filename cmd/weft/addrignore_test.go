package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/weftkit/weft"
)

// TestServeFactoriesIgnoreAddr: every protocol serve runs has a Factory
// that says it ignores the peer's address (weft.AddrIgnorer), so the server
// makes none for BuildProtocol on its descriptor path, and builds a
// Protocol from a nil address.
func TestServeFactoriesIgnoreAddr(t *testing.T) {
	for _, name := range strings.Split(protocolNames, ", ") {
		for _, codec := range []string{"", "line", "int32"} {
			if codec != "" && name != "echo" {
				continue
			}
			t.Run(name+codec, func(t *testing.T) {
				var f serveFlags
				args := []string{}
				if codec != "" {
					args = append(args, "--codec", codec)
				}
				fs := f.flagSet(io.Discard)
				if err := fs.Parse(args); err != nil {
					t.Fatal(err)
				}
				f.set = map[string]bool{}
				fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
				fac, err := f.factory(t.Context(), name)
				if err != nil {
					t.Fatal(err)
				}
				ai, ok := fac.(weft.AddrIgnorer)
				if !ok || !ai.IgnoresAddr() {
					t.Fatalf("%T is not an AddrIgnorer saying true", fac)
				}
				if fac.BuildProtocol(nil) == nil {
					t.Fatalf("%T.BuildProtocol(nil) returned nil", fac)
				}
			})
		}
	}
}
