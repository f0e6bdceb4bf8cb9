package weft_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// biProto is a Protocol that closes its connection when made and counts
// its callbacks.
type biProto struct {
	made, lost atomic.Int32
	keep       bool // do not close when made
	tr         atomic.Pointer[weft.Transport]
}

func (p *biProto) ConnectionMade(t weft.Transport) {
	p.made.Add(1)
	p.tr.Store(&t)
	if !p.keep {
		t.LoseConnection()
	}
}
func (p *biProto) DataReceived([]byte)  {}
func (p *biProto) ConnectionLost(error) { p.lost.Add(1) }
func (p *biProto) transport() weft.Transport {
	if t := p.tr.Load(); t != nil {
		return *t
	}
	return nil
}

// biStartWait runs c.Start and waits for done.
func biStartWait(c *weft.Conn) error {
	ch := make(chan error, 1)
	c.Start(func(err error) { ch <- err })
	return <-ch
}

// TestBadInputRoot: the root package's exported API with hostile or
// degenerate values, and calls in the wrong order. Before the fix: Serve or
// Start called twice ran the connection again ("ConnectionMade called 2
// times"), and a second Serve while the first ran hung; Post(nil) killed the
// connection ("weft: protocol callback panicked: runtime error: invalid
// memory address or nil pointer dereference"); the zero Conn's Serve, Start
// and Close panicked with a nil pointer dereference; NewConnFD said only
// "weft: connection has no descriptor" for -1 and accepted a nil Protocol
// (which would panic on an engine worker); NewGate(nil), and StartTLS,
// WriteParts and LoseConnectionWithReason with a nil Transport, panicked
// with a nil pointer dereference.
func TestBadInputRoot(t *testing.T) {
	bg := context.Background()
	pipe := func() (net.Conn, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	opts := func(mod func(o *weft.Options)) func() error {
		return func() error {
			var o weft.Options
			mod(&o)
			return o.Validate()
		}
	}
	serveOpts := func(mod func(o *weft.Options)) func() error {
		return func() error {
			var o weft.Options
			mod(&o)
			a, _ := pipe()
			return weft.Serve(a, &biProto{}, &o)
		}
	}
	cases := []biCase{
		// Options.
		{"nil Options Validate", func() error { var o *weft.Options; return o.Validate() }, "ok"},
		{"zero Options Validate", opts(func(*weft.Options) {}), "ok"},
		{"neg HighWater", opts(func(o *weft.Options) { o.HighWater = -1 }), "err: weft: Options.HighWater -1 is negative"},
		{"neg LowWater", opts(func(o *weft.Options) { o.LowWater = -1 }), "err: weft: Options.LowWater -1 is negative"},
		{"neg MaxWriteBuffer", opts(func(o *weft.Options) { o.MaxWriteBuffer = -1 }), "err: weft: Options.MaxWriteBuffer -1 is negative"},
		{"neg ReadBufferSize", opts(func(o *weft.Options) { o.ReadBufferSize = -1 }), "err: weft: Options.ReadBufferSize -1 is out of range"},
		{"huge ReadBufferSize", opts(func(o *weft.Options) { o.ReadBufferSize = math.MaxInt }), "err: weft: Options.ReadBufferSize 9223372036854775807 is out of range"},
		{"neg IdleTimeout", opts(func(o *weft.Options) { o.IdleTimeout = -1 }), "err: weft: Options.IdleTimeout -1ns is negative"},
		{"neg CloseTimeout", opts(func(o *weft.Options) { o.CloseTimeout = -1 }), "err: weft: Options.CloseTimeout -1ns is negative"},
		{"low over high", opts(func(o *weft.Options) { o.HighWater = 10; o.LowWater = 20 }), "err: weft: Options.LowWater 20 exceeds HighWater 10"},
		{"high over max", opts(func(o *weft.Options) { o.HighWater = 10; o.MaxWriteBuffer = 5 }), "err: weft: Options.HighWater 10 exceeds MaxWriteBuffer 5"},
		{"huge water marks", opts(func(o *weft.Options) { o.HighWater = math.MaxInt; o.MaxWriteBuffer = math.MaxInt }), "ok"},
		{"huge timeouts", opts(func(o *weft.Options) { o.IdleTimeout = math.MaxInt64; o.CloseTimeout = math.MaxInt64 }), "ok"},

		// Serve and NewConn.
		{"Serve bad Options", serveOpts(func(o *weft.Options) { o.HighWater = -1 }), "err: weft: Options.HighWater -1 is negative"},
		{"Serve huge IdleTimeout", serveOpts(func(o *weft.Options) { o.IdleTimeout = math.MaxInt64 }), "ok"},
		{"Serve nil conn", func() error { return weft.Serve(nil, &biProto{}, nil) }, "err: weft: NewConn: nil net.Conn or Protocol"},
		{"Serve nil protocol", func() error { a, _ := pipe(); return weft.Serve(a, nil, nil) }, "err: weft: NewConn: nil net.Conn or Protocol"},
		{"Serve nil both", func() error { return weft.Serve(nil, nil, nil) }, "err: weft: NewConn: nil net.Conn or Protocol"},
		{"NewConn nil Start", func() error { return biStartWait(weft.NewConn(nil, &biProto{}, nil)) }, "err: weft: NewConn: nil net.Conn or Protocol"},
		{"NewConn nil Start nil done", func() error { weft.NewConn(nil, &biProto{}, nil).Start(nil); return nil }, "ok"},
		{"NewConn nil Write", func() error { _, err := weft.NewConn(nil, &biProto{}, nil).Transport().Write([]byte("x")); return err }, "err: weft: connection closed"},
		{"NewConn nil observers", func() error {
			c := weft.NewConn(nil, &biProto{}, nil)
			tr := c.Transport()
			tr.LocalAddr()
			tr.RemoteAddr()
			tr.Buffered()
			tr.PauseReading()
			tr.ResumeReading()
			c.Post(func() { panic("ran") })
			c.Shutdown()
			c.Close(nil)
			tr.LoseConnection()
			tr.Abort()
			if tr.Context().Err() == nil {
				return errors.New("context not done")
			}
			return nil
		}, "ok"},
		{"Serve twice", func() error {
			a, _ := pipe()
			p := &biProto{}
			c := weft.NewConn(a, p, nil)
			c.Serve()
			err := c.Serve()
			if n := p.made.Load(); n != 1 {
				return fmt.Errorf("ConnectionMade called %d times", n)
			}
			return err
		}, "err: weft: Conn.Serve or Conn.Start called twice"},
		{"Start twice", func() error {
			a, _ := pipe()
			p := &biProto{}
			c := weft.NewConn(a, p, nil)
			biStartWait(c)
			err := biStartWait(c)
			if n := p.made.Load(); n != 1 {
				return fmt.Errorf("ConnectionMade called %d times", n)
			}
			return err
		}, "err: weft: Conn.Serve or Conn.Start called twice"},
		{"Serve while serving", func() error {
			a, _ := pipe()
			p := &biProto{keep: true}
			c := weft.NewConn(a, p, nil)
			ch := make(chan error, 1)
			go func() { ch <- c.Serve() }()
			for p.made.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			err := c.Serve()
			c.Close(nil)
			<-ch
			if n := p.made.Load(); n != 1 {
				return fmt.Errorf("ConnectionMade called %d times", n)
			}
			return err
		}, "err: weft: Conn.Serve or Conn.Start called twice"},
		{"Close before Serve", func() error {
			a, _ := pipe()
			p := &biProto{keep: true}
			c := weft.NewConn(a, p, nil)
			c.Close(weft.ErrAborted)
			return c.Serve()
		}, "err: weft: connection aborted"},
		{"Close twice", func() error {
			a, _ := pipe()
			p := &biProto{keep: true}
			c := weft.NewConn(a, p, nil)
			ch := make(chan error, 1)
			go func() { ch <- c.Serve() }()
			c.Close(weft.ErrAborted)
			c.Close(weft.ErrIdleTimeout)
			err := <-ch
			if n := p.lost.Load(); n != 1 {
				return fmt.Errorf("ConnectionLost called %d times", n)
			}
			return err
		}, "err: weft: connection aborted"},
		{"Post nil", func() error {
			a, _ := pipe()
			p := &biProto{keep: true}
			c := weft.NewConn(a, p, nil)
			ch := make(chan error, 1)
			go func() { ch <- c.Serve() }()
			for p.made.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			c.Post(nil)
			c.Close(nil)
			return <-ch
		}, "ok"},

		// The zero Conn.
		{"zero Conn Serve", func() error { var c weft.Conn; return c.Serve() }, "err: weft: Conn not made by NewConn or NewConnFD"},
		{"zero Conn Start", func() error { var c weft.Conn; return biStartWait(&c) }, "err: weft: Conn not made by NewConn or NewConnFD"},
		{"zero Conn Close", func() error { var c weft.Conn; c.Close(nil); return nil }, "ok"},
		{"zero Conn Post", func() error { var c weft.Conn; c.Post(func() { panic("ran") }); return nil }, "ok"},
		{"zero Conn Shutdown", func() error { var c weft.Conn; c.Shutdown(); return nil }, "ok"},

		// NewConnFD and the Engine.
		{"NewConnFD no Engine", func() error { _, err := weft.NewConnFD(0, nil, nil, &biProto{}, nil); return err }, "err: weft: NewConnFD needs Options.Engine"},
		{"NewConnFD neg fd", engineCase(t, func(e *weft.Engine) error {
			_, err := weft.NewConnFD(-1, nil, nil, &biProto{}, &weft.Options{Engine: e})
			return err
		}), "err: weft: NewConnFD: descriptor -1 is out of range [0, 1073741824]"},
		{"NewConnFD huge fd", engineCase(t, func(e *weft.Engine) error {
			_, err := weft.NewConnFD(math.MaxInt, nil, nil, &biProto{}, &weft.Options{Engine: e})
			return err
		}), "err: weft: NewConnFD: descriptor 9223372036854775807 is out of range"},
		{"NewConnFD nil protocol", engineCase(t, func(e *weft.Engine) error {
			_, err := weft.NewConnFD(0, nil, nil, nil, &weft.Options{Engine: e})
			return err
		}), "err: weft: NewConnFD: nil Protocol"},
		{"NewConnFD bad Options", engineCase(t, func(e *weft.Engine) error {
			_, err := weft.NewConnFD(0, nil, nil, &biProto{}, &weft.Options{Engine: e, LowWater: -1})
			return err
		}), "err: weft: Options.LowWater -1 is negative"},
		{"Engine Close twice", func() error {
			e, err := weft.NewEngine()
			if err != nil {
				return nil
			}
			e.Close()
			return e.Close()
		}, "err: close weft-epoll: file already closed"},
		{"Serve on closed Engine", engineCase(t, func(e *weft.Engine) error {
			e.Close()
			s, c := tcpPair(t)
			c.Close()
			return weft.Serve(s, &biProto{}, &weft.Options{Engine: e})
		}), "ok"},

		// Helpers on nil or foreign transports.
		{"AddFrames nil", func() error { weft.AddFrames(nil, 1, 1); return nil }, "ok"},
		{"LoseWriteConnection nil", func() error { return weft.LoseWriteConnection(nil) }, "err: weft: not supported"},
		{"LoseConnectionWithReason nil", func() error { weft.LoseConnectionWithReason(nil, nil); return nil }, "ok"},
		{"StartTLS nil transport", func() error { return weft.StartTLS(nil, &tls.Config{}, nil) }, "err: weft: StartTLS: nil Transport"},
		{"WriteParts nil transport", func() error { return weft.WriteParts(nil, nil, nil, nil) }, "err: weft: WriteParts: nil Transport"},
		{"StartTLS nil config", func() error {
			a, _ := pipe()
			p := &biProto{keep: true}
			c := weft.NewConn(a, p, nil)
			ch := make(chan error, 1)
			go func() { ch <- c.Serve() }()
			for p.made.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			err := weft.StartTLS(p.transport(), nil, []byte("x"))
			c.Close(nil)
			<-ch
			return err
		}, "err: weft: StartTLS: nil *tls.Config"},
		{"StartTLS nil config on the readiness engine", func() error {
			// Refused before the hand-over to a goroutine: the
			// connection stays with the engine and goes on.
			s, c := tcpPair(t)
			var opts *weft.Options
			if testEngine != nil {
				opts = &weft.Options{Engine: testEngine}
			}
			p := &biProto{keep: true}
			conn := weft.NewConn(s, p, opts)
			ch := make(chan error, 1)
			go func() { ch <- conn.Serve() }()
			for p.made.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			tr := p.transport()
			err := weft.StartTLS(tr, nil, []byte("x"))
			if _, werr := tr.Write([]byte("still clear\n")); werr != nil {
				return werr
			}
			tr.LoseConnection()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if got, rerr := io.ReadAll(c); string(got) != "still clear\n" || rerr != nil {
				return fmt.Errorf("peer read %q, %v after the refused StartTLS", got, rerr)
			}
			if serr := <-ch; serr != nil {
				return serr
			}
			return err
		}, "err: weft: StartTLS: nil *tls.Config"},
		{"Transport odd args", func() error {
			a, b := pipe()
			go func() {
				buf := make([]byte, 64)
				for {
					if _, err := b.Read(buf); err != nil {
						return
					}
				}
			}()
			p := &biProto{keep: true}
			c := weft.NewConn(a, p, nil)
			ch := make(chan error, 1)
			go func() { ch <- c.Serve() }()
			for p.made.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			tr := p.transport()
			if _, err := tr.Write(nil); err != nil {
				return err
			}
			if err := tr.WriteBuffers(); err != nil {
				return err
			}
			if err := tr.WriteBuffers(nil, nil); err != nil {
				return err
			}
			if err := weft.WriteParts(tr, nil, nil, nil); err != nil {
				return err
			}
			tr.RegisterProducer(nil)
			tr.UnregisterProducer()
			tr.UnregisterProducer()
			tr.ResumeReading()
			tr.ResumeReading()
			tr.PauseReading()
			tr.PauseReading()
			tr.ResumeReading()
			weft.AddFrames(tr, -5, -5)
			tr.LoseConnection()
			tr.LoseConnection()
			tr.Abort()
			return <-ch
		}, "ok"},

		// Gate.
		{"NewGate nil", func() error { weft.NewGate(nil); return nil }, "panic: weft: NewGate: nil GateTransport"},
		{"Gate Wait nil ctx", func() error {
			a, _ := pipe()
			p := &biProto{keep: true}
			c := weft.NewConn(a, p, nil)
			ch := make(chan error, 1)
			go func() { ch <- c.Serve() }()
			for p.made.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			g := weft.NewGate(p.transport())
			//lint:ignore SA1012 a nil context is the bad input under test
			err := g.Wait(nil) //nolint:staticcheck
			c.Close(nil)
			<-ch
			return err
		}, ""},
		{"Gate methods twice", func() error {
			a, _ := pipe()
			p := &biProto{keep: true}
			c := weft.NewConn(a, p, nil)
			ch := make(chan error, 1)
			go func() { ch <- c.Serve() }()
			for p.made.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			g := weft.NewGate(p.transport())
			g.ResumeProducing()
			g.PauseProducing()
			g.PauseProducing()
			g.StopProducing()
			g.StopProducing()
			if err := g.WriteAll(bg, nil); err != nil {
				return err
			}
			err := g.Wait(bg)
			c.Close(nil)
			<-ch
			return err
		}, "err: weft: connection closed"},

		// FactoryFunc.
		// Calling a nil func panics, as in Go everywhere (server.Server.Validate refuses one).
		{"nil FactoryFunc", func() error { weft.FactoryFunc(nil).BuildProtocol(nil); return nil }, "panic: runtime error: invalid memory address"},
	}
	testenv.RunBadInput(t, cases)
}

// engineCase runs fn with a new Engine, closed after it (skipped where there
// is no readiness engine).
func engineCase(t *testing.T, fn func(e *weft.Engine) error) func() error {
	return func() error {
		e, err := weft.NewEngine()
		if err != nil {
			if errors.Is(err, weft.ErrNotSupported) {
				return nil
			}
			return err
		}
		defer e.Close()
		return fn(e)
	}
}

// TestServeNilProtocolClosesConn: Serve with a nil Protocol returns its
// error and closes the net.Conn it was given, as with invalid Options (the
// nil check used to swap the connection for a stand-in and close that, so
// the peer waited for ever).
func TestServeNilProtocolClosesConn(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	if err := weft.Serve(a, nil, nil); err == nil {
		t.Fatal("Serve with a nil Protocol returned nil")
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := b.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("the peer read %d, %v; want io.EOF (the connection closed)", n, err)
	}
}
