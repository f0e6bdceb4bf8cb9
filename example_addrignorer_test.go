package weft_test

import (
	"bufio"
	"fmt"
	"net"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/server"
)

// greeter greets its client with the client's own address, which it reads
// from its Transport.
type greeter struct{}

func (greeter) ConnectionMade(t weft.Transport) {
	t.Write([]byte("hello, " + t.RemoteAddr().String() + "\n"))
	t.LoseConnection()
}
func (greeter) DataReceived([]byte)  {}
func (greeter) ConnectionLost(error) {}

// greeters is a Factory whose BuildProtocol never looks at its address, and
// says so: a server then gives it nil, and on its descriptor path (with an
// Engine, on Linux) makes no address for the call.
type greeters struct{}

func (greeters) BuildProtocol(net.Addr) weft.Protocol { return greeter{} }
func (greeters) IgnoresAddr() bool                    { return true }

func ExampleAddrIgnorer() {
	s := &server.Server{Factory: greeters{}}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.Serve(l)
	defer s.Close()

	c, _ := net.Dial("tcp", l.Addr().String())
	defer c.Close()
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Println(line == "hello, "+c.LocalAddr().String()+"\n")
	// Output: true
}
