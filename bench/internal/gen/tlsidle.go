package gen

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TLSIdle is Idle over TLS: Conns connections spread over
// 127.0.0.1–127.0.0.9, each with its TLS handshake done (crypto/tls, the
// server's certificate not verified: loopback only), the server's RSS growth
// per idle connection, then one echo on each and the RSS again. It measures
// what an idle TLS connection costs a server, which Idle cannot (its
// sockets speak clear text). The handshakes and echoes run 64 at a time on
// goroutines, not on the epoll loops: this mode measures memory, not speed.
func TLSIdle(cfg IdleConfig) (*Result, error) {
	fr, err := cfg.prepare()
	if err != nil {
		return nil, err
	}
	ta, err := net.ResolveTCPAddr("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: address %q: %v", ErrBadConfig, cfg.Addr, err)
	}
	r := &Result{Mode: "tlsidle", Codec: string(cfg.Codec), Conns: cfg.Conns, Size: MinPayload}
	w := window{pid: cfg.PID}
	w.start()
	if cfg.PID != 0 {
		if r.RSSBefore, err = readRSS(cfg.PID); err != nil {
			return nil, err
		}
	}
	conns := make([]*tls.Conn, cfg.Conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	tcfg := &tls.Config{InsecureSkipVerify: true} // loopback benchmark only
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range min(64, cfg.Conns) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Conns {
					return
				}
				d := net.Dialer{Timeout: cfg.Timeout}
				if ta.IP.To4() != nil && ta.IP.IsLoopback() {
					// Spread over 127.0.0.1–9, as Idle does.
					d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%9))}
				}
				c, err := tls.DialWithDialer(&d, "tcp", cfg.Addr, tcfg)
				if err != nil {
					fail(fmt.Errorf("gen: TLS connection %d: %w", i, err))
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if cfg.PID != 0 {
		if r.RSSIdle, err = settledRSS(cfg.PID); err != nil {
			return nil, err
		}
	}
	return finishIdle(r, cfg, &w, len(conns), fr.WireSize(), func(i int, buf []byte) error {
		c := conns[i]
		c.SetDeadline(time.Now().Add(cfg.Timeout))
		if _, err := c.Write(fr.Append(buf[:0], i, 0)); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if !fr.Verify(buf, i, 0) {
			return fmt.Errorf("echo %q is not the frame sent", buf)
		}
		return nil
	})
}
