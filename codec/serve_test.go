package codec_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// echo sends every frame back and reports how the connection ended.
type echo struct {
	tr   codec.FrameTransport
	lost chan error
}

func (e *echo) ConnectionMade(t codec.FrameTransport) { e.tr = t }
func (e *echo) FrameReceived(f []byte)                { _ = e.tr.SendFrame(f) }
func (e *echo) ConnectionLost(err error)              { e.lost <- err }

// servePair serves p on one end of a loopback TCP connection and returns the
// other end. At cleanup it closes the client end and waits (bounded) for
// Serve to return.
func servePair(t *testing.T, p weft.Protocol, opts *weft.Options) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_ = cl.SetDeadline(time.Now().Add(10 * time.Second))
	conn := weft.NewConn(sc, p, opts)
	done := make(chan struct{})
	go func() { defer close(done); _ = conn.Serve() }()
	t.Cleanup(func() {
		cl.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("weft.Serve did not return 10 s after the client closed")
			conn.Close(weft.ErrAborted)
			<-done
		}
	})
	return cl
}

// engines runs fn with the goroutine engine and, where available, the
// readiness engine: the adapter must behave the same on both.
func engines(t *testing.T, fn func(t *testing.T, opts weft.Options)) {
	t.Run("goroutine", func(t *testing.T) { fn(t, weft.Options{}) })
	t.Run("epoll", func(t *testing.T) {
		e, err := weft.NewEngine()
		if err != nil {
			t.Skipf("no readiness engine here: %v", err)
		}
		t.Cleanup(func() { e.Close() })
		fn(t, weft.Options{Engine: e})
	})
}

func TestServeFramedEchoCountsFrames(t *testing.T) { engines(t, testServeFramedEchoCountsFrames) }
func TestServeDecodeErrorCloses(t *testing.T)      { engines(t, testServeDecodeErrorCloses) }
func TestServeLineReceiverRawMode(t *testing.T)    { engines(t, testServeLineReceiverRawMode) }

func testServeFramedEchoCountsFrames(t *testing.T, opts weft.Options) {
	e := &echo{lost: make(chan error, 1)}
	var counters weft.Counters
	opts.Counters = &counters
	cl := servePair(t, codec.NewProtocol(codec.Netstring{MaxLength: 100}, e), &opts)
	fw := codec.NewFrameWriter(cl, codec.Netstring{})
	fr := codec.NewFrameReader(cl, codec.Netstring{})
	for _, f := range []string{"", "x", string(bytes.Repeat([]byte("z"), 100))} {
		if err := fw.WriteFrame([]byte(f)); err != nil {
			t.Fatal(err)
		}
		got, err := fr.ReadFrame()
		if err != nil || string(got) != f {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(f), len(got), err)
		}
	}
	if in, out := counters.FramesIn.Load(), counters.FramesOut.Load(); in != 3 || out != 3 {
		t.Fatalf("frames counted in %d out %d, want 3 and 3", in, out)
	}
	cl.Close()
	if err := <-e.lost; err != nil {
		t.Fatalf("ConnectionLost(%v) after the client closed, want nil", err)
	}
}

// An over-limit frame closes the connection (after flushing) and the handler
// learns why.
func testServeDecodeErrorCloses(t *testing.T, opts weft.Options) {
	e := &echo{lost: make(chan error, 1)}
	cl := servePair(t, codec.NewProtocol(codec.Netstring{MaxLength: 100}, e), &opts)
	if _, err := cl.Write([]byte("1:a,101:")); err != nil {
		t.Fatal(err)
	}
	fr := codec.NewFrameReader(cl, codec.Netstring{})
	if f, err := fr.ReadFrame(); err != nil || string(f) != "a" {
		t.Fatalf("echo: %q, %v", f, err)
	}
	if _, err := fr.ReadFrame(); err != io.EOF {
		t.Fatalf("after an over-limit frame the server should close: %v", err)
	}
	if err := <-e.lost; !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Fatalf("ConnectionLost(%v), want ErrFrameTooLarge", err)
	}
}

// HEAD, 10 raw bytes, TAIL over a real connection, sent in one write and
// byte by byte.
func testServeLineReceiverRawMode(t *testing.T, opts weft.Options) {
	for _, split := range []int{1, 100} {
		h := headRawTail()
		lost := make(chan struct{})
		lr := codec.NewLineReceiver(&closer{h, lost})
		cl := servePair(t, lr, &opts)
		stream := []byte("HEAD\r\n0123\r\n6789TAIL\r\n")
		for i := 0; i < len(stream); i += split {
			if _, err := cl.Write(stream[i:min(i+split, len(stream))]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := io.ReadAll(cl); err != nil {
			t.Fatal(err)
		}
		<-lost
		if want := []string{"line:HEAD", "raw:0123\r\n6789", "line:TAIL"}; !equal(h.events, want) {
			t.Fatalf("split %d: events %q, want %q", split, h.events, want)
		}
	}
}

// closer wraps headRawTail's handler: after TAIL it closes the connection.
type closer struct {
	*lineRec
	lost chan struct{}
}

func (c *closer) LineReceived(l []byte) {
	c.lineRec.LineReceived(l)
	if string(l) == "TAIL" {
		c.r.Transport().LoseConnection()
	}
}
func (c *closer) ConnectionLost(err error) { c.lineRec.ConnectionLost(err); close(c.lost) }

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
