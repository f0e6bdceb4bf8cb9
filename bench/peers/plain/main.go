// Command plain is the benchmark's goroutine-per-connection peer server, written
// the way a Go developer would: net.Listener, one goroutine per connection, a
// bufio.Reader to parse frames and a bufio.Writer to answer.
//
//   - -proto echo: echoes each frame (-codec line | netstring | int32).
//     -naive writes every frame straight to the connection (one write per
//     frame); the default "coalescing" variant writes into the bufio.Writer
//     and flushes when the reader has nothing more buffered.
//   - -block-listen ADDR: a second echo listener whose connections sleep
//     -block-sleep every -block-every frames (the blocking scenario).
//   - -proto chat: the line chat of the fan-out scenario ("What's your
//     name?", "Welcome, NAME!", then "<NAME> text" to everyone else), one
//     writer goroutine and channel per client.
//
// It prints "listening on tcp ADDR" when ready.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

const maxFrame = 1 << 20

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	codec := flag.String("codec", "line", "line, netstring or int32")
	proto := flag.String("proto", "echo", "echo or chat")
	naive := flag.Bool("naive", false, "echo: write each frame directly (no bufio.Writer)")
	blockListen := flag.String("block-listen", "", "echo: a second address whose connections sleep -block-sleep every -block-every frames")
	blockEvery := flag.Int("block-every", 10, "frames between sleeps on -block-listen connections")
	blockSleep := flag.Duration("block-sleep", 10*time.Millisecond, "sleep on -block-listen connections")
	flag.Parse()
	if *codec != "line" && *codec != "netstring" && *codec != "int32" {
		fatal(fmt.Errorf("unknown -codec %q", *codec))
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
		b := &blocker{every: *blockEvery, sleep: *blockSleep}
		go func() {
			for {
				c, err := bl.Accept()
				if err != nil {
					fatal(err)
				}
				go echo(c, *codec, *naive, b)
			}
		}()
	}
	fmt.Printf("listening on tcp %s\n", ln.Addr())
	h := &hub{clients: map[*client]struct{}{}}
	for {
		c, err := ln.Accept()
		if err != nil {
			fatal(err)
		}
		if *proto == "chat" {
			go h.serve(c)
		} else {
			go echo(c, *codec, *naive, nil)
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "plain:", err)
	os.Exit(1)
}

// blocker makes a connection's frame handling sleep every so many frames
// (the "blocking callbacks" scenario).
type blocker struct {
	every int
	sleep time.Duration
}

func echo(c net.Conn, codec string, naive bool, block *blocker) {
	frames := 0
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	var payload, frame []byte
	var hdr [4]byte
	for {
		var err error
		switch codec {
		case "line":
			payload, err = r.ReadSlice('\n')
			payload = trimEOL(payload)
		case "netstring":
			payload, err = readNetstring(r, payload[:0])
		case "int32":
			if _, err = io.ReadFull(r, hdr[:]); err == nil {
				n := binary.BigEndian.Uint32(hdr[:])
				if n > maxFrame {
					return
				}
				payload = grow(payload, int(n))
				_, err = io.ReadFull(r, payload)
			}
		}
		if err != nil {
			return
		}
		if frames++; block != nil && frames%block.every == 0 {
			time.Sleep(block.sleep)
		}
		frame = encode(frame[:0], codec, payload)
		if naive {
			if _, err := c.Write(frame); err != nil {
				return
			}
			continue
		}
		if _, err := w.Write(frame); err != nil {
			return
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

func readNetstring(r *bufio.Reader, buf []byte) ([]byte, error) {
	n := 0
	for digits := 0; ; digits++ {
		ch, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		if ch == ':' && digits > 0 {
			break
		}
		if ch < '0' || ch > '9' || digits > 7 {
			return nil, errors.New("bad netstring length")
		}
		n = n*10 + int(ch-'0')
	}
	if n > maxFrame {
		return nil, errors.New("netstring too large")
	}
	buf = grow(buf, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if ch, err := r.ReadByte(); err != nil || ch != ',' {
		return nil, errors.New("netstring without ','")
	}
	return buf, nil
}

func encode(dst []byte, codec string, p []byte) []byte {
	switch codec {
	case "line":
		dst = append(dst, p...)
		return append(dst, '\r', '\n')
	case "netstring":
		dst = strconv.AppendInt(dst, int64(len(p)), 10)
		dst = append(dst, ':')
		dst = append(dst, p...)
		return append(dst, ',')
	default:
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
		return append(dst, p...)
	}
}

// hub is the chat room.
type hub struct {
	mu      sync.Mutex
	clients map[*client]struct{}
}

type client struct {
	conn net.Conn
	out  chan []byte
	once sync.Once
}

func (cl *client) kick() { cl.once.Do(func() { cl.conn.Close() }) }

func (h *hub) serve(c net.Conn) {
	cl := &client{conn: c, out: make(chan []byte, 4096)}
	defer cl.kick()
	r := bufio.NewReader(c)
	if _, err := io.WriteString(c, "What's your name?\r\n"); err != nil {
		return
	}
	line, err := r.ReadSlice('\n')
	if err != nil {
		return
	}
	name := string(trimEOL(line))
	if _, err := io.WriteString(c, "Welcome, "+name+"!\r\n"); err != nil {
		return
	}
	done := make(chan struct{})
	go func() { // the writer: drain the channel into a bufio.Writer, flush when empty
		defer close(done)
		w := bufio.NewWriter(c)
		for msg := range cl.out {
			w.Write(msg)
			if len(cl.out) == 0 && w.Flush() != nil {
				cl.kick()
				for range cl.out {
				}
				return
			}
		}
	}()
	h.mu.Lock()
	h.clients[cl] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.clients, cl)
		h.mu.Unlock()
		close(cl.out)
		<-done
	}()
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		msg := make([]byte, 0, len(name)+len(line)+4)
		msg = append(msg, '<')
		msg = append(msg, name...)
		msg = append(msg, '>', ' ')
		msg = append(msg, trimEOL(line)...)
		msg = append(msg, '\r', '\n')
		h.mu.Lock()
		for o := range h.clients {
			if o == cl {
				continue
			}
			select {
			case o.out <- msg:
			default:
				o.kick() // a client 4096 messages behind is dropped
			}
		}
		h.mu.Unlock()
	}
}
