package weft_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// The benchmarks compare weft's runtime with the loop a Go developer writes by
// hand — a goroutine per connection reading through a bufio.Reader(4096) and
// writing each chunk back — in the same run:
//
//	go test -run '^$' -bench 'Echo|Idle' -benchtime 1x -benchmem .   (Idle)
//	go test -run '^$' -bench Echo -benchmem .
//
// BenchmarkEcho reports allocations per echoed message (the client side
// allocates nothing) and the process CPU time per message (client included).
// BenchmarkIdleConns holds 10,000 loopback connections open (the clients live
// in a child process, so each process stays under the descriptor limit) and
// reports the server's memory per connection.

type echoProto struct{ t weft.Transport }

func (e *echoProto) ConnectionMade(t weft.Transport) { e.t = t }
func (e *echoProto) DataReceived(d []byte)           { e.t.Write(d) }
func (e *echoProto) ConnectionLost(error)            {}

// servers are the echo servers compared: weft's goroutine engine, weft's
// readiness engine (no goroutine while idle) and the plain loop.
var servers = []string{"weft", "weft-epoll", "plain"}

// plainEcho is the hand-written goroutine + bufio loop.
func plainEcho(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	buf := make([]byte, 4096)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// listenServe starts an echo server of the given kind on loopback; accepted
// counts its connections.
func listenServe(b *testing.B, kind string, accepted *atomic.Int32) (net.Listener, *sync.WaitGroup) {
	if kind == "weft-epoll" && testEngine == nil {
		b.Skip("no readiness engine on this platform")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Add(1)
			switch kind {
			case "weft-epoll":
				weft.NewConn(c, &echoProto{}, &weft.Options{Engine: testEngine}).Start(func(error) { wg.Done() })
			case "weft":
				go func() { defer wg.Done(); weft.Serve(c, &echoProto{}, nil) }()
			default:
				go func() { defer wg.Done(); plainEcho(c) }()
			}
		}
	}()
	return l, &wg
}

// BenchmarkEcho: 64-byte messages, 16 in flight on each of 4 connections.
func BenchmarkEcho(b *testing.B) {
	for _, srv := range servers {
		b.Run(srv, func(b *testing.B) {
			var accepted atomic.Int32
			l, wg := listenServe(b, srv, &accepted)
			const conns, inflight, size = 4, 16, 64
			msg := bytes.Repeat([]byte("m"), size-1)
			msg = append(msg, '\n')
			clients := make([]net.Conn, conns)
			for i := range clients {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				clients[i] = c
			}
			per := b.N/conns + 1
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			var cwg sync.WaitGroup
			for _, c := range clients {
				cwg.Add(2)
				sem := make(chan struct{}, inflight)
				go func() {
					defer cwg.Done()
					for range per {
						sem <- struct{}{}
						c.Write(msg)
					}
				}()
				go func() {
					defer cwg.Done()
					buf := make([]byte, size*inflight)
					got := 0
					for got < per*size {
						n, err := c.Read(buf)
						if err != nil {
							b.Error(err)
							return
						}
						for k := (got + n) / size; k > got/size; k-- {
							<-sem
						}
						got += n
					}
				}()
			}
			cwg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(per*conns), "cpu-ns/msg")
			for _, c := range clients {
				c.Close()
			}
			l.Close()
			wg.Wait()
		})
	}
}

// idleClientEnv makes the test binary a client that holds N connections open
// (see TestMain).
const idleClientEnv = "WEFT_IDLE_CLIENT"

// idleClient dials n connections to addr from 127.0.0.1-127.0.0.9, prints
// "ready", then on each line of stdin echoes one message on every connection
// and prints "echoed"; it exits when stdin closes.
func idleClient(spec string) {
	addr, nstr, _ := strings.Cut(spec, ",")
	n, _ := strconv.Atoi(nstr)
	conns := make([]net.Conn, 0, n)
	for i := range n {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%9))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	buf := make([]byte, 6)
	for in.Scan() {
		for _, c := range conns {
			c.Write([]byte("hello\n"))
			if _, err := io.ReadFull(c, buf); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
		}
		fmt.Println("echoed")
	}
	os.Exit(0)
}

func memInUse() (heapStack uint64, rss uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			rss = kb << 10
		}
	}
	return ms.HeapInuse + ms.StackInuse, rss
}

// BenchmarkIdleConns reports the server's memory per idle connection with
// 10,000 connections open, before and after each echoed one message. Run it
// with -benchtime 1x: the measurement is made once whatever b.N is.
func BenchmarkIdleConns(b *testing.B) {
	const n = 10000
	for _, srv := range servers {
		b.Run(srv, func(b *testing.B) {
			var accepted atomic.Int32
			l, wg := listenServe(b, srv, &accepted)
			h0, r0 := memInUse()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), idleClientEnv+"="+l.Addr().String()+","+strconv.Itoa(n))
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			out := bufio.NewScanner(stdout)
			expect := func(want string) {
				if !out.Scan() || out.Text() != want {
					b.Fatalf("client said %q (%v), want %q", out.Text(), out.Err(), want)
				}
			}
			expect("ready")
			for accepted.Load() < n {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			h1, r1 := memInUse()
			fmt.Fprintln(stdin, "echo")
			expect("echoed")
			h2, r2 := memInUse()
			b.ReportMetric(float64(h1-h0)/n, "heap+stack-B/conn")
			b.ReportMetric(float64(int64(r1)-int64(r0))/n, "rss-B/conn")
			b.ReportMetric(float64(h2-h0)/n, "after-echo-heap+stack-B/conn")
			b.ReportMetric(float64(int64(r2)-int64(r0))/n, "after-echo-rss-B/conn")
			stdin.Close()
			cmd.Wait()
			l.Close()
			wg.Wait()
		})
	}
}
