package weft_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// Tests of the readiness engine's scheduling: the worker pool's "one spare"
// rule, fairness between connections, and writes made outside callbacks.
// The contract tests (conn_test.go, flow_test.go) run over the engine too.

// echoLines returns a recorder that echoes what it receives.
func echoRecorder(t testing.TB) *recorder {
	r := newRecorder(t)
	r.onData = func(tr weft.Transport, d []byte) { tr.Write(d) }
	return r
}

// pingPong makes n request/response round trips of one line over c.
func pingPong(c net.Conn, n int) error {
	rd := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for i := range n {
		line := fmt.Sprintf("ping %d\n", i)
		if _, err := io.WriteString(c, line); err != nil {
			return err
		}
		got, err := rd.ReadString('\n')
		if err != nil {
			return fmt.Errorf("round trip %d: %w", i, err)
		}
		if got != line {
			return fmt.Errorf("round trip %d: got %q", i, got)
		}
	}
	return nil
}

// TestEngineBlockedCallback: while one connection's callback blocks, the
// other connections of the engine keep being served — at GOMAXPROCS=1 too,
// where only the spare worker can take them.
func TestEngineBlockedCallback(t *testing.T) {
	for _, procs := range []int{1, 4} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			release := make(chan struct{})
			blocked := make(chan struct{}, 1)
			bs, bc := enginePair(t)
			br := newRecorder(t)
			br.onData = func(tr weft.Transport, d []byte) {
				blocked <- struct{}{}
				<-release
				tr.Write(d)
			}
			bdone := serve(bs, br, nil)

			const others = 5
			var wg sync.WaitGroup
			errs := make(chan error, others)
			if _, err := bc.Write([]byte("block\n")); err != nil {
				t.Fatal(err)
			}
			<-blocked // the callback is now blocked on a worker
			for range others {
				s, c := enginePair(t)
				r := echoRecorder(t)
				done := serve(s, r, nil)
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := pingPong(c, 50)
					errs <- err
					c.Close()
					if err == nil {
						<-done
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("a connection stalled behind a blocked callback: %v", err)
				}
			}
			close(release)
			bc.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := bufio.NewReader(bc).ReadString('\n')
			if err != nil || got != "block\n" {
				t.Fatalf("blocked connection answered %q, %v", got, err)
			}
			bc.Close()
			if err := <-bdone; err != nil {
				t.Fatalf("blocked connection ended with %v", err)
			}
		})
	}
}

// TestEngineOutsideWritesThenLose: writes from another goroutine (deferred to
// the engine's worker) are all sent, in order, before LoseConnection closes.
func TestEngineOutsideWritesThenLose(t *testing.T) {
	s, c := enginePair(t)
	r := newRecorder(t)
	done := serve(s, r, nil)
	tr := waitMade(t, r)
	var want bytes.Buffer
	for i := range 1000 {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		if _, err := tr.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	tr.LoseConnection()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("peer got %d bytes, want %d in order", len(got), want.Len())
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
}

// TestEngineManyOutsideWriters: many goroutines write to many engine
// connections at once while the peers read; every byte arrives, each
// writer's records in order and whole.
func TestEngineManyOutsideWriters(t *testing.T) {
	const conns, writers, records = 8, 4, 300
	type peer struct {
		c    net.Conn
		tr   weft.Transport
		done <-chan error
	}
	peers := make([]peer, conns)
	for i := range peers {
		s, c := enginePair(t)
		r := newRecorder(t)
		done := serve(s, r, nil)
		peers[i] = peer{c: c, tr: waitMade(t, r), done: done}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range records {
				for _, p := range peers {
					p.tr.Write(fmt.Appendf(nil, "w%d r%d %s\n", w, i, bytes.Repeat([]byte("."), i%97)))
				}
			}
		}()
	}
	check := func(p peer) error {
		rd := bufio.NewReader(p.c)
		p.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		next := make([]int, writers)
		for n := 0; n < writers*records; n++ {
			line, err := rd.ReadString('\n')
			if err != nil {
				return fmt.Errorf("after %d records: %w", n, err)
			}
			var w, i int
			if _, err := fmt.Sscanf(line, "w%d r%d", &w, &i); err != nil || w < 0 || w >= writers {
				return fmt.Errorf("garbled record %q", line)
			}
			if i != next[w] {
				return fmt.Errorf("writer %d: record %d after %d", w, i, next[w]-1)
			}
			if want := fmt.Sprintf("w%d r%d %s\n", w, i, bytes.Repeat([]byte("."), i%97)); line != want {
				return fmt.Errorf("record %q, want %q", line, want)
			}
			next[w]++
		}
		return nil
	}
	errs := make(chan error, conns)
	for _, p := range peers {
		go func() { errs <- check(p) }()
	}
	for range peers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	for _, p := range peers {
		p.c.Close()
		<-p.done
	}
}

// TestEngineClosedUnderConnection: a connection still open when its engine
// is closed gets no more events, but closing it still ends it properly
// (ConnectionLost with the reason) instead of hanging or panicking.
func TestEngineClosedUnderConnection(t *testing.T) {
	e, err := weft.NewEngine()
	if err != nil {
		t.Skip(err)
	}
	s, _ := tcpPair(t)
	r := newRecorder(t)
	conn := weft.NewConn(s, r, &weft.Options{Engine: e})
	done := make(chan error, 1)
	conn.Start(func(err error) { done <- err })
	waitMade(t, r)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	conn.Close(weft.ErrServerShutdown)
	select {
	case err := <-done:
		if err != weft.ErrServerShutdown {
			t.Fatalf("reason %v, want ErrServerShutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connection never ended after its engine closed")
	}
}
