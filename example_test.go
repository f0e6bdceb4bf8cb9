package weft_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/weftkit/weft"
)

// upper answers every chunk it receives in upper case.
type upper struct{ t weft.Transport }

func (u *upper) ConnectionMade(t weft.Transport) { u.t = t }
func (u *upper) DataReceived(data []byte)        { u.t.Write([]byte(strings.ToUpper(string(data)))) }
func (u *upper) ConnectionLost(reason error)     {}

// Serve runs a Protocol over any net.Conn until the connection ends; here the
// goroutine engine over an in-memory pipe.
func ExampleServe() {
	server, client := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- weft.Serve(server, &upper{}, nil) }()

	io.WriteString(client, "hello, weft")
	reply := make([]byte, len("hello, weft"))
	io.ReadFull(client, reply)
	fmt.Println(string(reply))

	client.Close()
	fmt.Println("ConnectionLost reason:", <-done)
	// Output:
	// HELLO, WEFT
	// ConnectionLost reason: <nil>
}

// frameSender writes one netstring with WriteParts: header, payload and
// trailer go out as one write, without being copied together first.
type frameSender struct{}

func (frameSender) ConnectionMade(t weft.Transport) {
	payload := []byte("hello")
	weft.WriteParts(t, []byte(fmt.Sprintf("%d:", len(payload))), payload, []byte(","))
	t.LoseConnection()
}
func (frameSender) DataReceived([]byte)  {}
func (frameSender) ConnectionLost(error) {}

func ExampleWriteParts() {
	server, client := net.Pipe()
	go weft.Serve(server, frameSender{}, nil)
	all, _ := io.ReadAll(client)
	fmt.Println(string(all))
	// Output: 5:hello,
}

// countdown writes its lines from its own goroutine, as a file pump or a
// relay would. The Gate holds that goroutine while the peer does not keep
// up, so the write buffer never grows past the high-water mark.
type countdown struct{ gate *weft.Gate }

func (c *countdown) ConnectionMade(t weft.Transport) {
	c.gate = weft.NewGate(t)
	go func() {
		for i := 3; i > 0; i-- {
			if c.gate.Wait(t.Context()) != nil {
				return // the connection is lost
			}
			fmt.Fprintf(t, "%d\n", i)
		}
		t.LoseConnection()
	}()
}
func (c *countdown) DataReceived([]byte)  {}
func (c *countdown) ConnectionLost(error) {}

// A Gate gives a goroutine that writes outside the callbacks the flow
// control that a Producer gets: Wait holds it while the write buffer is
// above the high-water mark.
func ExampleGate() {
	server, client := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- weft.Serve(server, &countdown{}, nil) }()

	sc := bufio.NewScanner(client)
	for sc.Scan() {
		fmt.Println(sc.Text())
	}
	fmt.Println("ConnectionLost reason:", <-done)
	// Output:
	// 3
	// 2
	// 1
	// ConnectionLost reason: <nil>
}
