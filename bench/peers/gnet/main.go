// Command gnet is the benchmark's panjf2000/gnet/v2 peer server, configured as
// gnet's documentation recommends (multicore: one event loop per CPU).
//
//   - -proto echo: parses each frame in OnTraffic (-codec line | netstring |
//     int32), appends the echo to one output buffer and writes it once per
//     OnTraffic.
//   - -block-listen ADDR: a second listener on the same engine (gnet.Rotate)
//     whose connections sleep in OnTraffic every -block-every frames (the
//     blocking scenario).
//   - -proto chat: the fan-out scenario's line chat; a message goes to other
//     clients with Conn.Write when they share the sender's event loop and with
//     AsyncWrite otherwise.
//
// It prints "listening on tcp ADDR" when ready.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/weftkit/weft/bench/internal/wire"
)

type server struct {
	gnet.BuiltinEventEngine
	addr  string
	codec string
	chat  bool

	mu      sync.Mutex
	members map[gnet.Conn]string
	out     sync.Pool

	blockAddr  string // connections to this local address block
	blockEvery int
	blockSleep time.Duration
}

// blockState counts a blocking connection's frames.
type blockState struct{ frames int }

// member is the per-connection chat state.
type member struct{ name []byte }

func (s *server) OnBoot(gnet.Engine) gnet.Action {
	fmt.Printf("listening on tcp %s\n", s.addr)
	return gnet.None
}

func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if s.chat {
		c.SetContext(&member{})
		return []byte("What's your name?\r\n"), gnet.None
	}
	if s.blockAddr != "" && c.LocalAddr().String() == s.blockAddr {
		c.SetContext(&blockState{})
	}
	return nil, gnet.None
}

func (s *server) OnClose(c gnet.Conn, _ error) gnet.Action {
	if s.chat {
		s.mu.Lock()
		delete(s.members, c)
		s.mu.Unlock()
	}
	return gnet.None
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Peek(-1)
	bp := s.out.Get().(*[]byte)
	out := (*bp)[:0]
	used := 0
	action := gnet.None
	bs, _ := c.Context().(*blockState)
	for {
		p, n, err := wire.Next(s.codec, buf[used:])
		if err != nil {
			action = gnet.Close
			break
		}
		if n == 0 {
			break
		}
		used += n
		if bs != nil {
			if bs.frames++; bs.frames%s.blockEvery == 0 {
				time.Sleep(s.blockSleep)
			}
		}
		if s.chat {
			s.chatLine(c, p)
			continue
		}
		out = wire.Append(s.codec, out, p)
	}
	if len(out) > 0 {
		_, _ = c.Write(out)
	}
	_, _ = c.Discard(used)
	*bp = out
	s.out.Put(bp)
	return action
}

func (s *server) chatLine(c gnet.Conn, line []byte) {
	m := c.Context().(*member)
	if m.name == nil {
		m.name = append([]byte(nil), line...)
		_, _ = c.Write([]byte("Welcome, " + string(m.name) + "!\r\n"))
		s.mu.Lock()
		s.members[c] = string(m.name)
		s.mu.Unlock()
		return
	}
	msg := make([]byte, 0, len(m.name)+len(line)+5)
	msg = append(msg, '<')
	msg = append(msg, m.name...)
	msg = append(msg, '>', ' ')
	msg = append(msg, line...)
	msg = append(msg, '\r', '\n')
	s.mu.Lock()
	for o := range s.members {
		switch {
		case o == c:
		case o.EventLoop() == c.EventLoop():
			_, _ = o.Write(msg)
		default:
			_ = o.AsyncWrite(msg, nil)
		}
	}
	s.mu.Unlock()
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on (host:port)")
	codec := flag.String("codec", "line", "line, netstring or int32")
	proto := flag.String("proto", "echo", "echo or chat")
	blockListen := flag.String("block-listen", "", "echo: a second address (same engine, gnet.Rotate) whose connections sleep -block-sleep every -block-every frames in OnTraffic")
	blockEvery := flag.Int("block-every", 10, "frames between sleeps on -block-listen connections")
	blockSleep := flag.Duration("block-sleep", 10*time.Millisecond, "sleep on -block-listen connections")
	flag.Parse()
	if err := wire.Check(*codec); err != nil {
		fmt.Fprintln(os.Stderr, "gnet:", err)
		os.Exit(1)
	}
	if *proto != "echo" && *proto != "chat" {
		fmt.Fprintf(os.Stderr, "gnet: unknown -proto %q\n", *proto)
		os.Exit(1)
	}
	s := &server{addr: *listen, codec: *codec, chat: *proto == "chat", members: map[gnet.Conn]string{},
		blockAddr: *blockListen, blockEvery: *blockEvery, blockSleep: *blockSleep}
	s.out.New = func() any { b := make([]byte, 0, 64<<10); return &b }
	addrs := []string{"tcp://" + *listen}
	if *blockListen != "" {
		addrs = append(addrs, "tcp://"+*blockListen)
	}
	err := gnet.Rotate(s, addrs, gnet.WithMulticore(true))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnet:", err)
		os.Exit(1)
	}
}
