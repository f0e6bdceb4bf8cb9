//go:build !unix

package endpoint

import (
	"context"
	"net"
	"os"
)

// listenUnixPerm is listenUnixChmod where unix permissions do not guard a
// socket file (Windows).
func listenUnixPerm(ctx context.Context, lc *net.ListenConfig, path string, mode os.FileMode) (net.Listener, error) {
	return listenUnixChmod(ctx, lc, path, mode)
}
