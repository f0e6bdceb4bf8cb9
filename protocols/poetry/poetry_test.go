package poetry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/poetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func poem(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/poems/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServerFastExactBytes(t *testing.T) {
	want := poem(t, "hope.txt")
	for _, s := range []*poetry.Server{
		{Poem: want},
		{Poem: want, Chunk: 10},
		{Poem: want, Delay: time.Second},
		{Poem: want, Chunk: len(want), Delay: time.Second},
	} {
		c, sc := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- weft.Serve(sc, s.BuildProtocol(nil), nil) }()
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%+v: got %d bytes (%v), want %d", s, len(got), err, len(want))
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		c.Close()
	}
}

// TestServerBigPoem: a 3 MiB poem, sent at once, to a client that does not
// read at first: the server buffers about the high-water mark of it, not a
// copy of the whole poem, and it arrives whole, over a pipe and over TCP.
func TestServerBigPoem(t *testing.T) {
	want := bytes.Repeat([]byte("So much depends upon a red wheel barrow\n"), 3<<20/40)
	s := &poetry.Server{Poem: want}
	for _, name := range []string{"pipe", "tcp"} {
		t.Run(name, func(t *testing.T) {
			var c, sc net.Conn
			if name == "pipe" {
				c, sc = net.Pipe()
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				if c, err = net.Dial("tcp", ln.Addr().String()); err != nil {
					t.Fatal(err)
				}
				if sc, err = ln.Accept(); err != nil {
					t.Fatal(err)
				}
			}
			defer c.Close()
			done := make(chan error, 1)
			spy := &spyProto{Protocol: s.BuildProtocol(nil), made: make(chan weft.Transport, 1)}
			go func() { done <- weft.Serve(sc, spy, nil) }()
			tr := <-spy.made
			time.Sleep(100 * time.Millisecond) // not reading yet (no timing asserted)
			// Held by the Gate: about the high-water mark and one piece,
			// not the whole poem.
			if b := tr.Buffered(); b > weft.DefaultHighWater+64<<10 {
				t.Errorf("%d bytes buffered for a client that does not read", b)
			}
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("got %d bytes (%v), want %d", len(got), err, len(want))
			}
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
}

// spyProto hands the Transport its Protocol gets to the test.
type spyProto struct {
	weft.Protocol
	made chan weft.Transport
}

func (p *spyProto) ConnectionMade(t weft.Transport) {
	p.Protocol.ConnectionMade(t)
	p.made <- t
}

// TestServerSlow checks, in fake time, that chunk k arrives at k*Delay.
func TestServerSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		want := []byte("0123456789abcdefghij!")
		s := &poetry.Server{Poem: want, Chunk: 5, Delay: 100 * time.Millisecond}
		c, sc := net.Pipe()
		defer c.Close()
		go func() { _ = weft.Serve(sc, s.BuildProtocol(nil), nil) }()
		start := time.Now()
		var got []byte
		buf := make([]byte, 64)
		for k := 0; ; k++ {
			n, err := c.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el != time.Duration(k)*s.Delay {
				t.Errorf("chunk %d (%q) at %v, want %v", k, buf[:n], el, time.Duration(k)*s.Delay)
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("got %q", got)
		}
	})
}

// TestServerSlowClientLeaves: a client that hangs up stops the timer.
func TestServerSlowClientLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &poetry.Server{Poem: bytes.Repeat([]byte("x"), 100), Chunk: 1, Delay: time.Second}
		c, sc := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- weft.Serve(sc, s.BuildProtocol(nil), nil) }()
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		c.Close()
		<-done
		time.Sleep(time.Minute)
		synctest.Wait() // a running timer would keep writing; goleak checks the rest
	})
}

func TestServerValidate(t *testing.T) {
	for _, s := range []poetry.Server{{Chunk: -1}, {Delay: -time.Second}} {
		if err := s.Validate(); !errors.Is(err, poetry.ErrConfig) {
			t.Errorf("%+v: Validate = %v", s, err)
		}
		if p := s.BuildProtocol(nil); p != nil {
			t.Errorf("%+v: BuildProtocol did not refuse", s)
		}
	}
}

// listen serves s on loopback until the test ends and returns its client
// endpoint description.
func listen(t *testing.T, s *poetry.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { _ = weft.Serve(c, s.BuildProtocol(nil), nil) })
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "tcp:" + ln.Addr().String()
}

func TestGetPoetryConcurrent(t *testing.T) {
	hope, rose := poem(t, "hope.txt"), poem(t, "sick-rose.txt")
	ep1 := listen(t, &poetry.Server{Poem: hope, Chunk: 50, Delay: time.Millisecond})
	ep2 := listen(t, &poetry.Server{Poem: rose})
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadEP := "tcp:" + dead.Addr().String()
	dead.Close()

	var mu sync.Mutex
	totals := map[int]int{}
	c := poetry.Client{Progress: func(i, n, total int) {
		mu.Lock()
		defer mu.Unlock()
		if total != totals[i]+n {
			t.Errorf("endpoint %d: total %d after %d+%d", i, total, totals[i], n)
		}
		totals[i] = total
	}}
	res := c.Get(context.Background(), ep1, ep2, deadEP, "bogus:1")
	if len(res) != 4 {
		t.Fatalf("%d results", len(res))
	}
	if res[0].Err != nil || !bytes.Equal(res[0].Poem, hope) || res[0].Endpoint != ep1 {
		t.Errorf("hope: %q %v", res[0].Poem, res[0].Err)
	}
	if res[1].Err != nil || !bytes.Equal(res[1].Poem, rose) {
		t.Errorf("rose: %q %v", res[1].Poem, res[1].Err)
	}
	if res[2].Err == nil || res[3].Err == nil {
		t.Errorf("dead/bogus endpoints: %v, %v", res[2].Err, res[3].Err)
	}
	if totals[0] != len(hope) || totals[1] != len(rose) {
		t.Errorf("progress totals %v", totals)
	}
}

func TestGetPoetryLimitsAndCancel(t *testing.T) {
	big := listen(t, &poetry.Server{Poem: bytes.Repeat([]byte("la "), 1000)})
	c := poetry.Client{MaxPoem: 100}
	if r := c.Get(context.Background(), big)[0]; !errors.Is(r.Err, poetry.ErrPoemTooLarge) {
		t.Errorf("MaxPoem: %v", r.Err)
	}
	slow := listen(t, &poetry.Server{Poem: bytes.Repeat([]byte("la "), 1000), Chunk: 1, Delay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	c = poetry.Client{Progress: func(int, int, int) { cancel() }}
	if r := c.Get(ctx, slow)[0]; !errors.Is(r.Err, context.Canceled) {
		t.Errorf("cancel: %v", r.Err)
	}
}
