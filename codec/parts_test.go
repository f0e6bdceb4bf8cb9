package codec

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestFramePartsMatchAppendFrame: for the built-in codecs, the header and
// trailer that SendFrame writes around a payload (frameParts) are exactly what
// AppendFrame would produce, and every payload AppendFrame refuses is refused
// with the same error class.
func TestFramePartsMatchAppendFrame(t *testing.T) {
	codecs := []Codec{
		Netstring{}, Netstring{MaxLength: 100},
		Line{}, Line{MaxLength: 50}, Line{Delimiter: []byte("\r\n")},
		LengthPrefix{Size: 1}, LengthPrefix{Size: 2, LittleEndian: true},
		LengthPrefix{Size: 3}, LengthPrefix{Size: 4, IncludesHeader: true},
		LengthPrefix{Size: 8, LittleEndian: true, IncludesHeader: true},
		LengthPrefix{Size: 5}, // invalid: both must refuse it
	}
	rng := rand.New(rand.NewPCG(1, 2))
	payloads := [][]byte{nil, {}, []byte("x"), []byte("a\nb"), []byte("tail\r"), bytes.Repeat([]byte("y"), 255), bytes.Repeat([]byte("z"), 300)}
	for range 50 {
		p := make([]byte, rng.IntN(2000))
		for i := range p {
			p[i] = byte(rng.IntN(256))
		}
		payloads = append(payloads, p)
	}
	for _, c := range codecs {
		if _, _, _, builtin, _ := builtinParts(c, new([24]byte), nil); !builtin {
			t.Fatalf("%#v: built-in codec not split by builtinParts", c)
		}
		for _, p := range payloads {
			want, werr := c.AppendFrame(nil, p)
			var hdr [24]byte
			n, tail, split, _, err := builtinParts(c, &hdr, p)
			head := hdr[:n]
			switch {
			case werr != nil:
				if err == nil && split {
					t.Errorf("%#v, %d bytes: AppendFrame refused (%v), frameParts did not", c, len(p), werr)
				}
				for _, class := range []error{ErrFrameTooLarge, ErrDelimiter, ErrConfig} {
					if err != nil && errors.Is(werr, class) != errors.Is(err, class) {
						t.Errorf("%#v: AppendFrame %v, frameParts %v", c, werr, err)
					}
				}
			case err != nil:
				t.Errorf("%#v, %d bytes: frameParts refused (%v), AppendFrame did not", c, len(p), err)
			case split:
				got := append(append(append([]byte(nil), head...), p...), tail...)
				if !bytes.Equal(got, want) {
					t.Errorf("%#v, %d bytes: parts give %q..., AppendFrame %q...", c, len(p), got[:min(len(got), 12)], want[:min(len(want), 12)])
				}
			}
		}
	}
}
