//go:build !unix || solaris

package endpoint

import "net"

// stdioConn: stdio: needs Unix descriptors, and dup2 to point 0 and 1 at
// /dev/null, which Solaris and illumos's syscall package lacks.
func stdioConn() (net.Conn, error) { return nil, ErrUnsupported }

func setBlocking(int) {}
