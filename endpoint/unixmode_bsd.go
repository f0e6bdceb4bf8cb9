//go:build unix && !linux

package endpoint

import (
	"context"
	"net"
	"os"
)

// listenUnixPerm is listenUnixMode: the BSDs and macOS give a socket file
// the umask's permissions whatever the socket's mode, so it is bound in a
// private directory and moved into place with its mode already set.
func listenUnixPerm(ctx context.Context, lc *net.ListenConfig, path string, mode os.FileMode) (net.Listener, error) {
	return listenUnixMode(ctx, lc, path, mode)
}
