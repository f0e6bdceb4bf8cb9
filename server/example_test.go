package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/weftkit/weft"
	"github.com/weftkit/weft/server"
)

// echo writes back what it receives.
type echo struct{ t weft.Transport }

func (e *echo) ConnectionMade(t weft.Transport) { e.t = t }
func (e *echo) DataReceived(b []byte)           { e.t.Write(b) }
func (e *echo) ConnectionLost(error)            {}

// An echo server that takes one client at a time and turns the next away
// with a message.
func ExampleServer() {
	s := &server.Server{
		Factory:       weft.FactoryFunc(func(net.Addr) weft.Protocol { return &echo{} }),
		MaxConns:      1,
		RejectMessage: []byte("Too many connections, try later\r\n"),
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.Serve(l)
	defer s.Close()

	first, _ := net.Dial("tcp", l.Addr().String())
	defer first.Close()
	fmt.Fprintf(first, "hello\n")
	line, _ := bufio.NewReader(first).ReadString('\n')
	fmt.Printf("first: %q\n", line)

	second, _ := net.Dial("tcp", l.Addr().String())
	defer second.Close()
	line, _ = bufio.NewReader(second).ReadString('\n')
	fmt.Printf("second: %q\n", line)
	// Output:
	// first: "hello\n"
	// second: "Too many connections, try later\r\n"
}

// goodbye says so when the server shuts down.
type goodbye struct{ echo }

func (g *goodbye) Shutdown() { g.t.Write([]byte("server going down\n")) }

// Graceful shutdown: protocols implementing weft.ShutdownNotifier say
// goodbye, pending output is flushed, then the connections close.
func ExampleServer_Shutdown() {
	s := &server.Server{Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol { return &goodbye{} })}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	c, _ := net.Dial("tcp", l.Addr().String())
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "ping\n")
	r.ReadString('\n') // the echo: the connection is active

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("Shutdown:", s.Shutdown(ctx))
	line, _ := r.ReadString('\n')
	fmt.Printf("client read %q\n", line)
	fmt.Println("Serve:", <-served)
	// Output:
	// Shutdown: <nil>
	// client read "server going down\n"
	// Serve: server: closed
}

// whoami tells the client the address its Transport reports.
type whoami struct{}

func (whoami) ConnectionMade(t weft.Transport) {
	fmt.Fprintf(t, "you are %s\n", t.RemoteAddr())
	t.LoseConnection()
}
func (whoami) DataReceived([]byte)  {}
func (whoami) ConnectionLost(error) {}

// Behind a load balancer that sends a PROXY header, the Protocol sees the
// original client's address.
func ExampleServer_ServeProxy() {
	s := &server.Server{Factory: weft.FactoryFunc(func(net.Addr) weft.Protocol { return whoami{} })}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.ServeProxy(l, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	defer s.Close()

	// Play the load balancer: connect, then send the client's addresses.
	c, _ := net.Dial("tcp", l.Addr().String())
	defer c.Close()
	h := proxyproto.HeaderProxyFromAddrs(2,
		&net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 51000},
		&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 443})
	h.WriteTo(c)
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(line)
	// Output: you are 203.0.113.7:51000
}
