package codec

import (
	"testing"
	"unsafe"
)

type handlerStub struct{}

func (handlerStub) ConnectionMade(FrameTransport) {}
func (handlerStub) FrameReceived([]byte)          {}
func (handlerStub) ConnectionLost(error)          {}

// TestCodecBoxShared: the adapter fits 80 bytes, connections built from one
// Codec value share its box, and a different value gets its own.
func TestCodecBoxShared(t *testing.T) {
	if size := unsafe.Sizeof(framed{}); size > 80 {
		t.Errorf("framed is %d bytes, want at most 80", size)
	}
	var c1 Codec = Line{Delimiter: []byte("\n")}
	var c2 Codec = Line{Delimiter: []byte("\n")} // equal, but another value
	a := NewProtocol(c1, handlerStub{}).(*framed)
	b := NewProtocol(c1, handlerStub{}).(*framed)
	if a.codec.Load() != b.codec.Load() {
		t.Error("two connections built from one Codec value hold two boxes")
	}
	d := NewProtocol(c2, handlerStub{}).(*framed)
	if d.codec.Load() == a.codec.Load() {
		t.Error("a different Codec value shares the first one's box")
	}
	if got := (*d.codec.Load()).(Line); string(got.Delimiter) != "\n" {
		t.Errorf("box holds %+v", got)
	}
	for _, c := range []Codec{Netstring{MaxLength: 1}, Netstring{MaxLength: 2}, Int16(), Raw{}} {
		p := NewProtocol(c, handlerStub{}).(*framed)
		if *p.codec.Load() != c {
			t.Errorf("built with %#v, holds %#v", c, *p.codec.Load())
		}
	}
}

// TestCodecBoxNoAlloc: building a connection from the last Codec value
// allocates only the adapter.
func TestCodecBoxNoAlloc(t *testing.T) {
	var c Codec = Line{}
	boxCodec(c)
	if n := testing.AllocsPerRun(100, func() { boxCodec(c) }); n != 0 {
		t.Errorf("boxCodec of the last value: %v allocations, want 0", n)
	}
}
