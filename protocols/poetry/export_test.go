package poetry

import (
	"context"
	"net"
)

// SetDial makes c dial with f instead of the endpoint (a net.Pipe in a
// synctest bubble).
func SetDial(c *Client, f func(ctx context.Context, desc string) (net.Conn, error)) { c.dial = f }

// ReadUpTo is readUpTo.
var ReadUpTo = readUpTo
