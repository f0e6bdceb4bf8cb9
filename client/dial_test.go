package client

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// echoServer echoes every connection on a loopback port until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// chanProto sends what it receives on a channel.
type chanProto struct {
	made bool
	t    weft.Transport
	data chan string
	lost chan error
}

func newChanProto() *chanProto {
	return &chanProto{data: make(chan string, 16), lost: make(chan error, 1)}
}

func (p *chanProto) ConnectionMade(t weft.Transport) { p.made, p.t = true, t }
func (p *chanProto) DataReceived(d []byte)           { p.data <- string(d) }
func (p *chanProto) ConnectionLost(reason error)     { p.lost <- reason }

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10 s")
		return ""
	}
}

func TestDial(t *testing.T) {
	port := echoServer(t)
	p := newChanProto()
	c, err := Dial(t.Context(), "tcp:127.0.0.1:"+port, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !p.made || p.t != c.Transport() {
		t.Fatal("Dial returned before ConnectionMade")
	}
	if _, err := c.Transport().Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, p.data); got != "ping" {
		t.Errorf("echo = %q", got)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v, want nil (clean close)", err)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if err := <-p.lost; err != nil {
		t.Errorf("ConnectionLost(%v), want nil", err)
	}
}

func TestDialErrors(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	desc := "tcp:127.0.0.1:" + port
	if _, err := Dial(t.Context(), desc, nopProto{}, nil); err == nil || !strings.Contains(err.Error(), desc) {
		t.Errorf("refused: %v, want an error naming %s", err, desc)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Dial(ctx, desc, nopProto{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	dialed := false
	opts := &Options{Conn: &weft.Options{HighWater: -1},
		Dialer: func(context.Context, string) (net.Conn, error) { dialed = true; return nil, errRefused }}
	if _, err := Dial(t.Context(), desc, nopProto{}, opts); err == nil || !strings.Contains(err.Error(), "HighWater") || dialed {
		t.Errorf("bad options: %v (dialed %v), want an error naming HighWater before dialing", err, dialed)
	}
	if _, err := Dial(t.Context(), desc, nil, nil); err == nil {
		t.Error("nil Protocol accepted")
	}
}

// Dial honours ctx while connecting, with a custom Dialer in fake time.
func TestDialContextTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := Dial(ctx, "x", nopProto{}, &Options{Dialer: func(ctx context.Context, _ string) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Errorf("Dial = %v after %v, want DeadlineExceeded after 5s", err, time.Since(start))
		}
	})
}

// Over net.Pipe in fake time: the connection runs on its own after Dial and
// Wait returns the reason.
func TestDialPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cli, srv := net.Pipe()
		p := newChanProto()
		c, err := Dial(t.Context(), "pipe", p, &Options{Dialer: func(context.Context, string) (net.Conn, error) { return cli, nil }})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			srv.Write([]byte("hello"))
			srv.Close()
		}()
		if err := c.Wait(); err != nil {
			t.Errorf("Wait = %v, want nil after the peer closed", err)
		}
		if got := <-p.data; got != "hello" {
			t.Errorf("got %q", got)
		}
	})
}
