package chat_test

import (
	"fmt"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/protocols/chat"
)

// BenchmarkRelay: one chat line from a client to n others (transports that
// only count), the fan-out path of every message.
func BenchmarkRelay(b *testing.B) {
	for _, n := range []int{2, 100} {
		b.Run(fmt.Sprint("listeners=", n-1), func(b *testing.B) {
			var srv chat.Server
			ps := make([]weft.Protocol, n)
			for i := range ps {
				ps[i] = srv.BuildProtocol(nil)
				ps[i].ConnectionMade(&testenv.LateTransport{})
				ps[i].DataReceived(fmt.Appendf(nil, "user%d\r\n", i))
			}
			line := []byte("hello, everyone: a line of ordinary chat text, with a tab\tand some UTF-8: Zoë ✓\r\n")
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				ps[0].DataReceived(line)
			}
		})
	}
}
