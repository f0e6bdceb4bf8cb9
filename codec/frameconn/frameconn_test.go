package frameconn_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smallnest/goframe"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/codec/codectest"
	"github.com/weftkit/weft/codec/frameconn"
)

// pipe returns a connected pair of in-memory conns with a deadline, closed
// at the end of the test.
func pipe(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	dl := time.Now().Add(10 * time.Second)
	_ = a.SetDeadline(dl)
	_ = b.SetDeadline(dl)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// writeAsync writes each chunk with its own Write (net.Pipe delivers each
// Write to the reader's Reads separately, so chunks are what Read returns),
// then closes the conn if closeAfter.
func writeAsync(c net.Conn, chunks [][]byte, closeAfter bool) <-chan error {
	done := make(chan error, 1)
	go func() {
		var err error
		for _, ch := range chunks {
			if _, err = c.Write(ch); err != nil {
				break
			}
		}
		if closeAfter {
			c.Close()
		}
		done <- err
	}()
	return done
}

// gfDec converts a DecoderConfig to goframe's (which has no MaxFrameLength).
func gfDec(d frameconn.DecoderConfig) goframe.DecoderConfig {
	return goframe.DecoderConfig{ByteOrder: d.ByteOrder, LengthFieldOffset: d.LengthFieldOffset,
		LengthFieldLength: d.LengthFieldLength, LengthAdjustment: d.LengthAdjustment, InitialBytesToStrip: d.InitialBytesToStrip}
}

func bytewise(b []byte) [][]byte {
	var out [][]byte
	for i := range b {
		out = append(out, b[i:i+1])
	}
	return out
}

var (
	enc4 = frameconn.EncoderConfig{ByteOrder: binary.BigEndian, LengthFieldLength: 4}
	dec4 = frameconn.DecoderConfig{ByteOrder: binary.BigEndian, LengthFieldLength: 4, InitialBytesToStrip: 4}
)

func TestConformanceLengthField(t *testing.T) {
	cases := []frameconn.LengthField{
		{Encoder: enc4, Decoder: dec4},
		{Encoder: frameconn.EncoderConfig{ByteOrder: binary.LittleEndian, LengthFieldLength: 3, LengthIncludesLengthFieldLength: true},
			Decoder: frameconn.DecoderConfig{ByteOrder: binary.LittleEndian, LengthFieldLength: 3, LengthAdjustment: -3, InitialBytesToStrip: 3, MaxFrameLength: 5003}},
		{Encoder: frameconn.EncoderConfig{LengthFieldLength: 8}, Decoder: frameconn.DecoderConfig{LengthFieldLength: 8, InitialBytesToStrip: 8}},
	}
	for _, c := range cases {
		limit := c.Decoder.MaxFrameLength
		if limit == 0 {
			limit = frameconn.DefaultMaxFrameLength
		}
		n := c.Decoder.LengthFieldLength
		t.Run(fmt.Sprintf("%d-byte field", n), func(t *testing.T) {
			codectest.Run(t, func() codec.Codec { return c }, codectest.Samples{
				Frames: [][]byte{{}, []byte("a"), bytes.Repeat([]byte("m"), limit-n)},
				Invalid: []codectest.Invalid{
					{Name: "over the limit", Wire: bytes.Repeat([]byte{0xff}, n), Err: codec.ErrFrameTooLarge},
				},
			})
		})
	}
}

func TestConformanceFixed(t *testing.T) {
	codectest.Run(t, func() codec.Codec { return frameconn.Fixed{Length: 3} }, codectest.Samples{
		Frames:  [][]byte{[]byte("abc"), []byte("\x00\x00\x00")},
		Refused: []codectest.Refusal{{Name: "not a multiple", Payload: []byte("abcd"), Err: frameconn.ErrUnexpectedFixedLength}},
	})
}

// Defect 1: goframe's delimiter-based ReadFrame returns no data at all.
func TestDefectDelimiterReadReturnsNothing(t *testing.T) {
	for _, name := range []string{"goframe", "frameconn"} {
		a, b := pipe(t)
		done := writeAsync(a, [][]byte{[]byte("hello\x00world\x00")}, true)
		var fc interface{ ReadFrame() ([]byte, error) }
		if name == "goframe" {
			fc = goframe.NewDelimiterBasedFrameConn(0, b)
		} else {
			fc = frameconn.NewDelimiterBasedFrameConn(0, b)
		}
		f, err := fc.ReadFrame()
		switch {
		case name == "goframe" && (len(f) != 0 || err != nil):
			t.Fatalf("goframe's defect is gone? got %q, %v", f, err)
		case name == "frameconn" && (string(f) != "hello" || err != nil):
			t.Fatalf("frameconn: %q, %v", f, err)
		}
		b.Close()
		<-done
	}
}

// Defect 2: goframe reads a length field with one Read, which may be short.
func TestDefectShortLengthRead(t *testing.T) {
	wire := []byte("\x00\x00\x00\x05hello")
	a, b := pipe(t)
	done := writeAsync(a, bytewise(wire), true)
	gf := goframe.NewLengthFieldBasedFrameConn(goframe.EncoderConfig(enc4), gfDec(dec4), b)
	f, err := gf.ReadFrame()
	if err == nil && string(f) == "hello" {
		t.Fatalf("goframe's defect is gone? read %q", f)
	}
	b.Close()
	<-done

	a, b = pipe(t)
	done = writeAsync(a, bytewise(wire), true)
	f, err = frameconn.NewLengthFieldBasedFrameConn(enc4, dec4, b).ReadFrame()
	if err != nil || string(f) != "hello" {
		t.Fatalf("frameconn: %q, %v", f, err)
	}
	<-done
}

// Defect 3: goframe has no frame limit; an 8-byte length makes it allocate
// whatever the peer announces. Here 64 MiB (a 10 GB announcement would crash
// the test); frameconn refuses before allocating.
func TestDefectNoFrameLimit(t *testing.T) {
	enc8 := frameconn.EncoderConfig{LengthFieldLength: 8, ByteOrder: binary.BigEndian}
	dec8 := frameconn.DecoderConfig{LengthFieldLength: 8, ByteOrder: binary.BigEndian, InitialBytesToStrip: 8}
	header := binary.BigEndian.AppendUint64(nil, 64<<20)
	measure := func(read func(net.Conn) error) (uint64, error) {
		a, b := pipe(t)
		done := writeAsync(a, [][]byte{header}, true)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		err := read(b)
		runtime.ReadMemStats(&m1)
		<-done
		return m1.TotalAlloc - m0.TotalAlloc, err
	}
	gAlloc, _ := measure(func(c net.Conn) error {
		_, err := goframe.NewLengthFieldBasedFrameConn(goframe.EncoderConfig(enc8), gfDec(dec8), c).ReadFrame()
		return err
	})
	if gAlloc < 64<<20 {
		t.Fatalf("goframe allocated only %d bytes: defect gone?", gAlloc)
	}
	wAlloc, err := measure(func(c net.Conn) error {
		_, err := frameconn.NewLengthFieldBasedFrameConn(enc8, dec8, c).ReadFrame()
		return err
	})
	if !errors.Is(err, codec.ErrFrameTooLarge) || wAlloc > 1<<20 {
		t.Fatalf("frameconn: %v after allocating %d bytes", err, wAlloc)
	}
	t.Logf("64 MiB announced: goframe allocated %d bytes, frameconn %d", gAlloc, wAlloc)
}

// Defect 4: with LengthFieldOffset > 0 goframe reads the header from the raw
// conn, around its own buffer: a second frame already buffered is skipped.
func TestDefectHeaderOffsetBypassesBuffer(t *testing.T) {
	dec := frameconn.DecoderConfig{ByteOrder: binary.BigEndian, LengthFieldOffset: 2, LengthFieldLength: 2, InitialBytesToStrip: 4}
	wire := []byte("H1\x00\x03oneH2\x00\x03two")
	read := func(fc interface{ ReadFrame() ([]byte, error) }) ([]string, error) {
		var got []string
		for range 2 {
			f, err := fc.ReadFrame()
			if err != nil {
				return got, err
			}
			got = append(got, string(f))
		}
		return got, nil
	}
	a, b := pipe(t)
	done := writeAsync(a, [][]byte{wire}, true)
	got, err := read(goframe.NewLengthFieldBasedFrameConn(goframe.EncoderConfig(enc4), gfDec(dec), b))
	if err == nil && slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("goframe's defect is gone? %q", got)
	}
	<-done
	a, b = pipe(t)
	done = writeAsync(a, [][]byte{wire}, true)
	got, err = read(frameconn.NewLengthFieldBasedFrameConn(enc4, dec, b))
	if err != nil || !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("frameconn: %q, %v", got, err)
	}
	<-done
}

// Defect 5: a negative adjusted length makes goframe panic (makeslice);
// frameconn returns an error.
func TestDefectNegativeLengthPanics(t *testing.T) {
	dec := frameconn.DecoderConfig{ByteOrder: binary.BigEndian, LengthFieldLength: 4, LengthAdjustment: -10}
	wire := []byte("\x00\x00\x00\x02hi")
	a, b := pipe(t)
	done := writeAsync(a, [][]byte{wire}, true)
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		_, _ = goframe.NewLengthFieldBasedFrameConn(goframe.EncoderConfig(enc4), gfDec(dec), b).ReadFrame()
		return false
	}()
	if !panicked {
		t.Fatal("goframe did not panic: defect gone?")
	}
	b.Close()
	<-done
	a, b = pipe(t)
	done = writeAsync(a, [][]byte{wire}, true)
	_, err := frameconn.NewLengthFieldBasedFrameConn(enc4, dec, b).ReadFrame()
	if !errors.Is(err, codec.ErrMalformed) || !errors.Is(err, frameconn.ErrTooLessLength) {
		t.Fatalf("frameconn: %v", err)
	}
	b.Close()
	<-done
}

// Where goframe is correct, the two interoperate in both directions.
func TestInteropWithGoframe(t *testing.T) {
	frames := []string{"", "a", "hello world", string(bytes.Repeat([]byte("z"), 5000))}
	type pair struct {
		name string
		g    func(net.Conn) goframe.FrameConn
		w    func(net.Conn) frameconn.FrameConn
		skip func(string) bool // frames goframe cannot carry
	}
	pairs := []pair{
		{"line", goframe.NewLineBasedFrameConn, frameconn.NewLineBasedFrameConn, nil},
		{"length field", func(c net.Conn) goframe.FrameConn {
			return goframe.NewLengthFieldBasedFrameConn(goframe.EncoderConfig(enc4), gfDec(dec4), c)
		}, func(c net.Conn) frameconn.FrameConn { return frameconn.NewLengthFieldBasedFrameConn(enc4, dec4, c) }, nil},
		{"fixed", func(c net.Conn) goframe.FrameConn { return goframe.NewFixedLengthFrameConn(5, c) },
			func(c net.Conn) frameconn.FrameConn { return frameconn.NewFixedLengthFrameConn(5, c) },
			func(f string) bool { return len(f) != 5 && len(f) != 5000 }},
	}
	for _, p := range pairs {
		for _, dir := range []string{"goframe to frameconn", "frameconn to goframe"} {
			t.Run(p.name+"/"+dir, func(t *testing.T) {
				a, b := pipe(t)
				var send func([]byte) error
				var recv func() ([]byte, error)
				if dir == "goframe to frameconn" {
					send, recv = p.g(a).WriteFrame, p.w(b).ReadFrame
				} else {
					send, recv = p.w(a).WriteFrame, p.g(b).ReadFrame
				}
				for _, f := range frames {
					if p.skip != nil && p.skip(f) {
						continue
					}
					errc := make(chan error, 1)
					go func() { errc <- send([]byte(f)) }()
					want := []string{f}
					if p.name == "fixed" && len(f) == 5000 {
						want = slices.Repeat([]string{"zzzzz"}, 1000)
					}
					for _, w := range want {
						got, err := recv()
						if err != nil || string(got) != w {
							t.Fatalf("frame of %d bytes: got %d bytes, %v", len(w), len(got), err)
						}
					}
					if err := <-errc; err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

// An invalid configuration fails every WriteFrame and ReadFrame with
// ErrConfig and goframe's sentinel, naming the config and field at fault.
func TestInvalidConfigNamesField(t *testing.T) {
	a, b := pipe(t)
	fc := frameconn.NewLengthFieldBasedFrameConn(frameconn.EncoderConfig{LengthFieldLength: 5}, frameconn.DecoderConfig{LengthFieldLength: 6}, a)
	err := fc.WriteFrame([]byte("x"))
	if !errors.Is(err, frameconn.ErrUnsupportedLength) || !errors.Is(err, codec.ErrConfig) || !strings.Contains(err.Error(), "EncoderConfig.LengthFieldLength 5") {
		t.Fatalf("WriteFrame: %v, want ErrConfig and ErrUnsupportedLength naming EncoderConfig.LengthFieldLength 5", err)
	}
	go func() { _, _ = b.Write([]byte("12345678")) }()
	_, err = fc.ReadFrame()
	if !errors.Is(err, frameconn.ErrUnsupportedLength) || !errors.Is(err, codec.ErrConfig) || !strings.Contains(err.Error(), "DecoderConfig.LengthFieldLength 6") {
		t.Fatalf("ReadFrame: %v, want ErrConfig and ErrUnsupportedLength naming DecoderConfig.LengthFieldLength 6", err)
	}
	if fc.Conn() != a || fc.Close() != nil {
		t.Fatal("Conn/Close")
	}
}
