// Command queue is an echo server that serves at most 2 clients at once and
// queues the others (first come, first served): a queued client's bytes wait
// in the kernel and are all echoed once a slot frees — nothing is lost while
// the server runs.
//
// The queue holds server.DefaultMaxQueue (128) clients; one more is sent
// "Server busy, try again later" and closed. On SIGTERM or an interrupt the
// clients being served get up to 5 s to finish; the queued ones are not
// served and their bytes are not echoed: each is sent the same "Server busy,
// try again later" line at once, then the end of stream (a clean FIN, not a
// reset, although the server never read what it sent). Those 5 s bound it
// all: a client still connected then is closed.
//
//	go run ./examples/queue -listen 127.0.0.1:8008
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

// busyMessage is sent to a client turned away because the queue is full.
const busyMessage = "Server busy, try again later\r\n"

// newServer returns the queueing echo server.
func newServer() *server.Server {
	return &server.Server{
		Factory:       wire.Echo{},
		MaxConns:      2,
		Overflow:      server.QueueFIFO,
		RejectMessage: []byte(busyMessage),
	}
}

func main() {
	addr := flag.String("listen", "127.0.0.1:8008", "address to listen on")
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
