// Command weftecho serves the benchmark's echo and chat protocols with the weft
// runtime: a net.Listener, and weft.NewConn(...).Start for each accepted
// connection, with a small in-file framing protocol (bench/internal/wire).
// Connections run on the readiness engine (-engine epoll, the default; the
// runner's "weftepoll") or on a goroutine each (-engine goroutine; the
// runner's "weft" when cmd/weft is not available, and in the blocking
// scenario, which needs -block-listen).
//
//   - -proto echo: each DataReceived call parses every complete frame and
//     writes all the echoes with one Transport.Write.
//   - -block-listen ADDR: a second echo listener whose connections' callbacks
//     sleep -block-sleep every -block-every frames (the blocking scenario).
//   - -proto chat: "What's your name?", "Welcome, NAME!", then "<NAME> text"
//     written to every other client's Transport (safe from any goroutine).
//
// It prints "listening on tcp ADDR" when ready.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with -pprof
	"os"
	"sync"
	"time"

	"github.com/weftkit/weft"

	"github.com/weftkit/weft/bench/internal/wire"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	codec := flag.String("codec", "line", "line, netstring or int32")
	proto := flag.String("proto", "echo", "echo or chat")
	engine := flag.String("engine", "epoll", "epoll (weft's readiness engine) or goroutine (a goroutine per connection)")
	blockListen := flag.String("block-listen", "", "echo: a second address whose connections' callbacks sleep -block-sleep every -block-every frames")
	blockEvery := flag.Int("block-every", 10, "frames between sleeps on -block-listen connections")
	blockSleep := flag.Duration("block-sleep", 10*time.Millisecond, "sleep in the callback on -block-listen connections")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (for profiling; off by default)")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { fatal(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	opts := &weft.Options{}
	switch *engine {
	case "epoll":
		e, err := weft.NewEngine()
		if err != nil {
			fatal(fmt.Errorf("readiness engine: %w", err))
		}
		opts.Engine = e
	case "goroutine":
	default:
		fatal(fmt.Errorf("unknown -engine %q", *engine))
	}
	if err := wire.Check(*codec); err != nil {
		fatal(err)
	}
	if *proto != "echo" && *proto != "chat" {
		fatal(fmt.Errorf("unknown -proto %q", *proto))
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fatal(err)
	}
	if *blockListen != "" {
		bl, err := net.Listen("tcp", *blockListen)
		if err != nil {
			fatal(err)
		}
		go func() {
			for {
				c, err := bl.Accept()
				if err != nil {
					fatal(err)
				}
				p := &framed{codec: *codec, blockEvery: *blockEvery, blockSleep: *blockSleep}
				weft.NewConn(c, p, opts).Start(nil)
			}
		}()
	}
	fmt.Printf("listening on tcp %s\n", ln.Addr())
	room := &room{members: map[*framed]struct{}{}}
	for {
		c, err := ln.Accept()
		if err != nil {
			fatal(err)
		}
		p := &framed{codec: *codec}
		if *proto == "chat" {
			p.codec, p.room = "line", room
		}
		weft.NewConn(c, p, opts).Start(nil)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "weftecho:", err)
	os.Exit(1)
}

// framed is a weft.Protocol that splits the stream into frames and echoes
// them (or relays them to the chat room).
type framed struct {
	t     weft.Transport
	codec string
	buf   []byte // partial frame carried between reads
	out   []byte
	room  *room
	name  []byte
	// blockEvery > 0: sleep blockSleep in the callback every blockEvery frames.
	blockEvery int
	blockSleep time.Duration
	frames     int
}

func (p *framed) ConnectionMade(t weft.Transport) {
	p.t = t
	if p.room != nil {
		_, _ = t.Write([]byte("What's your name?\r\n"))
	}
}

func (p *framed) DataReceived(data []byte) {
	if len(p.buf) > 0 {
		p.buf = append(p.buf, data...)
		data = p.buf
	}
	out := p.out[:0]
	for {
		f, n, err := wire.Next(p.codec, data)
		if err != nil {
			p.t.Abort()
			return
		}
		if n == 0 {
			break
		}
		data = data[n:]
		if p.frames++; p.blockEvery > 0 && p.frames%p.blockEvery == 0 {
			time.Sleep(p.blockSleep)
		}
		if p.room != nil {
			p.chat(f)
		} else {
			out = wire.Append(p.codec, out, f)
		}
	}
	if len(out) > 0 {
		_, _ = p.t.Write(out)
	}
	p.out = out
	p.buf = append(p.buf[:0], data...)
}

func (p *framed) ConnectionLost(error) {
	if p.room != nil {
		p.room.mu.Lock()
		delete(p.room.members, p)
		p.room.mu.Unlock()
	}
}

type room struct {
	mu      sync.Mutex
	members map[*framed]struct{}
}

func (p *framed) chat(line []byte) {
	if p.name == nil {
		p.name = append([]byte(nil), line...)
		_, _ = p.t.Write([]byte("Welcome, " + string(p.name) + "!\r\n"))
		p.room.mu.Lock()
		p.room.members[p] = struct{}{}
		p.room.mu.Unlock()
		return
	}
	msg := append(p.out[:0], '<')
	msg = append(msg, p.name...)
	msg = append(msg, '>', ' ')
	msg = append(msg, line...)
	msg = append(msg, '\r', '\n')
	p.out = msg
	p.room.mu.Lock()
	for o := range p.room.members {
		if o != p {
			_, _ = o.t.Write(msg) // Write copies
		}
	}
	p.room.mu.Unlock()
}
