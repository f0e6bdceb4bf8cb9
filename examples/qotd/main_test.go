package main

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestQOTD(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Factory: &QOTDFactory{Quote: "Carpe diem"}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if string(got) != "Carpe diem\r\n" || err != nil {
			t.Errorf("got %q, %v", got, err)
		}
	}
	srv.Close()
	if err := <-done; !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
}
