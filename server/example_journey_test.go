package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/endpoint"
	"github.com/weftkit/weft/server"
)

// Run serves several listeners at once — here TCP and a unix socket opened
// from endpoint descriptions — and shuts down gracefully when its context
// ends. With MaxConns 1 and QueueFIFO, the second client waits in the queue,
// and what it sent meanwhile is delivered once the first one leaves.
func ExampleServer_Run() {
	dir, _ := os.MkdirTemp("", "weft-example")
	defer os.RemoveAll(dir)
	// In a main: signal.NotifyContext(context.Background(), os.Interrupt).
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	var lns []net.Listener
	for _, desc := range []string{
		"tcp:0:interface=127.0.0.1",
		"unix:" + endpoint.Quote(filepath.Join(dir, "echo.sock")) + ":mode=600",
	} {
		ln, _, err := endpoint.Listen(ctx, desc)
		if err != nil {
			fmt.Println(err)
			return
		}
		lns = append(lns, ln)
	}
	s := &server.Server{
		Factory:  weft.FactoryFunc(func(net.Addr) weft.Protocol { return &echo{} }),
		MaxConns: 1,
		Overflow: server.QueueFIFO,
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx, 5*time.Second, lns...) }()

	tc, _ := net.Dial("tcp", lns[0].Addr().String())
	fmt.Fprintf(tc, "over tcp\n")
	line, _ := bufio.NewReader(tc).ReadString('\n')
	fmt.Print("tcp client: ", line)

	uc, _ := net.Dial("unix", lns[1].Addr().String())
	defer uc.Close()
	fmt.Fprintf(uc, "over unix, sent while queued\n") // MaxConns is taken
	tc.Close()                                        // frees the slot
	ur := bufio.NewReader(uc)
	line, _ = ur.ReadString('\n')
	fmt.Print("unix client: ", line)

	stop() // as on SIGINT: Shutdown, drain, return
	fmt.Println("Run:", <-ran)
	_, err := ur.ReadString('\n')
	fmt.Println("unix client then reads:", err == io.EOF)
	// Output:
	// tcp client: over tcp
	// unix client: over unix, sent while queued
	// Run: <nil>
	// unix client then reads: true
}
