// Command chat runs the chat server of protocols/chat (names, broadcast,
// /name, /who, /quit), dropping clients that stop reading once 64 KiB of
// output is waiting for them.
//
//	go run ./examples/chat -listen 127.0.0.1:8123
//	nc 127.0.0.1 8123
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

	"github.com/weftkit/weft/protocols/chat"
	"github.com/weftkit/weft/server"
)

// newServer returns a server for room.
func newServer(room *chat.Server) *server.Server {
	return &server.Server{Factory: room, HighWater: 16 << 10, MaxWriteBuffer: 64 << 10}
}

func main() {
	addr := flag.String("listen", "127.0.0.1:8123", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", ln.Addr())
	srv := newServer(&chat.Server{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx, 5*time.Second, ln); err != nil { // then drains for up to 5 s
		log.Fatal(err)
	}
}
