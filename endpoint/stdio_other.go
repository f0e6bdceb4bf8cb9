//go:build !unix

package endpoint

import "net"

func stdioConn() (net.Conn, error) { return nil, ErrUnsupported }
