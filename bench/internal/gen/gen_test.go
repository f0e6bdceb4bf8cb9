package gen

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server runs handle for every connection on a loopback listener until the
// test ends.
func server(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { defer c.Close(); handle(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func echoHandler(c net.Conn) { _, _ = io.Copy(c, c) }

// corrupter echoes faithfully, then alters one byte after `after` bytes.
func corrupter(after int) func(net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 4096)
		n := 0
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			for i := range buf[:k] {
				if n+i == after {
					buf[i] ^= 1
				}
			}
			n += k
			if _, err := c.Write(buf[:k]); err != nil {
				return
			}
		}
	}
}

func TestEchoVerifiesEveryCodec(t *testing.T) {
	addr := server(t, echoHandler)
	for i, c := range []Codec{Line, Netstring, Int32} {
		r, err := Echo(EchoConfig{Addr: addr, Codec: c, Conns: 8, InFlight: 4, Size: 100,
			Duration: 200 * time.Millisecond, Loops: 2, RawSys: i == 1})
		if err != nil {
			t.Fatal(err)
		}
		if r.Errors != 0 || r.Msgs == 0 || r.Alive != 8 || r.P99us <= 0 {
			t.Errorf("%s: %+v", c, r)
		}
	}
}

// The hot path does not allocate per message: the window's allocations stay
// far below the number of messages. A machine too busy to move 1,000
// messages in the window (the whole suite under -race, compiling beside it)
// gets a longer window, up to 3 s, rather than a failure that says nothing
// about allocation.
func TestEchoAndFanoutDoNotAllocatePerMessage(t *testing.T) {
	addr, room := server(t, echoHandler), chatRoom(t, "")
	for _, run := range []struct {
		name string
		gen  func(d time.Duration) (*Result, error)
	}{
		{"echo", func(d time.Duration) (*Result, error) {
			return Echo(EchoConfig{Addr: addr, Codec: Netstring, Conns: 4, InFlight: 8, Size: 200,
				Warmup: 50 * time.Millisecond, Duration: d, Loops: 1})
		}},
		{"fanout", func(d time.Duration) (*Result, error) {
			return Fanout(FanoutConfig{Addr: room, Clients: 4, InFlight: 4, Warmup: 50 * time.Millisecond, Duration: d})
		}},
	} {
		var r *Result
		for _, d := range []time.Duration{300 * time.Millisecond, time.Second, 3 * time.Second} {
			var err error
			if r, err = run.gen(d); err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 {
				t.Fatalf("%s: %d errors, first: %s", run.name, r.Errors, r.FirstError)
			}
			if r.Msgs >= 1000 {
				break
			}
			t.Logf("%s: %d messages in %v; retrying with a longer window", run.name, r.Msgs, d)
		}
		if r.Msgs < 1000 || r.GenMallocs > uint64(r.Msgs)/100 {
			t.Errorf("%s: %d mallocs for %d messages", run.name, r.GenMallocs, r.Msgs)
		}
	}
}

func TestEchoCatchesAlteredAndClosedConnections(t *testing.T) {
	for name, h := range map[string]func(net.Conn){
		"altered byte":  corrupter(5000),
		"server closes": func(c net.Conn) { _, _ = io.CopyN(c, c, 3000) },
		"silent server": func(c net.Conn) { _, _ = io.Copy(io.Discard, c) },
	} {
		addr := server(t, h)
		r, err := Echo(EchoConfig{Addr: addr, Conns: 2, InFlight: 2, Size: 64, Duration: 200 * time.Millisecond, Drain: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		// A server that never answers is an error on each connection
		// (its frames were not echoed in the window), not a clean run
		// with 0 msgs/s.
		if r.Errors != 2 || r.Alive != 0 || r.FirstError == "" || name == "silent server" && r.Msgs != 0 {
			t.Errorf("%s: errors %d alive %d msgs %d first %q", name, r.Errors, r.Alive, r.Msgs, r.FirstError)
		}
	}
}

func TestEchoBadConfig(t *testing.T) {
	for _, cfg := range []EchoConfig{{}, {Addr: "127.0.0.1:1", Size: 3}, {Addr: "127.0.0.1:1", Codec: "x"}, {Addr: "127.0.0.1:1", Conns: -1}} {
		if _, err := Echo(cfg); err == nil {
			t.Errorf("Echo(%+v) succeeded", cfg)
		}
	}
}

func TestChurn(t *testing.T) {
	addr := server(t, echoHandler)
	r, err := Churn(ChurnConfig{Addr: addr, Concurrency: 4, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Msgs == 0 {
		t.Errorf("%+v", r)
	}
	addr = server(t, corrupter(10))
	r, err = Churn(ChurnConfig{Addr: addr, Concurrency: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors == 0 || r.Msgs != 0 {
		t.Errorf("altered echoes not caught: %+v", r)
	}
}

func TestIdleMeasuresOwnProcess(t *testing.T) {
	addr := server(t, echoHandler)
	r, err := Idle(IdleConfig{Addr: addr, Conns: 200, PID: os.Getpid(), Codec: Int32})
	if err != nil {
		t.Fatal(err)
	}
	if r.Alive != 200 || r.Errors != 0 || r.RSSBefore <= 0 || r.RSSIdle <= 0 {
		t.Errorf("%+v", r)
	}
	addr = server(t, func(c net.Conn) {}) // closes at once
	r, err = Idle(IdleConfig{Addr: addr, Conns: 20})
	if err != nil {
		t.Fatal(err)
	}
	if r.Alive != 0 || r.Errors != 20 {
		t.Errorf("closed connections counted alive: %+v", r)
	}
}

// chatRoom is a minimal chat server for the fanout tests, written not to
// allocate per message (the generator's allocation test counts the whole
// process); drop, if set, loses the message with that text prefix.
func chatRoom(t *testing.T, drop string) string {
	var mu sync.Mutex
	members := map[net.Conn]*sync.Mutex{}
	return server(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		io.WriteString(c, "What's your name?\r\n")
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		name := strings.TrimSpace(string(line))
		io.WriteString(c, "Welcome, "+name+"!\r\n")
		mu.Lock()
		members[c] = &sync.Mutex{}
		mu.Unlock()
		defer func() { mu.Lock(); delete(members, c); mu.Unlock() }()
		msg := make([]byte, 0, 256)
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			text := bytes.TrimSpace(line)
			if drop != "" && bytes.HasPrefix(text, []byte(drop)) {
				continue
			}
			msg = append(append(append(append(msg[:0], '<'), name...), '>', ' '), text...)
			msg = append(msg, '\r', '\n')
			mu.Lock()
			for o, wmu := range members {
				if o != c {
					wmu.Lock()
					o.Write(msg)
					wmu.Unlock()
				}
			}
			mu.Unlock()
		}
	})
}

func TestFanout(t *testing.T) {
	r, err := Fanout(FanoutConfig{Addr: chatRoom(t, ""), Clients: 5, InFlight: 2, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Msgs == 0 || r.Alive != 5 {
		t.Errorf("%+v", r)
	}
	// A lost message is reported when the next one from that sender arrives.
	r, err = Fanout(FanoutConfig{Addr: chatRoom(t, "0000000000000003"), Clients: 3, InFlight: 2, Duration: 200 * time.Millisecond,
		Drain: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors == 0 || !strings.Contains(r.FirstError, "missing or altered") {
		t.Errorf("lost message not caught: %+v", r)
	}
}

// The side set runs on the same loops as the main set and is reported
// apart: its messages, latency, live connections and errors do not mix with
// the main set's, in either direction.
func TestEchoSideSet(t *testing.T) {
	good := server(t, echoHandler)
	slow := server(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
	r, err := Echo(EchoConfig{Addr: good, Conns: 6, Duration: 300 * time.Millisecond, Loops: 1,
		Side: &EchoSide{Addr: slow, Conns: 3}})
	if err != nil {
		t.Fatal(err)
	}
	s := r.Side
	if s == nil {
		t.Fatal("no side result")
	}
	if r.Errors != 0 || r.Alive != 6 || s.Errors != 0 || s.Alive != 3 || s.Conns != 3 {
		t.Fatalf("main %+v\nside %+v", r, s)
	}
	// The side server answers every 10 ms: about 30 frames per connection
	// in the window, and p50 of at least 10 ms; the main set, far more.
	if s.Msgs == 0 || s.Msgs > 3*40 || s.P50us < 10e3 || r.Msgs < 10*s.Msgs || r.P50us >= 10e3 {
		t.Errorf("main %d msgs p50 %.0f µs; side %d msgs p50 %.0f µs", r.Msgs, r.P50us, s.Msgs, s.P50us)
	}
	if s.Window != r.Window || s.MsgsPerSec <= 0 {
		t.Errorf("side window %v msgs/s %v, main window %v", s.Window, s.MsgsPerSec, r.Window)
	}

	// An error on the side set is the side's; the main set stays clean.
	r, err = Echo(EchoConfig{Addr: good, Conns: 2, Duration: 200 * time.Millisecond, Loops: 1,
		Side: &EchoSide{Addr: server(t, corrupter(1000)), Conns: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Alive != 2 || r.Side.Errors != 1 || r.Side.Alive != 0 || !strings.Contains(r.Side.FirstError, "differ") {
		t.Errorf("main %+v\nside %+v", r, r.Side)
	}
	if _, err := Echo(EchoConfig{Addr: good, Side: &EchoSide{}}); err == nil {
		t.Error("a side set without an address accepted")
	}
}
