package frameconn_test

import (
	"encoding/binary"
	"testing"

	"github.com/weftkit/weft/codec/codectest"
	"github.com/weftkit/weft/codec/frameconn"
)

// FuzzLengthField fuzzes the Netty-style decoder with a header offset, a
// negative adjustment and bytes stripped.
func FuzzLengthField(f *testing.F) {
	for i, w := range []string{"HH\x00\x05abc", "HH\x00\x02", "\x00\x00\xff\xff", "HH\x00\x03abcHH\x00\x02a"} {
		f.Add([]byte(w), uint64(i))
	}
	c := frameconn.LengthField{
		Encoder: frameconn.EncoderConfig{ByteOrder: binary.BigEndian, LengthFieldLength: 2, LengthIncludesLengthFieldLength: true},
		Decoder: frameconn.DecoderConfig{ByteOrder: binary.BigEndian, LengthFieldOffset: 2, LengthFieldLength: 2,
			LengthAdjustment: -2, InitialBytesToStrip: 4, MaxFrameLength: 256},
	}
	f.Fuzz(func(t *testing.T, wire []byte, seed uint64) {
		// Decoding only: this decoder's frames (header stripped) are not what
		// its encoder takes, so codectest.Fuzz's re-encoding check does not
		// apply; chunking invariance and no panic do.
		whole := codectest.Decode(c, [][]byte{wire})
		bytewise := codectest.Decode(c, codectest.Chunks(wire, 1, nil))
		if len(whole.Frames) != len(bytewise.Frames) || (whole.Err == nil) != (bytewise.Err == nil) {
			t.Fatalf("chunking changed the result: %d frames %v vs %d frames %v",
				len(whole.Frames), whole.Err, len(bytewise.Frames), bytewise.Err)
		}
		for i := range whole.Frames {
			if string(whole.Frames[i]) != string(bytewise.Frames[i]) {
				t.Fatalf("frame %d differs", i)
			}
		}
	})
}
