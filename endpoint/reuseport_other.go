//go:build !linux || mips || mipsle || mips64 || mips64le || sparc64

package endpoint

import "syscall"

const reusePortSupported = false

// reusePortControl is never called where reusePortSupported is false: Listen
// returns ErrUnsupported first.
func reusePortControl(string, string, syscall.RawConn) error { return ErrUnsupported }
