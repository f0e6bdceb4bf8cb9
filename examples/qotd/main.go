// Command qotd is the smallest weft server: a configurable Factory whose
// Protocol sends one quote and hangs up (Twisted's QOTDFactory).
//
//	go run ./examples/qotd -listen 127.0.0.1:8017 -quote "Carpe diem"
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

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/server"
)

// QOTDFactory builds a quoter for each connection; its fields configure them
// all, as attributes of a Twisted Factory do.
type QOTDFactory struct {
	// Quote is sent to every client.
	Quote string
}

// BuildProtocol implements weft.Factory.
func (f *QOTDFactory) BuildProtocol(net.Addr) weft.Protocol { return &quoter{f: f} }

type quoter struct{ f *QOTDFactory }

func (q *quoter) ConnectionMade(t weft.Transport) {
	fmt.Fprintf(t, "%s\r\n", q.f.Quote)
	t.LoseConnection()
}
func (q *quoter) DataReceived([]byte)  {}
func (q *quoter) ConnectionLost(error) {}

func main() {
	addr := flag.String("listen", "127.0.0.1:8017", "address to listen on")
	quote := flag.String("quote", "An apple a day keeps the doctor away", "the quote")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", ln.Addr())
	srv := &server.Server{Factory: &QOTDFactory{Quote: *quote}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx, 5*time.Second, ln); err != nil { // then drains for up to 5 s
		log.Fatal(err)
	}
}
