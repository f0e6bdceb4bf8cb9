//go:build !unix

package endpoint

import "net"

// setBacklog does nothing where listen(2) cannot be called again: the system
// default applies.
func setBacklog(net.Listener, int) error { return nil }

// openNonblock: no non-blocking open here; readPEM checks that the path is a
// regular file before opening it.
const openNonblock = 0

// sunPathLen is the size of sun_path in struct sockaddr_un (Windows'
// UNIX_PATH_MAX).
const sunPathLen = 108
