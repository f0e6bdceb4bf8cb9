package server

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// counter answers with the number of bytes it read once the peer has ended
// its stream (weft.HalfCloseable), then closes.
type counter struct {
	t weft.Transport
	n int
}

func (c *counter) ConnectionMade(t weft.Transport) { c.t = t }
func (c *counter) DataReceived(b []byte)           { c.n += len(b) }
func (c *counter) ReadConnectionLost() {
	fmt.Fprintf(c.t, "%d bytes\n", c.n)
	c.t.LoseConnection()
}
func (c *counter) ConnectionLost(error) {}

// The server passes the peer's end of stream on to a HalfCloseable
// Protocol, which answers after it, on both engines; a Protocol without the
// method is closed at the peer's end, as before.
func TestHalfCloseableThroughServer(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name    string
				factory weft.Factory
				send    string
				want    string
			}{
				{"half-closeable", factoryOf(func() *counter { return &counter{} }), "twelve bytes", "12 bytes\n"},
				{"plain echo", echoFactory(), "echoed", "echoed"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					s := &Server{Factory: tc.factory, Engine: engine(t)}
					c := dial(t, serve(t, s))
					c.SetDeadline(time.Now().Add(10 * time.Second))
					c.Write([]byte(tc.send))
					c.(*net.TCPConn).CloseWrite()
					got, err := io.ReadAll(c)
					if err != nil || string(got) != tc.want {
						t.Errorf("read %q, then %v; want %q, then a clean end", got, err, tc.want)
					}
					waitFor(t, "the connection to end", func() bool { return s.Len() == 0 })
				})
			}
		})
	}
}
