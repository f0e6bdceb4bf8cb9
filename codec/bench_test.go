package codec_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/smallnest/goframe"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/frameconn"
)

// benchStream returns about 1 MiB of frames of size bytes encoded with c.
func benchStream(b *testing.B, c codec.Codec, size int) ([]byte, int) {
	payload := bytes.Repeat([]byte("a"), size)
	n := max(1, (1<<20)/size)
	var out []byte
	for range n {
		var err error
		if out, err = c.AppendFrame(out, payload); err != nil {
			b.Fatal(err)
		}
	}
	return out, n
}

var benchSizes = []struct {
	name string
	size int
}{{"64B", 64}, {"64KiB", 64 << 10}}

type countFrames struct{ n int }

func (c *countFrames) ConnectionMade(codec.FrameTransport) {}
func (c *countFrames) FrameReceived([]byte)                { c.n++ }
func (c *countFrames) ConnectionLost(error)                {}

// measure runs fn b.N times and reports MB/s (SetBytes) and allocs/frame.
func measure(b *testing.B, bytesPerOp, framesPerOp int, fn func()) {
	b.SetBytes(int64(bytesPerOp))
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for range b.N {
		fn()
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N*framesPerOp), "allocs/frame")
}

// BenchmarkDecode decodes through the framed adapter (NewProtocol), fed in
// 64 KiB reads as the runtime delivers them.
func BenchmarkDecode(b *testing.B) {
	codecs := []struct {
		name string
		c    codec.Codec
	}{
		{"Line", codec.Line{MaxLength: 64 << 10}},
		{"Netstring", codec.Netstring{}},
		{"Int32", codec.Int32()},
		{"LengthPrefix8LE", codec.LengthPrefix{Size: 8, LittleEndian: true}},
	}
	for _, cc := range codecs {
		for _, sz := range benchSizes {
			b.Run(cc.name+"/"+sz.name, func(b *testing.B) {
				stream, frames := benchStream(b, cc.c, sz.size)
				h := &countFrames{}
				p := codec.NewProtocol(cc.c, h)
				p.ConnectionMade(&fakeTransport{})
				measure(b, len(stream), frames, func() {
					for rest := stream; len(rest) > 0; {
						n := min(len(rest), 64<<10)
						p.DataReceived(rest[:n])
						rest = rest[n:]
					}
				})
				if h.n != frames*b.N {
					b.Fatalf("decoded %d frames, want %d", h.n, frames*b.N)
				}
			})
		}
	}
}

// BenchmarkReadFrame compares blocking-style readers on the same streams:
// weft's FrameReader against bufio.Scanner (lines), and weft's frameconn
// against goframe (4-byte length field).
func BenchmarkReadFrame(b *testing.B) {
	for _, sz := range benchSizes {
		lines, nl := benchStream(b, codec.Line{MaxLength: 64 << 10}, sz.size)
		b.Run("Line/FrameReader/"+sz.name, func(b *testing.B) {
			measure(b, len(lines), nl, func() {
				fr := codec.NewFrameReader(bytes.NewReader(lines), codec.Line{MaxLength: 64 << 10})
				for range nl {
					if _, err := fr.ReadFrame(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run("Line/bufio.Scanner/"+sz.name, func(b *testing.B) {
			buf := make([]byte, 128<<10)
			measure(b, len(lines), nl, func() {
				sc := bufio.NewScanner(bytes.NewReader(lines))
				sc.Buffer(buf, len(buf))
				n := 0
				for sc.Scan() {
					n++
				}
				if n != nl {
					b.Fatalf("%d lines, %v", n, sc.Err())
				}
			})
		})
		lf, nf := benchStream(b, codec.Int32(), sz.size)
		enc := frameconn.EncoderConfig{LengthFieldLength: 4}
		dec := frameconn.DecoderConfig{LengthFieldLength: 4, InitialBytesToStrip: 4}
		b.Run("LengthField/frameconn/"+sz.name, func(b *testing.B) {
			measure(b, len(lf), nf, func() {
				fc := frameconn.NewLengthFieldBasedFrameConn(enc, dec, readConn{bytes.NewReader(lf)})
				for range nf {
					if _, err := fc.ReadFrame(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run("LengthField/goframe/"+sz.name, func(b *testing.B) {
			gdec := goframe.DecoderConfig{ByteOrder: bigEndian, LengthFieldLength: 4, InitialBytesToStrip: 4}
			genc := goframe.EncoderConfig{ByteOrder: bigEndian, LengthFieldLength: 4}
			measure(b, len(lf), nf, func() {
				fc := goframe.NewLengthFieldBasedFrameConn(genc, gdec, readConn{bytes.NewReader(lf)})
				for range nf {
					if _, err := fc.ReadFrame(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// readConn is a net.Conn that reads from r (for readers that need a conn).
type readConn struct{ r io.Reader }

func (c readConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c readConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c readConn) Close() error                     { return nil }
func (c readConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c readConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c readConn) SetDeadline(time.Time) error      { return nil }
func (c readConn) SetReadDeadline(time.Time) error  { return nil }
func (c readConn) SetWriteDeadline(time.Time) error { return nil }

var bigEndian = binary.BigEndian
