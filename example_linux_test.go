//go:build linux

package weft_test

import (
	"bufio"
	"fmt"
	"net"

	"github.com/weftkit/weft"
)

// An Engine drives many sockets from one epoll instance and a small worker
// pool: an idle connection then costs no goroutine and no buffer. Start hands
// the connection over and returns at once.
func ExampleNewEngine() {
	engine, err := weft.NewEngine()
	if err != nil {
		fmt.Println("no readiness engine here:", err)
		return
	}
	defer engine.Close()

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	ended := make(chan error, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		weft.NewConn(nc, &upper{}, &weft.Options{Engine: engine}).Start(func(reason error) { ended <- reason })
	}()

	c, _ := net.Dial("tcp", l.Addr().String())
	fmt.Fprintln(c, "parked in epoll")
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(line)
	c.Close()
	fmt.Println("ConnectionLost reason:", <-ended)
	// Output:
	// PARKED IN EPOLL
	// ConnectionLost reason: <nil>
}
