package chat_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/chat"
)

// FuzzChat feeds arbitrary input from two clients to one room: the server
// never panics or hangs, and the room is empty once both hung up.
func FuzzChat(f *testing.F) {
	f.Add([]byte("alice\nhello\n/who\n/quit\n"), []byte("bob\r\n/name alice\r\n/NAME carol\r\nhi\r\n"))
	f.Add([]byte("\n\n/exit\n"), []byte("/who\n"))
	f.Add([]byte("a\n/name\n/name  \n/unknown x\n"), []byte("a\na\nb\n<a> x\n"))
	f.Fuzz(func(t *testing.T, in1, in2 []byte) {
		var room chat.Server
		done := make(chan struct{}, 2)
		for _, in := range [][]byte{in1, in2} {
			c, s := net.Pipe()
			go func() {
				_ = weft.Serve(s, room.BuildProtocol(nil), nil)
				done <- struct{}{}
			}()
			go func() { _, _ = io.Copy(io.Discard, c) }()
			go func() {
				_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, _ = c.Write(in)
				c.Close()
			}()
		}
		<-done
		<-done
		if n := room.Names(); len(n) != 0 {
			t.Fatalf("room holds %q after every client left", n)
		}
	})
}
