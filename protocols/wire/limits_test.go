package wire_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/protocols/wire"
)

// TestFramedEchoAtLimits: for every codec and its limits (the defaults and
// set ones, each length-prefix size and option), a frame of exactly the
// limit, an empty one and a one-byte one are echoed byte for byte in the
// same framing, and then a frame one byte over the limit ends the
// connection with codec.ErrFrameTooLarge, after the echo of the frame
// before it (where the length field can say limit+1). The echo's own
// framing never refuses what the decoder accepted.
func TestFramedEchoAtLimits(t *testing.T) {
	tests := []struct {
		name  string
		c     codec.Codec
		limit int
	}{
		{"line default", codec.Line{}, codec.DefaultMaxLineLength},
		{"line 10", codec.Line{MaxLength: 10}, 10},
		{"line delimiter", codec.Line{Delimiter: []byte("\x00\xff"), MaxLength: 100}, 100},
		{"line delimiter CRLF", codec.Line{Delimiter: []byte("\r\n"), MaxLength: 7}, 7},
		{"netstring default", codec.Netstring{}, codec.DefaultMaxFrameLength},
		{"netstring 9", codec.Netstring{MaxLength: 9}, 9},
		{"netstring 10", codec.Netstring{MaxLength: 10}, 10},
		{"int8", codec.Int8(), 255},
		{"int8 includes header", codec.LengthPrefix{Size: 1, IncludesHeader: true}, 254},
		{"int16", codec.Int16(), 65535},
		{"int16 little endian", codec.LengthPrefix{Size: 2, LittleEndian: true}, 65535},
		{"int16 includes header", codec.LengthPrefix{Size: 2, IncludesHeader: true}, 65533},
		{"int24", codec.LengthPrefix{Size: 3, MaxLength: 70000}, 70000},
		{"int32 default", codec.Int32(), codec.DefaultMaxFrameLength},
		{"int32 includes header 300", codec.LengthPrefix{Size: 4, IncludesHeader: true, MaxLength: 300}, 300},
		{"int64 little endian", codec.LengthPrefix{Size: 8, LittleEndian: true, MaxLength: 1000}, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			big := bytes.Repeat([]byte("x"), tc.limit)
			var in, want []byte
			for _, p := range [][]byte{{}, []byte("y"), big} {
				f, err := tc.c.AppendFrame(nil, p)
				if err != nil {
					t.Fatalf("AppendFrame(%d bytes): %v", len(p), err)
				}
				in, want = append(in, f...), append(want, f...)
			}
			if _, err := tc.c.AppendFrame(nil, append(big, 'z')); !errors.Is(err, codec.ErrFrameTooLarge) {
				t.Fatalf("AppendFrame(limit+1) = %v, want ErrFrameTooLarge", err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan error, 1)
			go func() {
				s, err := ln.Accept()
				if err != nil {
					served <- err
					return
				}
				served <- weft.Serve(s, wire.FramedEcho{Codec: tc.c}.BuildProtocol(nil), nil)
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			go func() { _, _ = c.Write(in) }()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("client read %v, want the %d bytes of the three frames echoed", err, len(want))
			}
			_ = c.(*net.TCPConn).CloseWrite()
			if rest, err := io.ReadAll(c); len(rest) != 0 || err != nil {
				t.Errorf("after the echoes: %q, %v; want the end of stream", rest, err)
			}
			if err := <-served; err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}

			// One byte over the limit, framed by a codec with room for it,
			// after a frame at the limit: the frame is echoed, then the
			// connection ends with ErrFrameTooLarge. (Over a pipe: over TCP
			// the close, with the big frame unread, resets the connection
			// and may discard echoes the client has not read yet.)
			over := overLimit(t, tc.c, len(big)+1)
			if over == nil {
				return
			}
			f, _ := tc.c.AppendFrame(nil, big)
			pc, ps := net.Pipe()
			defer pc.Close()
			done := make(chan error, 1)
			go func() { done <- weft.Serve(ps, wire.FramedEcho{Codec: tc.c}.BuildProtocol(nil), nil) }()
			go func() { _, _ = pc.Write(append(f, over...)) }()
			if got := readAll(t, pc); !bytes.Equal(got, f) {
				t.Errorf("before the refused frame the client read %d bytes, want the %d of the frame at the limit", len(got), len(f))
			}
			if err := <-done; !errors.Is(err, codec.ErrFrameTooLarge) {
				t.Errorf("Serve = %v, want ErrFrameTooLarge", err)
			}
		})
	}
}

// overLimit frames a payload of n bytes in c's wire form, one byte over
// c's limit (which AppendFrame would refuse), or returns nil when c's length
// field cannot express n (the limit is the field's).
func overLimit(t *testing.T, c codec.Codec, n int) []byte {
	t.Helper()
	p := bytes.Repeat([]byte("x"), n)
	var wider codec.Codec
	switch c := c.(type) {
	case codec.Line:
		c.MaxLength = n
		wider = c
	case codec.Netstring:
		c.MaxLength = n
		wider = c
	case codec.LengthPrefix:
		field := n // the length field's value for a payload of n bytes
		if c.IncludesHeader {
			field += c.Size
		}
		if c.Size < 8 && field > 1<<(8*c.Size)-1 {
			return nil // the length field cannot say n: no frame is over the limit
		}
		c.MaxLength = n
		wider = c
	default:
		t.Fatalf("no wider codec for %T", c)
	}
	f, err := wider.AppendFrame(nil, p)
	if err != nil {
		t.Fatalf("wider AppendFrame(%d): %v", n, err)
	}
	return f
}
