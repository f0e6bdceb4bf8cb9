// Command multiport serves echo, qotd and chat from one process on three
// ports, each with its own server.Server (Twisted's several listenTCP calls
// on one reactor).
//
//	go run ./examples/multiport -echo 127.0.0.1:8007 -qotd 127.0.0.1:8017 -chat 127.0.0.1:8123
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/chat"
	"github.com/weftkit/weft/protocols/wire"
	"github.com/weftkit/weft/server"
)

// service is one protocol on one address.
type service struct {
	name, addr string
	factory    weft.Factory
}

// run serves every service until ctx ends, or until one fails (which stops
// the others), and returns once all have drained; ready receives the bound
// addresses, in order, once all listen.
func run(ctx context.Context, svcs []service, ready func([]net.Addr)) error {
	var lns []net.Listener
	var addrs []net.Addr
	for _, s := range svcs {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("%s: %w", s.name, err)
		}
		lns, addrs = append(lns, ln), append(addrs, ln.Addr())
	}
	ready(addrs)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, len(svcs))
	for i, s := range svcs {
		srv := &server.Server{Factory: s.factory}
		wg.Go(func() {
			if err := srv.Run(ctx, 5*time.Second, lns[i]); err != nil {
				errs[i] = fmt.Errorf("%s: %w", s.name, err)
				stop()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func main() {
	echo := flag.String("echo", "127.0.0.1:8007", "echo address")
	qotd := flag.String("qotd", "127.0.0.1:8017", "qotd address")
	room := flag.String("chat", "127.0.0.1:8123", "chat address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svcs := []service{{"echo", *echo, wire.Echo{}}, {"qotd", *qotd, &wire.QOTD{}}, {"chat", *room, &chat.Server{}}}
	err := run(ctx, svcs, func(addrs []net.Addr) {
		for i, a := range addrs {
			fmt.Printf("%s listening on %s\n", svcs[i].name, a)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
}
