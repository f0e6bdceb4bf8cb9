// Command poetry serves a poem (slowly, if asked) or downloads poems from
// several servers at once (Dave Peticolas's Twisted introduction).
//
//	go run ./examples/poetry serve -listen 127.0.0.1:10000 -file testdata/poems/hope.txt -chunk 10 -delay 100ms
//	go run ./examples/poetry serve -listen 127.0.0.1:10001 -file testdata/poems/sick-rose.txt
//	go run ./examples/poetry get tcp:127.0.0.1:10000 tcp:127.0.0.1:10001
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/weftkit/weft/protocols/poetry"
	"github.com/weftkit/weft/server"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: poetry serve|get ...")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		addr := fs.String("listen", "127.0.0.1:10000", "address to listen on")
		file := fs.String("file", "testdata/poems/hope.txt", "the poem (at most 64 MiB)")
		chunk := fs.Int("chunk", 0, "bytes per chunk (0: all at once)")
		delay := fs.Duration("delay", 0, "pause between chunks")
		_ = fs.Parse(os.Args[2:])
		err = serve(ctx, *addr, *file, *chunk, *delay)
	case "get":
		err = get(ctx, os.Stdout, os.Stderr, os.Args[2:]...)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

func serve(ctx context.Context, addr, file string, chunk int, delay time.Duration) error {
	poem, err := poetry.ReadFile(file) // at most poetry.MaxPoemFile bytes
	if err != nil {
		return err
	}
	// An invalid poetry.Server (a negative -chunk or -delay) would refuse
	// every connection: say so now instead.
	ps := &poetry.Server{Poem: poem, Chunk: chunk, Delay: delay}
	if err := ps.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("listening on", ln.Addr())
	srv := &server.Server{Factory: ps}
	return srv.Run(ctx, 5*time.Second, ln) // then drains for up to 5 s
}

// get downloads from every endpoint at once, reporting progress on progress
// and writing each poem to out. It fails if a download failed or out could
// not be written.
func get(ctx context.Context, out, progress io.Writer, endpoints ...string) error {
	if len(endpoints) == 0 {
		return errors.New("usage: poetry get ENDPOINT... (e.g. tcp:127.0.0.1:10000)")
	}
	var mu sync.Mutex // Progress runs on the download goroutines
	c := poetry.Client{Progress: func(i, n, total int) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(progress, "poem %d: %d new bytes, %d so far\n", i+1, n, total)
	}}
	failed := 0
	for i, r := range c.Get(ctx, endpoints...) {
		if r.Err != nil {
			failed++
			fmt.Fprintf(progress, "poem %d failed: %v\n", i+1, r.Err)
			continue
		}
		if _, err := fmt.Fprintf(out, "--- poem %d from %s ---\n%s", i+1, r.Endpoint, r.Poem); err != nil {
			return fmt.Errorf("writing poem %d: %w", i+1, err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d downloads failed", failed, len(endpoints))
	}
	return nil
}
