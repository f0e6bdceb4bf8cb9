//go:build !linux

package endpoint

import (
	"fmt"
	"net"
)

// systemdSupported: socket activation is systemd's, on Linux only.
const systemdSupported = false

func closeOnExec(int) {}

func adoptFD(fd int, _ string) (net.Listener, error) {
	return nil, fmt.Errorf("descriptor %d: %w", fd, ErrUnsupported)
}

func closeInherited(int) {}
