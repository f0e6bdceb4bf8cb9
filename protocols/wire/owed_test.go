package wire_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/protocols/wire"
)

// readSpy counts the bytes the server read (delivered to DataReceived) and
// forwards a graceful shutdown's notice.
type readSpy struct {
	weft.Protocol
	read atomic.Int64
}

func (s *readSpy) DataReceived(b []byte) {
	s.read.Add(int64(len(b)))
	s.Protocol.DataReceived(b)
}

func (s *readSpy) Shutdown() {
	if n, ok := s.Protocol.(weft.ShutdownNotifier); ok {
		n.Shutdown()
	}
}

func netstring(n int, fill byte) []byte {
	b := strconv.AppendInt(nil, int64(n), 10)
	b = append(b, ':')
	b = append(b, bytes.Repeat([]byte{fill}, n)...)
	return append(b, ',')
}

// TestEchoGracefulCloseHeld: a client sends, then stops reading; the echo
// holds what it read beyond the write buffer's room; then a graceful close
// (Conn.Shutdown, which a server's Shutdown calls, or LoseConnection by other
// code) while the client still reads. As Echo's doc says, what is held
// beyond the room is dropped with the connection (the runtime takes no Write
// once a close began; Twisted's loseConnection would let a paused producer
// finish): the client gets a prefix of what it sent, then a clean end of
// stream, never other bytes or a reset.
func TestEchoGracefulCloseHeld(t *testing.T) {
	tight := &weft.Options{HighWater: 4 << 10, MaxWriteBuffer: 4 << 10, ReadBufferSize: 64 << 10}
	line := append(bytes.Repeat([]byte("s"), 1022), "\r\n"...)
	lines := bytes.Repeat(line, 32) // 32 KiB
	big := append(netstring(10<<10, 'a'), netstring(1_040_000, 'b')...)
	for _, tc := range []struct {
		name   string
		f      weft.Factory
		opts   *weft.Options
		pieces [][]byte // the client's writes
	}{
		{"echo tight", wire.Echo{}, tight, [][]byte{lines[:3<<10], lines[3<<10:]}},
		{"framed line tight", wire.FramedEcho{Codec: codec.Line{}}, tight, [][]byte{lines[:3<<10], lines[3<<10:]}},
		{"framed netstring defaults", wire.FramedEcho{Codec: codec.Netstring{}}, nil, [][]byte{big[:10<<10+7], big[10<<10+7:]}},
	} {
		for _, how := range []string{"Shutdown", "LoseConnection"} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, how), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					c, s := net.Pipe()
					defer c.Close()
					spy := &readSpy{Protocol: tc.f.BuildProtocol(nil)}
					conn := weft.NewConn(s, spy, tc.opts)
					done := make(chan error, 1)
					go func() { done <- conn.Serve() }()
					var sent []byte
					go func() {
						for _, p := range tc.pieces {
							if _, err := c.Write(p); err != nil {
								return
							}
						}
					}()
					for _, p := range tc.pieces {
						sent = append(sent, p...)
					}
					synctest.Wait() // the client reads nothing: the echo holds the rest
					if how == "Shutdown" {
						conn.Shutdown()
					} else {
						conn.Transport().LoseConnection()
					}
					got, err := io.ReadAll(c)
					if err != nil {
						t.Fatalf("client read: %v", err)
					}
					c.Close()
					if err := <-done; err != nil {
						t.Fatalf("serve: %v, want a clean graceful close", err)
					}
					read := int(spy.read.Load())
					if !bytes.HasPrefix(sent, got) {
						t.Fatalf("the echo (%d bytes) is not a prefix of what was sent", len(got))
					}
					if len(got) > read {
						t.Errorf("echoed %d bytes, more than the %d the server read", len(got), read)
					}
				})
			})
		}
	}
}
