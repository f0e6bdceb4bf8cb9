package gen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// IdleConfig configures idle mode.
type IdleConfig struct {
	Addr  string // server host:port (required)
	Codec Codec  // framing of the final liveness echo; zero: line
	Conns int    // idle connections; zero: 10,000
	PID   int    // server process whose RSS is read; zero: RSS not measured
	// Timeout bounds the wait for the server to accept every connection and
	// each liveness echo; zero: 60 s.
	Timeout time.Duration
}

// prepare checks cfg, fills in its defaults and returns the framer of the
// liveness echoes (Idle, TLSIdle).
func (cfg *IdleConfig) prepare() (*Framer, error) {
	if cfg.Addr == "" {
		return nil, fmt.Errorf("%w: IdleConfig.Addr is empty", ErrBadConfig)
	}
	if cfg.Codec == "" {
		cfg.Codec = Line
	}
	setDefault(&cfg.Conns, 10000)
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	}
	return NewFramer(cfg.Codec, MinPayload)
}

// Idle opens Conns connections spread over 127.0.0.1–127.0.0.9, measures the
// server's RSS growth per idle connection, then echoes one frame on each to
// check that all are alive, and measures the RSS again.
func Idle(cfg IdleConfig) (*Result, error) {
	fr, err := cfg.prepare()
	if err != nil {
		return nil, err
	}
	tg, err := resolve(cfg.Addr)
	if err != nil {
		return nil, err
	}
	r := &Result{Mode: "idle", Codec: string(cfg.Codec), Conns: cfg.Conns, Size: MinPayload}
	w := window{pid: cfg.PID}
	w.start()
	baseFDs := 0
	if cfg.PID != 0 {
		if r.RSSBefore, err = readRSS(cfg.PID); err != nil {
			return nil, err
		}
		if baseFDs, err = countFDs(cfg.PID); err != nil {
			return nil, err
		}
	}
	fds, err := tg.dialMany(cfg.Conns, 64, true)
	if err != nil {
		return nil, err
	}
	defer closeAll(fds)
	if cfg.PID != 0 {
		deadline := time.Now().Add(cfg.Timeout)
		for {
			n, err := countFDs(cfg.PID)
			if err != nil {
				return nil, err
			}
			if n >= baseFDs+cfg.Conns {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("gen: server holds %d of %d connections after %v", n-baseFDs, cfg.Conns, cfg.Timeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if r.RSSIdle, err = settledRSS(cfg.PID); err != nil {
			return nil, err
		}
	}
	return finishIdle(r, cfg, &w, len(fds), fr.WireSize(), func(i int, buf []byte) error {
		return echoOnce(fds[i], fr, i, buf, cfg.Timeout)
	})
}

// finishIdle ends an idle measurement: echo(i, buf) checks connection i
// with one echo (buf holds a frame), on 64 goroutines; then the result
// counts the live connections and the RSS after the echoes.
func finishIdle(r *Result, cfg IdleConfig, w *window, n, wireSize int, echo func(i int, buf []byte) error) (*Result, error) {
	var alive, errs atomic.Int64
	var firstErr atomic.Value
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(64, n) {
		wg.Go(func() {
			buf := make([]byte, wireSize)
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := echo(i, buf); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("connection %d: %v", i, err))
					continue
				}
				alive.Add(1)
			}
		})
	}
	wg.Wait()
	r.Alive, r.Errors = int(alive.Load()), errs.Load()
	if s, ok := firstErr.Load().(string); ok {
		r.FirstError = s
	}
	if cfg.PID != 0 {
		var err error
		if r.RSSAfterEcho, err = settledRSS(cfg.PID); err != nil {
			return nil, err
		}
		r.BytesPerConn = float64(r.RSSIdle-r.RSSBefore) / float64(cfg.Conns)
		r.BytesPerEcho = float64(r.RSSAfterEcho-r.RSSBefore) / float64(cfg.Conns)
	}
	w.stop()
	w.fill(r)
	r.Msgs, r.MsgsPerSec = int64(r.Alive), 0
	return r, nil
}

// echoOnce writes frame 0 on the blocking socket fd and reads it back.
func echoOnce(fd int, fr *Framer, id int, buf []byte, timeout time.Duration) error {
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	out := fr.Append(buf[:0], id, 0)
	if _, err := unix.Write(fd, out); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got := 0
	for got < len(buf) {
		n, err := unix.Read(fd, buf[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("closed by the server")
		}
		got += n
	}
	if !fr.Verify(buf, id, 0) {
		return fmt.Errorf("echo differs from the frame sent: %q", buf)
	}
	return nil
}

// readRSS returns VmRSS of process pid in bytes.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("gen: server RSS: %w", err)
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 2 && string(f[1]) == "kB" {
				kb, err := strconv.ParseInt(string(f[0]), 10, 64)
				if err == nil {
					return kb << 10, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("gen: no VmRSS line in /proc/%d/status", pid)
}

// settledRSS waits until the RSS stops moving (two reads 250 ms apart within
// 64 KiB, at most 5 s) and returns it.
func settledRSS(pid int) (int64, error) {
	time.Sleep(250 * time.Millisecond)
	prev, err := readRSS(pid)
	for range 20 {
		if err != nil {
			return 0, err
		}
		time.Sleep(250 * time.Millisecond)
		var cur int64
		cur, err = readRSS(pid)
		if err == nil && cur-prev < 64<<10 && prev-cur < 64<<10 {
			return cur, nil
		}
		prev = cur
	}
	return prev, err
}

func countFDs(pid int) (int, error) {
	d, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("gen: server descriptors: %w", err)
	}
	return len(d), nil
}
