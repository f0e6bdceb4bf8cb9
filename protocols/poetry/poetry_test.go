package poetry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// TestServerFastExactBytes: without a Chunk and a Delay both set (or with a
// chunk as large as the poem) the poem is sent at once, exactly, and no
// (fake) time passes.
func TestServerFastExactBytes(t *testing.T) {
	want := poem(t, "hope.txt")
	for _, s := range []*poetry.Server{
		{Poem: want},
		{Poem: want, Chunk: 10},
		{Poem: want, Delay: time.Second},
		{Poem: want, Chunk: len(want), Delay: time.Second},
	} {
		t.Run(fmt.Sprintf("chunk %d delay %v", s.Chunk, s.Delay), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, sc := net.Pipe()
				defer c.Close()
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- weft.Serve(sc, s.BuildProtocol(nil), nil) }()
				got, err := io.ReadAll(c)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("got %d bytes (%v), want %d", len(got), err, len(want))
				}
				if el := time.Since(start); el != 0 {
					t.Errorf("the poem took %v, want it sent at once", el)
				}
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			})
		})
	}
}

// TestServerBigPoem: a 3 MiB poem, sent at once, to a client that does not
// read at first: the server buffers about the high-water mark of it and one
// Gate piece, not a copy of the whole poem, and it arrives whole, over a pipe
// and over TCP.
func TestServerBigPoem(t *testing.T) {
	want := bytes.Repeat([]byte("So much depends upon a red wheel barrow\n"), 3<<20/40)
	s := &poetry.Server{Poem: want}
	const most = weft.DefaultHighWater + weft.GatePiece
	start := func(sc net.Conn) (weft.Transport, chan error) {
		done := make(chan error, 1)
		spy := &spyProto{Protocol: s.BuildProtocol(nil), made: make(chan weft.Transport, 1)}
		go func() { done <- weft.Serve(sc, spy, nil) }()
		return <-spy.made, done
	}
	readPoem := func(t *testing.T, c net.Conn, done chan error) {
		t.Helper()
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("got %d bytes (%v), want %d", len(got), err, len(want))
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Run("pipe", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, sc := net.Pipe()
			defer c.Close()
			tr, done := start(sc)
			synctest.Wait() // the server has written all it will before the client reads
			if b := tr.Buffered(); b < weft.DefaultHighWater || b > most {
				t.Errorf("%d bytes buffered for a client that does not read, want %d to %d", b, weft.DefaultHighWater, most)
			}
			readPoem(t, c, done)
		})
	})
	t.Run("tcp", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		// Small socket buffers: with the defaults the kernel takes the
		// whole poem, and the server has nothing left to buffer.
		if err := errors.Join(c.(*net.TCPConn).SetReadBuffer(16<<10), sc.(*net.TCPConn).SetWriteBuffer(16<<10)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		tr, done := start(sc)
		// Wait (polling, bounded) until the kernel is full and the server
		// holds the rest: more than the low-water mark (the flusher
		// writes a paused producer's output in pieces, so Buffered counts
		// only what the kernel has not taken).
		for deadline := time.Now().Add(10 * time.Second); tr.Buffered() <= weft.DefaultLowWater; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the server buffered only %d bytes in 10 s", tr.Buffered())
			}
		}
		if b := tr.Buffered(); b > most {
			t.Errorf("%d bytes buffered for a client that does not read, want at most %d", b, most)
		}
		readPoem(t, c, done)
	})
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

// TestServerSlowClientLeaves: a client that hangs up stops the sending: no
// chunk is written after ConnectionLost, however long the server lives on.
func TestServerSlowClientLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &poetry.Server{Poem: bytes.Repeat([]byte("x"), 100), Chunk: 1, Delay: time.Second}
		c, sc := net.Pipe()
		spy := &writeSpy{Protocol: s.BuildProtocol(nil)}
		done := make(chan error, 1)
		go func() { done <- weft.Serve(sc, spy, nil) }()
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		c.Close()
		<-done
		time.Sleep(time.Minute) // fake time: 60 more chunks were due
		synctest.Wait()
		spy.mu.Lock()
		defer spy.mu.Unlock()
		if !spy.lost || spy.writes != 1 || spy.writesAfterLost != 0 {
			t.Errorf("lost %v, %d writes, %d of them after ConnectionLost; want 1 write, none after", spy.lost, spy.writes, spy.writesAfterLost)
		}
	})
}

// writeSpy counts the Writes its Protocol makes, and those made after its
// ConnectionLost.
type writeSpy struct {
	weft.Protocol
	mu                      sync.Mutex
	lost                    bool
	writes, writesAfterLost int
}

func (s *writeSpy) ConnectionMade(t weft.Transport) {
	s.Protocol.ConnectionMade(countingTransport{Transport: t, s: s})
}

func (s *writeSpy) ConnectionLost(err error) {
	s.mu.Lock()
	s.lost = true
	s.mu.Unlock()
	s.Protocol.ConnectionLost(err)
}

type countingTransport struct {
	weft.Transport
	s *writeSpy
}

func (t countingTransport) Write(p []byte) (int, error) {
	t.s.mu.Lock()
	t.s.writes++
	if t.s.lost {
		t.s.writesAfterLost++
	}
	t.s.mu.Unlock()
	return t.Transport.Write(p)
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
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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

// TestGetPoetryDownloadsAtOnce: Get dials every server before any download
// ends. Each of these servers sends its poem only once both connections are
// up, and "alone" if the other one has not come within 5 s: a Get that
// downloaded one poem after the other would get "alone" from the first.
// (TestGetPoetryConcurrent passes either way.)
func TestGetPoetryDownloadsAtOnce(t *testing.T) {
	const n = 2
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{}) // closed once n connections are up
	arrive := func() {
		mu.Lock()
		defer mu.Unlock()
		if arrived++; arrived == n {
			close(all)
		}
	}
	var eps []string
	var lns []net.Listener
	var served sync.WaitGroup
	t.Cleanup(func() {
		for _, ln := range lns {
			ln.Close()
		}
		served.Wait()
	})
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		eps = append(eps, "tcp:"+ln.Addr().String())
		served.Go(func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			arrive()
			msg := "alone"
			select {
			case <-all:
				msg = fmt.Sprintf("poem %d", i)
			case <-time.After(5 * time.Second):
			}
			_, _ = c.Write([]byte(msg))
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, r := range poetry.GetPoetry(ctx, eps...) {
		if want := fmt.Sprintf("poem %d", i); r.Err != nil || string(r.Poem) != want || r.Endpoint != eps[i] {
			t.Errorf("result %d: %q from %s (%v), want %q from %s", i, r.Poem, r.Endpoint, r.Err, want, eps[i])
		}
	}
}

func TestGetPoetryLimitsAndCancel(t *testing.T) {
	big := listen(t, &poetry.Server{Poem: bytes.Repeat([]byte("la "), 1000)})
	c := poetry.Client{MaxPoem: 100}
	if r := c.Get(context.Background(), big)[0]; !errors.Is(r.Err, poetry.ErrPoemTooLarge) {
		t.Errorf("MaxPoem: %v", r.Err)
	}
	c = poetry.Client{MaxPoem: -1}
	if r := c.Get(context.Background(), big)[0]; !errors.Is(r.Err, poetry.ErrConfig) {
		t.Errorf("negative MaxPoem: %v, want ErrConfig", r.Err)
	}
	c = poetry.Client{IdleTimeout: -1}
	if r := c.Get(context.Background(), big)[0]; !errors.Is(r.Err, poetry.ErrConfig) {
		t.Errorf("negative IdleTimeout: %v, want ErrConfig", r.Err)
	}
	slow := listen(t, &poetry.Server{Poem: bytes.Repeat([]byte("la "), 1000), Chunk: 1, Delay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	c = poetry.Client{Progress: func(int, int, int) { cancel() }}
	if r := c.Get(ctx, slow)[0]; !errors.Is(r.Err, context.Canceled) {
		t.Errorf("cancel: %v", r.Err)
	}
}

// TestClientIdleServer: a server that accepts and then never sends nor
// closes fails the download after the idle timeout (weft.ErrIdleTimeout);
// before the fix Get waited forever (synctest reported the deadlock), and
// so did "weft get poetry".
func TestClientIdleServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		idle time.Duration
		want time.Duration
	}{
		{"default", 0, time.Minute},
		{"set", 5 * time.Second, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var srv []net.Conn
				c := poetry.Client{IdleTimeout: tc.idle}
				poetry.SetDial(&c, func(context.Context, string) (net.Conn, error) {
					cl, s := net.Pipe()
					srv = append(srv, s)
					// A few bytes, then silence: the timeout counts from
					// the last byte, and what came is returned.
					go func() { _, _ = s.Write([]byte("Once upon")) }()
					return cl, nil
				})
				start := time.Now()
				r := c.Get(context.Background(), "tcp:poet:1")[0]
				if !errors.Is(r.Err, weft.ErrIdleTimeout) || string(r.Poem) != "Once upon" {
					t.Errorf("got %q, %v; want the partial poem and ErrIdleTimeout", r.Poem, r.Err)
				}
				if d := time.Since(start); d != tc.want {
					t.Errorf("gave up after %v, want %v", d, tc.want)
				}
				for _, s := range srv {
					s.Close()
				}
			})
		})
	}
}
