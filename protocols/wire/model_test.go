package wire_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// modelTransport is a weft.Transport that follows the runtime's rules for
// the echo's flow control, with every step driven by the test: a Write
// into a non-empty buffer past Max aborts (weft.ErrSlowConsumer); a Write
// that takes the buffer past High posts the Producer's pause, a take down
// to Low posts its resume (both through syncProducer, as the runtime
// does); WriteRoom is any size into an empty buffer, else Max less what is
// buffered; Post queues work that the test runs; LoseConnection stops
// Writes (weft.ErrClosed); work posted after the connection is lost is
// dropped. It records what was written, and any Write made after
// ConnectionLost.
type modelTransport struct {
	High, Low, Max int

	mu         sync.Mutex
	out        []byte // everything written
	buffered   int
	maxBuf     int // the most buffered after a write
	readPaused bool
	producer   weft.Producer
	want, is   bool
	posted     []func()
	closing    bool
	closed     error // the abort's reason
	lost       bool
	lateWrites int // Writes after ConnectionLost
	asks       int // WriteRoom calls
}

var (
	_ weft.Transport   = (*modelTransport)(nil)
	_ weft.WriteRoomer = (*modelTransport)(nil)
)

func (m *modelTransport) write(total int, parts ...[]byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lost {
		m.lateWrites++
	}
	if m.closing || m.closed != nil {
		return 0, weft.ErrClosed
	}
	if m.buffered > 0 && m.buffered+total > m.Max {
		m.closed = fmt.Errorf("%w: %d buffered + %d written > MaxWriteBuffer %d", weft.ErrSlowConsumer, m.buffered, total, m.Max)
		return 0, weft.ErrSlowConsumer
	}
	for _, p := range parts {
		m.out = append(m.out, p...)
	}
	m.buffered += total
	m.maxBuf = max(m.maxBuf, m.buffered)
	if m.producer != nil && !m.want && m.buffered > m.High {
		m.want = true
		m.posted = append(m.posted, m.sync)
	}
	return total, nil
}

func (m *modelTransport) Write(p []byte) (int, error) { return m.write(len(p), p) }

func (m *modelTransport) WriteBuffers(bufs ...[]byte) error {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	_, err := m.write(total, bufs...)
	return err
}

// sync is the runtime's syncProducer.
func (m *modelTransport) sync() {
	m.mu.Lock()
	p, want, is := m.producer, m.want, m.is
	m.is = want
	m.mu.Unlock()
	if p == nil || want == is {
		return
	}
	if want {
		p.PauseProducing()
	} else {
		p.ResumeProducing()
	}
}

// take lets the client take n bytes of output.
func (m *modelTransport) take(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buffered = max(0, m.buffered-n)
	if m.producer != nil && m.want && m.buffered <= m.Low {
		m.want = false
		m.posted = append(m.posted, m.sync)
	}
}

func (m *modelTransport) Post(fn func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.lost {
		m.posted = append(m.posted, fn)
	}
}

// runNext runs the oldest posted work, if any.
func (m *modelTransport) runNext() bool {
	m.mu.Lock()
	if len(m.posted) == 0 {
		m.mu.Unlock()
		return false
	}
	fn := m.posted[0]
	m.posted = m.posted[1:]
	m.mu.Unlock()
	fn()
	return true
}

// lose ends the connection as the runtime does: posted work is dropped,
// the Producer stopped, then ConnectionLost.
func (m *modelTransport) lose(p weft.Protocol) {
	m.mu.Lock()
	m.lost = true
	m.posted = nil
	prod := m.producer
	m.producer = nil
	m.mu.Unlock()
	if prod != nil {
		prod.StopProducing()
	}
	p.ConnectionLost(nil)
}

func (m *modelTransport) WriteRoom() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asks++
	if m.closed != nil {
		return 0
	}
	if m.buffered == 0 {
		return math.MaxInt
	}
	return max(0, m.Max-m.buffered)
}

func (m *modelTransport) RegisterProducer(p weft.Producer) {
	m.mu.Lock()
	m.producer, m.is = p, false
	m.want = p != nil && m.buffered > m.High
	pause := m.want
	m.mu.Unlock()
	if pause {
		m.Post(m.sync)
	}
}

func (m *modelTransport) UnregisterProducer() { m.RegisterProducer(nil) }
func (m *modelTransport) Buffered() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.buffered
}
func (m *modelTransport) PauseReading() {
	m.mu.Lock()
	m.readPaused = true
	m.mu.Unlock()
}
func (m *modelTransport) ResumeReading() {
	m.mu.Lock()
	m.readPaused = false
	m.mu.Unlock()
}
func (m *modelTransport) LoseConnection() {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
}
func (m *modelTransport) Abort() {
	m.mu.Lock()
	if m.closed == nil {
		m.closed = weft.ErrAborted
	}
	m.mu.Unlock()
}
func (m *modelTransport) LocalAddr() net.Addr        { return &net.TCPAddr{} }
func (m *modelTransport) RemoteAddr() net.Addr       { return &net.TCPAddr{} }
func (m *modelTransport) Context() context.Context   { return context.Background() }
func (m *modelTransport) StartTLS(*tls.Config) error { return weft.ErrNotSupported }
func (m *modelTransport) paused() bool               { m.mu.Lock(); defer m.mu.Unlock(); return m.readPaused }
func (m *modelTransport) nposted() int               { m.mu.Lock(); defer m.mu.Unlock(); return len(m.posted) }
func (m *modelTransport) echoed() int                { m.mu.Lock(); defer m.mu.Unlock(); return len(m.out) }
func (m *modelTransport) failed() error              { m.mu.Lock(); defer m.mu.Unlock(); return m.closed }
func (m *modelTransport) output() []byte             { m.mu.Lock(); defer m.mu.Unlock(); return bytes.Clone(m.out) }
func (m *modelTransport) state() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("echoed %d, buffered %d, reading paused %v, producer paused %v/%v, %d posted",
		len(m.out), m.buffered, m.readPaused, m.want, m.is, len(m.posted))
}

// TestEchoFlowModel drives every echo service over modelTransport through
// random interleavings of the events the runtime may order any way: a
// read delivered (only while reading is not paused, as the runtime does),
// the client taking some output, one piece of posted work run (pauses,
// resumes, the echo's looks), a weft.GateRetry passing (the echo's timer),
// with random Options and reads that cut frames anywhere. It checks that
// no Write aborts as a slow consumer, the buffer never holds more than the
// larger of MaxWriteBuffer and one write, the output is the input, and
// everything is echoed: reading never stays paused with nothing left that
// would resume it (a hang).
func TestEchoFlowModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	runs := 30
	if testing.Short() {
		runs = 5
	}
	for _, tc := range echoCases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range runs {
				r := rand.New(rand.NewPCG(seed, uint64(i)))
				opts := randomOptions(r)
				if r.IntN(4) == 0 { // tiny buffers: framing larger than the room
					opts.HighWater = 1 + r.IntN(64)
					opts.MaxWriteBuffer = opts.HighWater + r.IntN(64)
					opts.LowWater = r.IntN(opts.HighWater + 1)
				}
				msg, maxFrame := tc.build(r, 16<<10+r.IntN(128<<10))
				name := fmt.Sprintf("run %d (seed %d): %d bytes, HighWater %d, LowWater %d, MaxWriteBuffer %d, ReadBufferSize %d",
					i, seed, len(msg), opts.HighWater, opts.LowWater, opts.MaxWriteBuffer, opts.ReadBufferSize)
				synctest.Test(t, func(t *testing.T) {
					if err := modelRun(tc.f, opts, msg, maxFrame, r, -1); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
				})
			}
		})
	}
}

// modelRun echoes msg through f over a modelTransport; loseAt >= 0 ends
// the connection after that many steps, and checks that nothing is written
// after ConnectionLost.
func modelRun(f weft.Factory, opts *weft.Options, msg []byte, maxFrame int, r *rand.Rand, loseAt int) error {
	m := &modelTransport{High: opts.HighWater, Low: opts.LowWater, Max: opts.MaxWriteBuffer}
	p := f.BuildProtocol(nil)
	p.ConnectionMade(m)
	in := 0
	idle := 0
	for step := 0; ; step++ {
		if err := m.failed(); err != nil {
			return fmt.Errorf("step %d: %v (%s)", step, err, m.state())
		}
		if step == loseAt {
			m.lose(p)
			for range 3 {
				time.Sleep(2 * weft.GateRetry)
				synctest.Wait()
				for m.runNext() {
				}
			}
			if m.lateWrites > 0 {
				return fmt.Errorf("%d Writes after ConnectionLost", m.lateWrites)
			}
			return nil
		}
		out := m.echoed()
		if out == len(msg) {
			break
		}
		if idle > 50 {
			return fmt.Errorf("hang: input delivered %d of %d, %s", in, len(msg), m.state())
		}
		progress := false
		switch k := r.IntN(8); {
		case k < 2 && in < len(msg) && !m.paused():
			n := min(len(msg)-in, 1+r.IntN(opts.ReadBufferSize))
			p.DataReceived(bytes.Clone(msg[in : in+n])) // the runtime reuses its read buffer
			in += n
			progress = true
		case k < 4:
			if b := m.Buffered(); b > 0 {
				m.take(1 + r.IntN(b))
				progress = true
			}
		case k < 6:
			progress = m.runNext()
		case k == 6:
			time.Sleep(weft.GateRetry)
			synctest.Wait()
		default:
			// Everything the client may do at once: take all, run all.
			m.take(m.Buffered())
			for m.runNext() {
			}
			progress = true
		}
		if progress || m.echoed() > out {
			idle = 0
		} else {
			idle++
		}
		if in == len(msg) && m.Buffered() == 0 && m.nposted() == 0 && m.echoed() < len(msg) {
			// Nothing left to do but the echo's timer.
			for range 3 {
				time.Sleep(2 * weft.GateRetry)
				synctest.Wait()
				for m.runNext() {
				}
			}
			if m.echoed() == out && m.Buffered() == 0 && m.nposted() == 0 {
				return fmt.Errorf("hang: all input delivered, %s", m.state())
			}
		}
	}
	if got := m.output(); !bytes.Equal(got, msg) {
		return errors.New("the echo differs from the input")
	}
	if bound := max(opts.MaxWriteBuffer, opts.ReadBufferSize, maxFrame); m.maxBuf > bound {
		return fmt.Errorf("%d bytes buffered, want at most %d", m.maxBuf, bound)
	}
	m.lose(p)
	return nil
}

// TestEchoFlowModelLost: the connection ends at a random step — a look
// posted, its timer armed, bytes held or not — and nothing is written
// after ConnectionLost, nothing panics, and no timer or goroutine is left
// (synctest fails on a goroutine left blocked; goleak on the rest).
func TestEchoFlowModelLost(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for _, tc := range echoCases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 40 {
				r := rand.New(rand.NewPCG(seed, uint64(i)))
				opts := randomOptions(r)
				opts.HighWater = 1 + r.IntN(4<<10)
				opts.MaxWriteBuffer = opts.HighWater + r.IntN(2)*r.IntN(4<<10)
				opts.LowWater = r.IntN(opts.HighWater + 1)
				msg, maxFrame := tc.build(r, 16<<10)
				synctest.Test(t, func(t *testing.T) {
					if err := modelRun(tc.f, opts, msg, maxFrame, r, r.IntN(200)); err != nil {
						t.Fatalf("run %d (seed %d): %v", i, seed, err)
					}
				})
			}
		})
	}
}
