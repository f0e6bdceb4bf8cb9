//go:build !linux

package endpoint

import "fmt"

// systemdSupported: socket activation is systemd's, on Linux only.
const systemdSupported = false

func closeOnExec(int) {}

func checkInherited(fd int, _ string) error {
	return fmt.Errorf("descriptor %d: %w", fd, ErrUnsupported)
}
