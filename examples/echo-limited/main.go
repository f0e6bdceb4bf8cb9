// Command echo-limited is an echo server that refuses connections past 100
// with "Too many connections, try later" (Twisted's policies.LimitTotalConnectionsFactory).
//
//	go run ./examples/echo-limited -listen 127.0.0.1:8007
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/weftkit/weft/protocols/wire"
	"github.com/weftkit/weft/server"
)

// MaxConns is the number of clients served at once.
const MaxConns = 100

// newServer returns the limited echo server.
func newServer() *server.Server {
	return &server.Server{
		Factory:       wire.Echo{},
		MaxConns:      MaxConns,
		Overflow:      server.Reject,
		RejectMessage: []byte("Too many connections, try later\r\n"),
	}
}

func main() {
	addr := flag.String("listen", "127.0.0.1:8007", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", ln.Addr())
	srv := newServer()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx, 5*time.Second, ln); err != nil { // then drains for up to 5 s
		log.Fatal(err)
	}
}
