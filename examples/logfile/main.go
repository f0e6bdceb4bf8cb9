// Command logfile is a server whose Factory owns a resource: Start opens the
// log file before the first listener accepts, Stop closes it after the last
// connection ended (Twisted's startFactory / stopFactory). Each line a client
// sends is appended to the file.
//
//	go run ./examples/logfile -listen 127.0.0.1:8090 -file /tmp/weft.log
package main

import (
	"context"
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
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/server"
)

// LogFactory appends every line received on any connection to Path.
type LogFactory struct {
	// Path is the log file, created if missing and appended to.
	Path string

	mu sync.Mutex
	f  *os.File
}

// Start opens the file (weft.Starter).
func (lf *LogFactory) Start(context.Context) error {
	f, err := os.OpenFile(lf.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	lf.mu.Lock()
	lf.f = f
	lf.mu.Unlock()
	return nil
}

// Stop closes the file (weft.Stopper).
func (lf *LogFactory) Stop() {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f != nil {
		lf.f.Close()
		lf.f = nil
	}
}

func (lf *LogFactory) append(line []byte) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f != nil {
		_, _ = lf.f.Write(append(append([]byte(nil), line...), '\n'))
	}
}

// BuildProtocol implements weft.Factory.
func (lf *LogFactory) BuildProtocol(net.Addr) weft.Protocol {
	return codec.NewLineReceiver(&logger{lf: lf})
}

type logger struct{ lf *LogFactory }

func (l *logger) ConnectionMade(*codec.LineReceiver) {}
func (l *logger) LineReceived(line []byte)           { l.lf.append(line) }
func (l *logger) ConnectionLost(error)               {}

func main() {
	addr := flag.String("listen", "127.0.0.1:8090", "address to listen on")
	path := flag.String("file", "weft.log", "log file")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", ln.Addr())
	srv := &server.Server{Factory: &LogFactory{Path: *path}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx, 5*time.Second, ln); err != nil { // then drains for up to 5 s
		log.Fatal(err)
	}
}
