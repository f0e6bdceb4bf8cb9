package wire_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/wire"
)

// A QOTD server sends one quote per connection, rotating through Quotes.
func ExampleQOTD() {
	q := &wire.QOTD{Quotes: []string{"Hello, world", "Goodbye, world"}}
	for range 3 {
		client, server := net.Pipe()
		go weft.Serve(server, q.BuildProtocol(client.LocalAddr()), nil)
		quote, _ := io.ReadAll(client)
		fmt.Printf("%q\n", quote)
	}
	// Output:
	// "Hello, world\r\n"
	// "Goodbye, world\r\n"
	// "Hello, world\r\n"
}

// Time sends the seconds since 1900 as 4 big-endian bytes.
func ExampleTimeBytes() {
	fmt.Printf("% x\n", wire.TimeBytes(time.Unix(0, 0)))
	// Output: 83 aa 7e 80
}
