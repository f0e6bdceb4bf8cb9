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
	go func() { <-ctx.Done(); shutdown(srv) }()
	_ = srv.Serve(ln)
}

// shutdown stops srv gracefully, closing what did not drain within 5 s.
func shutdown(srv *server.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
