package weft_test

import (
	"fmt"
	"io"
	"net"

	"github.com/weftkit/weft"
)

// wordCounter reads a request to its end, then answers: the peer's end of
// stream reaches it as ReadConnectionLost (it is a weft.HalfCloseable), and
// the connection stays open for the answer.
type wordCounter struct {
	t       weft.Transport
	n       int
	inSpace bool
}

func (w *wordCounter) ConnectionMade(t weft.Transport) { w.t, w.inSpace = t, true }
func (w *wordCounter) DataReceived(data []byte) {
	for _, b := range data {
		space := b == ' ' || b == '\n' || b == '\t'
		if w.inSpace && !space {
			w.n++
		}
		w.inSpace = space
	}
}
func (w *wordCounter) ReadConnectionLost() {
	fmt.Fprintf(w.t, "%d words\n", w.n)
	w.t.LoseConnection()
}
func (w *wordCounter) ConnectionLost(error) {}

// A client half-closes its side once the request is sent (CloseWrite, like
// nc -N), and a HalfCloseable Protocol answers after that end of stream. A
// weft Protocol ends its own side the same way with weft.LoseWriteConnection.
func ExampleHalfCloseable() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		done <- weft.Serve(c, &wordCounter{}, nil)
	}()

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	io.WriteString(c, "the quick brown fox\njumps over the lazy dog\n")
	c.(*net.TCPConn).CloseWrite() // the end of the request
	answer, _ := io.ReadAll(c)
	fmt.Print(string(answer))
	fmt.Println("ConnectionLost reason:", <-done)
	// Output:
	// 9 words
	// ConnectionLost reason: <nil>
}

// sender sends a request, ends its output with weft.LoseWriteConnection
// (as nc -N does), and collects the answer that comes after.
type sender struct {
	answer []byte
	done   chan error
}

func (s *sender) ConnectionMade(t weft.Transport) {
	io.WriteString(t, "one two three\n")
	if err := weft.LoseWriteConnection(t); err != nil {
		fmt.Println("LoseWriteConnection:", err)
	}
}
func (s *sender) DataReceived(data []byte)    { s.answer = append(s.answer, data...) }
func (s *sender) ConnectionLost(reason error) { s.done <- reason }

// A client ends its request with LoseWriteConnection and reads the answer
// the server sends after that end of stream; here the server is the word
// counter of ExampleHalfCloseable.
func ExampleLoseWriteConnection() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			weft.Serve(c, &wordCounter{}, nil)
		}
	}()

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	s := &sender{done: make(chan error, 1)}
	go weft.Serve(c, s, nil)
	fmt.Println("ConnectionLost reason:", <-s.done)
	fmt.Print(string(s.answer))
	// Output:
	// ConnectionLost reason: <nil>
	// 3 words
}
