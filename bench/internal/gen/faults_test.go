package gen

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft/bench/internal/wire"
)

// fault is what a faulty echo server does to frame number `at` (counted per
// connection, from 0).
type fault int

const (
	faithful    fault = iota
	corruptBody       // one payload byte altered
	corruptHead       // one byte of the codec's header (line: the payload's first byte)
	corruptTail       // one byte of the codec's trailer (int32: the payload's last byte)
	dropFrame         // frame at not echoed
	reorder           // frames at and at+1 echoed in swapped order
	duplicate         // frame at echoed twice
)

func (f fault) String() string {
	return [...]string{"faithful", "corrupt body", "corrupt head", "corrupt tail", "drop", "reorder", "duplicate"}[f]
}

// faultyEcho parses frames with the peers' own framing (internal/wire),
// re-encodes them and applies f to the frame numbered at on every
// connection.
func faultyEcho(codec Codec, f fault, at int) func(net.Conn) {
	return func(c net.Conn) {
		var buf, out, held []byte
		tmp := make([]byte, 64<<10)
		n := 0
		for {
			k, err := c.Read(tmp)
			if err != nil {
				return
			}
			buf = append(buf, tmp[:k]...)
			out = out[:0]
			for {
				p, used, err := wire.Next(string(codec), buf)
				if err != nil {
					return
				}
				if used == 0 {
					break
				}
				frame := wire.Append(string(codec), nil, p)
				buf = buf[used:]
				switch {
				case n != at && !(f == reorder && n == at+1):
					out = append(out, frame...)
				case f == corruptBody:
					frame[len(frame)-len(p)/2-2] ^= 0x01
					out = append(out, frame...)
				case f == corruptHead:
					frame[0] ^= 0x01
					out = append(out, frame...)
				case f == corruptTail:
					frame[len(frame)-1] ^= 0x01
					out = append(out, frame...)
				case f == dropFrame:
				case f == reorder && n == at:
					held = frame
				case f == reorder: // n == at+1
					out = append(append(out, frame...), held...)
				case f == duplicate:
					out = append(append(out, frame...), frame...)
				default:
					out = append(out, frame...)
				}
				n++
			}
			if len(out) > 0 {
				if _, err := c.Write(out); err != nil {
					return
				}
			}
		}
	}
}

// Every fault a server can commit on an echoed frame — a changed byte
// anywhere in it, a lost frame, two frames swapped, a frame sent twice —
// turns into an error, for every codec and whether one or several frames are
// in flight. A lost frame with one frame in flight leaves the connection
// waiting forever: it must be reported too, not just slow the count down.
func TestEchoCatchesEveryServerFault(t *testing.T) {
	for _, codec := range []Codec{Line, Netstring, Int32} {
		for _, inflight := range []int{1, 4} {
			for f := faithful; f <= duplicate; f++ {
				if f == reorder && inflight == 1 {
					continue // nothing to swap with one frame in flight
				}
				name := fmt.Sprintf("%s/inflight=%d/%s", codec, inflight, f)
				addr := server(t, faultyEcho(codec, f, 40))
				r, err := Echo(EchoConfig{Addr: addr, Codec: codec, Conns: 2, InFlight: inflight, Size: 64,
					Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond, Drain: 200 * time.Millisecond, Loops: 1})
				if err != nil {
					t.Fatal(err)
				}
				if f == faithful {
					if r.Errors != 0 || r.Msgs == 0 || r.Alive != 2 {
						t.Errorf("%s: %d errors (%s), %d msgs, %d alive", name, r.Errors, r.FirstError, r.Msgs, r.Alive)
					}
					continue
				}
				if r.Errors != 2 || r.Alive != 0 || r.FirstError == "" {
					t.Errorf("%s: %d errors (want 2, one per connection), %d alive, first %q", name, r.Errors, r.Alive, r.FirstError)
				}
			}
		}
	}
}

// A frame of one connection never verifies as the same frame of another:
// a server that crosses two connections' output is caught, whichever two.
func TestFramerDistinguishesConnections(t *testing.T) {
	for _, c := range []Codec{Line, Netstring, Int32} {
		f, _ := NewFramer(c, 64)
		for _, seq := range []uint64{0, 1, 1000} {
			for a := range 100 {
				w := f.Append(nil, a, seq)
				for b := range 100 {
					if a != b && f.Verify(w, b, seq) {
						t.Fatalf("%s: frame %d of connection %d verifies as connection %d's", c, seq, a, b)
					}
				}
			}
		}
	}
}

// A chat server that loses a message while each client has only one in
// flight stalls that sender for good: the run must report it.
func TestFanoutCatchesLostMessageWithOneInFlight(t *testing.T) {
	r, err := Fanout(FanoutConfig{Addr: chatRoom(t, "0000000000000003"), Clients: 3, InFlight: 1,
		Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, Drain: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors == 0 || r.FirstError == "" {
		t.Errorf("lost message not caught: %+v", r)
	}
}

// A server that never answers some connections in churn mode (here every
// 5th) must cost errors, not only a lower rate.
func TestChurnCatchesUnansweredConnection(t *testing.T) {
	var n atomic.Int64
	addr := server(t, func(c net.Conn) {
		if n.Add(1)%5 == 0 {
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}
		echoHandler(c)
	})
	r, err := Churn(ChurnConfig{Addr: addr, Concurrency: 4, Loops: 1,
		Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, Drain: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors == 0 || !strings.Contains(r.FirstError, "no echo") {
		t.Errorf("unanswered connections not reported: %d errors, first %q, %d msgs", r.Errors, r.FirstError, r.Msgs)
	}
}

// Connections refused in churn mode are errors that name the refusal. On
// loopback the refusal comes after connect returned EINPROGRESS: the
// generator asks the socket for its error when epoll reports one, and the
// message says it came that way.
func TestChurnReportsRefusedConnect(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	r, err := Churn(ChurnConfig{Addr: addr, Concurrency: 2, Loops: 1,
		Duration: 100 * time.Millisecond, Drain: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Msgs != 0 || r.Errors == 0 || !strings.Contains(r.FirstError, "connect: connection refused (reported by epoll)") {
		t.Errorf("refused connects: %d msgs, %d errors, first %q; want errors naming the refusal", r.Msgs, r.Errors, r.FirstError)
	}
}

// A frame lost late in the window, with one in flight, is caught too: after
// the window the generator waits for every frame still in flight.
func TestEchoCatchesFrameLostAtTheEnd(t *testing.T) {
	start := time.Now()
	addr := server(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if time.Since(start) > 250*time.Millisecond { // lose everything from here on
				continue
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
	r, err := Echo(EchoConfig{Addr: addr, Conns: 2, InFlight: 1, Loops: 1,
		Duration: 300 * time.Millisecond, Drain: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Msgs == 0 || r.Errors != 2 || !strings.Contains(r.FirstError, "never echoed") {
		t.Errorf("%d msgs, %d errors, first %q", r.Msgs, r.Errors, r.FirstError)
	}
}
