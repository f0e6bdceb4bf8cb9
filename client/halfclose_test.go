package client

import (
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// halfProto answers "thanks" once the server has ended its stream.
type halfProto struct {
	chanProto
	readLost chan struct{}
}

func (p *halfProto) ReadConnectionLost() {
	close(p.readLost)
	p.t.Write([]byte("thanks"))
	p.t.LoseConnection()
}

// A Protocol dialled with Dial keeps its optional methods: a
// weft.HalfCloseable one is told of the server's end of stream and may
// still answer; the ShutdownNotifier is kept as before.
func TestDialKeepsHalfCloseable(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("hello"))
		c.(*net.TCPConn).CloseWrite()
		b, err := io.ReadAll(c)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
	}()
	p := &halfProto{chanProto: *newChanProto(), readLost: make(chan struct{})}
	c, err := Dial(t.Context(), "tcp:127.0.0.1:"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := recv(t, p.data); s != "hello" {
		t.Errorf("received %q, want hello", s)
	}
	select {
	case <-p.readLost:
	case <-time.After(10 * time.Second):
		t.Fatal("ReadConnectionLost not called within 10 s")
	}
	if s := <-got; s != "thanks" {
		t.Errorf("the server read %q, want the answer after its half-close", s)
	}
	if err := c.Wait(); err != nil {
		t.Errorf("Wait = %v, want nil", err)
	}
	if _, ok := wrap(p, func(bool) {}).(weft.HalfCloseable); !ok {
		t.Error("wrap dropped weft.HalfCloseable")
	}
}
