package server

import (
	"bytes"
	"context"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/weftkit/weft"
)

// TestBroadcastSlowConsumer: three clients read every broadcast while a
// fourth never reads: it is dropped as a slow consumer once its write buffer
// passes MaxWriteBuffer, and the others receive every message. With the
// engine, on the descriptor accept path.
func TestBroadcastSlowConsumer(t *testing.T) { onEngines(t, testBroadcastSlowConsumer) }

func testBroadcastSlowConsumer(t *testing.T, engine *weft.Engine) {
	s := &Server{Factory: echoFactory(), MaxWriteBuffer: 128 << 10, HighWater: 64 << 10, Engine: engine}
	addr := serve(t, s)
	slow := dial(t, addr)
	slow.(*net.TCPConn).SetReadBuffer(4096)
	const fast, msgs, size = 3, 4096, 4096
	got := make([]chan int, fast)
	var wg sync.WaitGroup
	for i := range fast {
		c := dial(t, addr)
		got[i] = make(chan int, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, size)
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			for m := range msgs {
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Errorf("fast client %d, message %d: %v", i, m, err)
					close(got[i])
					return
				}
				if buf[0] != byte(m) || buf[size-1] != byte(m) {
					t.Errorf("fast client %d: message %d garbled", i, m)
				}
				got[i] <- m
			}
		}()
	}
	waitFor(t, "4 connections", func() bool { return s.Len() == fast+1 })
	wantFDPath(t, s)
	counts := map[int]int{}
	for m := range msgs {
		counts[s.Broadcast(bytes.Repeat([]byte{byte(m)}, size))]++
		for i := range fast {
			if _, ok := <-got[i]; !ok {
				t.Fatalf("fast client %d stopped at message %d", i, m)
			}
		}
	}
	wg.Wait()
	if counts[fast] == 0 || counts[fast+1] == 0 {
		t.Errorf("broadcast reached %v (want some to 4, then the rest to 3)", counts)
	}
	waitFor(t, "slow consumer dropped", func() bool { return s.Snapshot().Closed["slow consumer"] == 1 })
	if s.Len() != fast {
		t.Errorf("Len = %d after the drop, want %d", s.Len(), fast)
	}
}

// TestManager: IDs from the ConnState hook find connections with Get; Range
// visits each once; the hook sees new → queued → active → closed. (With
// MaxConns, the engine serves net.Conns: no descriptor accept path.)
func TestManager(t *testing.T) { onEngines(t, testManager) }

func testManager(t *testing.T, engine *weft.Engine) {
	var mu sync.Mutex
	states := map[uint64][]ConnState{}
	s := &Server{Factory: echoFactory(), MaxConns: 2, Overflow: QueueFIFO, Engine: engine,
		ConnState: func(info ConnInfo, st ConnState) {
			mu.Lock()
			states[info.ID] = append(states[info.ID], st)
			mu.Unlock()
		}}
	addr := serve(t, s)
	a, b := dial(t, addr), dial(t, addr)
	roundTrip(t, a, "a")
	roundTrip(t, b, "b")
	c := dial(t, addr)
	waitFor(t, "C queued", func() bool { return s.Snapshot().Queued == 1 })
	var ids []uint64
	s.Range(func(cn *Conn) bool {
		ids = append(ids, cn.ID())
		got, ok := s.Get(cn.ID())
		if !ok || got != cn {
			t.Errorf("Get(%d) = %v, %v", cn.ID(), got, ok)
		}
		return true
	})
	slices.Sort(ids)
	if !slices.Equal(ids, []uint64{1, 2}) {
		t.Errorf("Range visited %v, want [1 2]", ids)
	}
	if _, ok := s.Get(3); ok {
		t.Error("Get(3) found the queued connection")
	}
	conn1, _ := s.Get(1)
	conn1.Close(errors.New("closed by the test"))
	roundTrip(t, c, "c")
	a.Close()
	waitFor(t, "1 closed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(states[1]) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	if want := []ConnState{StateNew, StateActive, StateClosed}; !slices.Equal(states[1], want) {
		t.Errorf("states of 1 = %v, want %v", states[1], want)
	}
	if want := []ConnState{StateNew, StateQueued, StateActive}; !slices.Equal(states[3], want) {
		t.Errorf("states of 3 = %v, want %v", states[3], want)
	}
}

// TestExpvarAndLogs: PublishExpvar exposes the snapshot and refuses a name
// twice; lifecycle events are logged at Debug. With the engine, on the
// descriptor accept path (runFD logs there).
func TestExpvarAndLogs(t *testing.T) { onEngines(t, testExpvarAndLogs) }

func testExpvarAndLogs(t *testing.T, engine *weft.Engine) {
	rec := &recordHandler{}
	s := &Server{Factory: echoFactory(), Logger: slog.New(rec), Engine: engine}
	name := fmt.Sprintf("weft_server_test_%d", expvarSeq.Add(1)) // unique under -count
	if err := s.PublishExpvar(name); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishExpvar(name); err == nil {
		t.Error("publishing a name twice: no error")
	}
	addr := serve(t, s)
	c := dial(t, addr)
	roundTrip(t, c, "counted")
	wantFDPath(t, s)
	c.Close()
	waitFor(t, "clean close", func() bool { return s.Snapshot().Closed["clean"] == 1 })
	v := expvar.Get(name).String()
	for _, want := range []string{`"Accepted":1`, `"BytesIn":7`, `"BytesOut":7`, `"clean":1`} {
		if !strings.Contains(v, want) {
			t.Errorf("expvar %s lacks %s", v, want)
		}
	}
	for _, want := range []string{"server: listening", "server: accepted", "server: active", "server: closed"} {
		if !rec.has(slog.LevelDebug, want) {
			t.Errorf("no Debug record %q", want)
		}
	}
}

var expvarSeq atomic.Int64

type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r)
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }
func (h *recordHandler) has(l slog.Level, msg string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.recs, func(r slog.Record) bool { return r.Level == l && r.Message == msg })
}

// TestConnInfo: a running Conn reports its ID, addresses and start time, and
// the ConnState hook sees the same addresses from StateNew to StateClosed.
func TestConnInfo(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			infos := map[ConnState]ConnInfo{}
			s := &Server{Factory: echoFactory(), Engine: engine(t),
				ConnState: func(info ConnInfo, st ConnState) {
					mu.Lock()
					infos[st] = info
					mu.Unlock()
				}}
			addr := serve(t, s)
			before := time.Now()
			c := dial(t, addr)
			roundTrip(t, c, "x")
			waitFor(t, "registered", func() bool { return s.Len() == 1 })
			cn, ok := s.Get(1)
			if !ok {
				t.Fatal("Get(1) found nothing")
			}
			want := ConnInfo{ID: 1, LocalAddr: c.RemoteAddr(), RemoteAddr: c.LocalAddr()}
			same := func(what string, got ConnInfo) {
				t.Helper()
				if got.ID != want.ID || addrString(got.LocalAddr) != addrString(want.LocalAddr) ||
					addrString(got.RemoteAddr) != addrString(want.RemoteAddr) {
					t.Errorf("%s = %v %v %v, want %v %v %v", what, got.ID, got.LocalAddr, got.RemoteAddr,
						want.ID, want.LocalAddr, want.RemoteAddr)
				}
			}
			same("Info()", cn.Info())
			if cn.ID() != 1 {
				t.Errorf("ID() = %d", cn.ID())
			}
			if st := cn.Started(); st.Before(before) || time.Since(st) < 0 || time.Since(st) > 5*time.Second {
				t.Errorf("Started() = %v, dialled at %v", st, before)
			}
			c.Close()
			waitFor(t, "closed", func() bool {
				mu.Lock()
				defer mu.Unlock()
				_, ok := infos[StateClosed]
				return ok
			})
			mu.Lock()
			defer mu.Unlock()
			for _, st := range []ConnState{StateNew, StateActive, StateClosed} {
				same(st.String(), infos[st])
			}
		})
	}
}

// TestConnHandle checks the handle's packed word and its size: the flag
// never shows in the ID.
func TestConnHandle(t *testing.T) {
	if size := unsafe.Sizeof(Conn{}); size > 48 {
		t.Errorf("Conn is %d bytes, want at most 48 (one 48-byte size class)", size)
	}
	ls := &listenerState{s: &Server{}}
	for _, overflow := range []bool{false, true} {
		id := uint64(idMask)
		c := newConn(id, nil, ls, overflow)
		if c.ID() != id || c.overflow() != overflow || c.srv() != ls.s {
			t.Fatalf("overflow %v: ID %d, overflow %v", overflow, c.ID(), c.overflow())
		}
	}
}

// TestAccessorsWhileServeStarts: Len, Get and Range may be called
// while Serve is still initialising the server (run with -race); with the
// engine, Serve prepares the descriptor accept path meanwhile.
func TestAccessorsWhileServeStarts(t *testing.T) { onEngines(t, testAccessorsWhileServeStarts) }

func testAccessorsWhileServeStarts(t *testing.T, engine *weft.Engine) {
	for range 10 {
		s := &Server{Factory: echoFactory(), Engine: engine}
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				if n := s.Len(); n != 0 {
					t.Errorf("Len = %d before any client", n)
				}
				if _, ok := s.Get(1); ok {
					t.Error("Get(1) found a connection before any client")
				}
				s.Range(func(*Conn) bool { t.Error("Range saw a connection before any client"); return false })
			}
		}()
		serve(t, s)
		waitFor(t, "a listener", func() bool { return len(s.Addrs()) == 1 })
		wantFDPath(t, s)
		stop.Store(true)
		<-done
	}
}

// TestManagerGetRangeLen: with connections opened and closed in a mixed
// order, Len counts the running ones, Get finds each by its ID (and no
// longer once it closed), and Range visits each once, in ID order, and
// stops when fn returns false.
func TestManagerGetRangeLen(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			s := &Server{Factory: echoFactory(), Engine: engine(t)}
			addr := serve(t, s)
			const n = 40
			clients := make([]net.Conn, n)
			for i := range clients {
				clients[i] = dial(t, addr)
				roundTrip(t, clients[i], "hi") // running: ConnectionMade returned
			}
			waitFor(t, "all running", func() bool { return s.Len() == n })
			ids := map[net.Conn]uint64{}
			s.Range(func(c *Conn) bool {
				for _, cl := range clients {
					if cl.LocalAddr().String() == c.Info().RemoteAddr.String() {
						ids[cl] = c.ID()
					}
				}
				return true
			})
			if len(ids) != n {
				t.Fatalf("Range matched %d of %d clients", len(ids), n)
			}
			// Close every third client, then every other of the rest.
			closed := map[uint64]bool{}
			for i, cl := range clients {
				if i%3 == 0 || i%2 == 1 {
					cl.Close()
					closed[ids[cl]] = true
				}
			}
			waitFor(t, "the closes seen", func() bool { return s.Len() == n-len(closed) })
			var seen []uint64
			s.Range(func(c *Conn) bool { seen = append(seen, c.ID()); return true })
			if len(seen) != n-len(closed) {
				t.Fatalf("Range visited %d connections, want %d", len(seen), n-len(closed))
			}
			for i := 1; i < len(seen); i++ {
				if seen[i] <= seen[i-1] {
					t.Fatalf("Range order %v: not in ID order", seen)
				}
			}
			for _, id := range ids {
				c, ok := s.Get(id)
				if ok != !closed[id] || ok && c.ID() != id {
					t.Errorf("Get(%d) = %v, %v; closed %v", id, c, ok, closed[id])
				}
			}
			calls := 0
			s.Range(func(*Conn) bool { calls++; return false })
			if calls != 1 {
				t.Errorf("Range called fn %d times after it returned false, want 1", calls)
			}
		})
	}
}
