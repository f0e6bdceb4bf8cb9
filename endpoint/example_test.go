package endpoint_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/weftkit/weft/endpoint"
)

func ExampleParseServer() {
	for _, desc := range []string{
		"tcp:8007:interface=127.0.0.1:backlog=50",
		`tcp6:8007:interface=\:\:1`,
		"unix:/run/weft.sock:mode=660:lockfile=1",
		"tcp:8007:reuseport=yes:proxy=127.0.0.1/32,10.0.0.0/8",
	} {
		s, err := endpoint.ParseServer(desc)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s %s backlog=%d mode=%o lockfile=%v reuseport=%v proxy=%v\n",
			s.Network, s.Address, s.Backlog, s.Mode, s.Lockfile, s.ReusePort, s.Proxy)
	}
	_, err := endpoint.ParseServer("tcp:80:backlog=x")
	fmt.Println(err)
	// Output:
	// tcp4 127.0.0.1:8007 backlog=50 mode=0 lockfile=false reuseport=false proxy=[]
	// tcp6 [::1]:8007 backlog=0 mode=0 lockfile=false reuseport=false proxy=[]
	// unix /run/weft.sock backlog=0 mode=660 lockfile=true reuseport=false proxy=[]
	// tcp4 :8007 backlog=0 mode=0 lockfile=false reuseport=true proxy=[127.0.0.1/32 10.0.0.0/8]
	// endpoint: tcp:80:backlog=x: backlog: invalid value: invalid integer "x"
}

func ExampleParseClient() {
	for _, desc := range []string{
		"tcp:example.com:1234:timeout=7:bindAddress=10.0.0.2",
		"tcp:host=example.com:port=1234",
		"unix:/var/foo/bar",
		"TLS:example.com:443",
	} {
		c, err := endpoint.ParseClient(desc)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s host=%q port=%d path=%q timeout=%v bind=%q tls=%v\n",
			c.Type, c.Host, c.Port, c.Path, c.Timeout, c.BindAddress, c.TLS != nil)
	}
	// Output:
	// tcp host="example.com" port=1234 path="" timeout=7s bind="10.0.0.2" tls=false
	// tcp host="example.com" port=1234 path="" timeout=30s bind="" tls=false
	// unix host="" port=0 path="/var/foo/bar" timeout=30s bind="" tls=false
	// tls host="example.com" port=443 path="" timeout=30s bind="" tls=true
}

func ExampleQuote() {
	fmt.Println("unix:" + endpoint.Quote(`/tmp/odd:name=1`))
	// Output:
	// unix:/tmp/odd\:name\=1
}

func ExampleListen() {
	ln, s, err := endpoint.Listen(context.Background(), "tcp:0:interface=127.0.0.1")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := endpoint.Dial(context.Background(), fmt.Sprintf("tcp:127.0.0.1:%d", port))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	b, err := io.ReadAll(c) // the server says "hi" and hangs up
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Type, string(b))
	// Output:
	// tcp hi
}
