//go:build !linux

package weft_test

import (
	"net"
	"testing"

	"github.com/weftkit/weft"
)

// propHaveFD: no "fd-" transports here (weft.NewConnFD needs the readiness
// engine).
const propHaveFD = false

func propStartFD(t *testing.T, s net.Conn, p weft.Protocol, opts *weft.Options, done chan<- error) {
	t.Skip("no NewConnFD on this platform")
}
