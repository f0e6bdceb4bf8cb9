package codec_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// summer counts the lines of a request until the peer's end of stream, then
// answers with the count and ends its own output (weft.HalfCloseable).
type summer struct {
	tr     codec.FrameTransport
	n      int
	events []string
	lost   chan error
}

func (s *summer) ConnectionMade(t codec.FrameTransport) { s.tr = t }
func (s *summer) FrameReceived(f []byte)                { s.n++; s.events = append(s.events, "frame") }
func (s *summer) ReadConnectionLost() {
	s.events = append(s.events, "readLost")
	s.tr.SendFrame(fmt.Appendf(nil, "%d lines", s.n))
	if err := s.tr.(weft.HalfCloser).LoseWriteConnection(); err != nil {
		s.tr.SendFrame([]byte(err.Error()))
	}
}
func (s *summer) ConnectionLost(err error) { s.events = append(s.events, "lost"); s.lost <- err }

func TestFramedHalfCloseable(t *testing.T) { engines(t, testFramedHalfCloseable) }

// A framed handler that is HalfCloseable is told of the peer's end after its
// last frame and answers; its LoseWriteConnection ends the connection.
func testFramedHalfCloseable(t *testing.T, opts weft.Options) {
	h := &summer{lost: make(chan error, 1)}
	cl := servePair(t, codec.NewProtocol(codec.Line{}, h), &opts)
	cl.Write([]byte(strings.Repeat("a line\n", 1000)))
	cl.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(cl)
	if err != nil || string(got) != "1000 lines\r\n" {
		t.Errorf("read %q, then %v; want \"1000 lines\\r\\n\", then a clean end", got, err)
	}
	if err := <-h.lost; err != nil {
		t.Errorf("ConnectionLost(%v), want nil", err)
	}
	if n := len(h.events); n < 2 || h.events[n-2] != "readLost" || h.events[n-1] != "lost" {
		t.Errorf("events end with %v, want readLost, lost", h.events[max(0, n-3):])
	}
}

func TestFramedHalfCloseTruncated(t *testing.T) { engines(t, testFramedHalfCloseTruncated) }

// A stream that ends inside a frame is not half-open: the handler gets no
// ReadConnectionLost, and ConnectionLost gets ErrTruncated, as without the
// method.
func testFramedHalfCloseTruncated(t *testing.T, opts weft.Options) {
	h := &summer{lost: make(chan error, 1)}
	cl := servePair(t, codec.NewProtocol(codec.Line{}, h), &opts)
	cl.Write([]byte("one\ntwo without its end"))
	cl.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(cl)
	if len(got) != 0 {
		t.Errorf("read %q, want nothing", got)
	}
	if err := <-h.lost; !errors.Is(err, codec.ErrTruncated) {
		t.Errorf("ConnectionLost(%v), want ErrTruncated", err)
	}
	for _, e := range h.events {
		if e == "readLost" {
			t.Error("ReadConnectionLost called for a stream cut inside a frame")
		}
	}
}

// lineSummer is summer for a LineReceiver.
type lineSummer struct {
	r    *codec.LineReceiver
	n    int
	lost chan error
}

func (s *lineSummer) ConnectionMade(r *codec.LineReceiver) { s.r = r }
func (s *lineSummer) LineReceived([]byte)                  { s.n++ }
func (s *lineSummer) ReadConnectionLost() {
	s.r.SendLine(fmt.Appendf(nil, "%d lines", s.n))
	if err := weft.LoseWriteConnection(s.r.Transport()); err != nil {
		s.r.SendLine([]byte(err.Error()))
	}
}
func (s *lineSummer) ConnectionLost(err error) { s.lost <- err }

func TestLineReceiverHalfCloseable(t *testing.T) { engines(t, testLineReceiverHalfCloseable) }

func testLineReceiverHalfCloseable(t *testing.T, opts weft.Options) {
	h := &lineSummer{lost: make(chan error, 1)}
	cl := servePair(t, codec.NewLineReceiver(h), &opts)
	cl.Write([]byte(strings.Repeat("x\r\n", 77)))
	cl.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(cl)
	if err != nil || string(got) != "77 lines\r\n" {
		t.Errorf("read %q, then %v; want \"77 lines\\r\\n\", then a clean end", got, err)
	}
	if err := <-h.lost; err != nil {
		t.Errorf("ConnectionLost(%v), want nil", err)
	}
}

// A handler without ReadConnectionLost: the peer's end closes the
// connection, as before.
func TestFramedNotHalfCloseable(t *testing.T) { engines(t, testFramedNotHalfCloseable) }

func testFramedNotHalfCloseable(t *testing.T, opts weft.Options) {
	h := &echo{lost: make(chan error, 1)}
	cl := servePair(t, codec.NewProtocol(codec.Line{}, h), &opts)
	cl.Write([]byte("a\nb\n"))
	cl.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(cl)
	if err != nil || string(got) != "a\r\nb\r\n" {
		t.Errorf("read %q, then %v; want the echoes, then a clean end", got, err)
	}
	if err := <-h.lost; err != nil {
		t.Errorf("ConnectionLost(%v), want nil", err)
	}
}
